"""Analyzer rules for the model registry and the LLM roles nodes ask for."""

from __future__ import annotations

from typing import Any

from scaiflow_box.compiler.analyze_support import NodeContext, Out, config_loc, require
from scaiflow_box.compiler.diagnostics import error
from scaiflow_box.compiler.naming import ROLE_PATTERN
from scaiflow_box.compiler.schema import NodeDict


def check_model_registry(content: dict[str, Any], out: Out) -> None:
    config = content.get("config") or {}
    identity = config.get("core_identity") or {}
    models = identity.get("models")
    if models is None:
        return
    loc: list[str | int] = ["config", "core_identity", "models"]
    if not models:
        out.append(
            error(
                "models_empty", "config.core_identity.models must declare at least one model", loc
            )
        )
        return
    seen: set[str] = set()
    for i, model in enumerate(models):
        role = model["role"]
        role_loc = [*loc, i, "role"]
        if not ROLE_PATTERN.match(role):
            out.append(
                error(
                    "model_role_invalid",
                    f"model role {role!r} must match ^[a-z][a-z0-9_]*$",
                    role_loc,
                )
            )
        if role in seen:
            out.append(
                error(
                    "model_role_duplicate",
                    f"duplicate model role {role!r} in config.core_identity.models",
                    role_loc,
                )
            )
        seen.add(role)
        if role == "primary" and i > 0:
            out.append(
                error(
                    "model_primary_not_first",
                    "model role 'primary' must be the first entry of config.core_identity.models",
                    role_loc,
                )
            )
        for key in ("ref", "model"):
            if not model[key].strip():
                out.append(
                    error(
                        "model_field_empty",
                        f"model {role!r}: {key} must not be empty",
                        [*loc, i, key],
                    )
                )


def check_llm(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    config = node.get("config") or {}
    require(node, i, ("goal",), out)
    key = "llm_role" if config.get("llm_role") is not None else "model"
    role = config.get(key)
    node_id = node["id"]
    if role is not None:
        if role not in ctx.roles and not (role == "primary" and ctx.models):
            out.append(
                error(
                    "llm_role_undeclared",
                    f"llm_role validation failed: node {node_id!r}: "
                    f"llm_role={role!r} is not declared",
                    config_loc(i, key),
                    node_id=node_id,
                )
            )
    elif not ctx.models:
        out.append(
            error(
                "llm_no_models",
                f"llm_role validation failed: node {node_id!r}: no model is declared in "
                "config.core_identity.models",
                config_loc(i),
                node_id=node_id,
            )
        )
