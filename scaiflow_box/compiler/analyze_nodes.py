"""Analyzer rules about single nodes: dispatch by kind, config types, and the rules
for entries, templates, loops, variables, parallels and checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from scaiflow_box.compiler import expr
from scaiflow_box.compiler.analyze_calls import (
    check_compute,
    check_http,
    check_queue,
    check_subflow,
    check_tool_plugin,
)
from scaiflow_box.compiler.analyze_models import check_llm
from scaiflow_box.compiler.analyze_support import (
    NodeContext,
    Out,
    check_expression,
    check_template,
    config_loc,
    require,
    variable_name_ok,
)
from scaiflow_box.compiler.cron import cron_problem
from scaiflow_box.compiler.diagnostics import Diagnostic, error, json_path, warning
from scaiflow_box.compiler.kinds import COMPUTE_KINDS
from scaiflow_box.compiler.node_config import CONFIG_SPECS, HTTP_METHODS
from scaiflow_box.compiler.schema import NodeDict
from scaiflow_box.compiler.structure import check_object


def _entry(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    config = node.get("config") or {}
    method = config.get("method")
    if isinstance(method, str) and method.upper() not in HTTP_METHODS:
        out.append(
            error(
                "config_invalid",
                f"node {node['id']!r}: config.method {method!r} is not an HTTP method",
                config_loc(i, "method"),
                node_id=node["id"],
            )
        )
    path = config.get("path")
    if isinstance(path, str) and not path.startswith("/"):
        out.append(
            error(
                "config_invalid",
                f"node {node['id']!r}: config.path must start with '/'",
                config_loc(i, "path"),
                node_id=node["id"],
            )
        )


def _schedule(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    if not require(node, i, ("cron",), out):
        return
    problem = cron_problem((node.get("config") or {})["cron"])
    if problem is not None:
        out.append(
            error(
                "cron_invalid",
                f"node {node['id']!r}: config.cron {problem}",
                config_loc(i, "cron"),
                node_id=node["id"],
            )
        )


def _rigid(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    if require(node, i, ("template",), out):
        check_template(node, i, "template", out)


def _loop(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    config = node.get("config") or {}
    style = config.get("style") or "foreach"
    if style == "while":
        if config.get("max_iterations") is None:
            out.append(
                error(
                    "loop_missing_max_iterations",
                    "while loop missing max_iterations",
                    config_loc(i, "max_iterations"),
                    node_id=node["id"],
                )
            )
        check_expression(node, i, "condition", out, "condition")
    else:
        if config.get("items") is None:
            out.append(
                warning(
                    "loop_missing_items",
                    f"node {node['id']!r}: foreach loop has no config.items expression",
                    config_loc(i, "items"),
                    node_id=node["id"],
                )
            )
        check_expression(node, i, "items", out)
    item_var = config.get("item_var")
    if isinstance(item_var, str) and not variable_name_ok(item_var):
        out.append(
            error(
                "variable_name_invalid",
                f"node {node['id']!r}: config.item_var {item_var!r} is not a valid variable name",
                config_loc(i, "item_var"),
                node_id=node["id"],
            )
        )


def _variables(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    assignments = (node.get("config") or {}).get("assignments")
    if not assignments:
        out.append(
            warning(
                "assignments_empty",
                f"node {node['id']!r}: data_variable_set has no assignments",
                config_loc(i, "assignments"),
                node_id=node["id"],
            )
        )
        return
    for j, item in enumerate(assignments):
        name = item["name"]
        if not variable_name_ok(name):
            out.append(
                error(
                    "variable_name_invalid",
                    f"node {node['id']!r}: {name!r} is not a valid variable "
                    "name (letters, digits, '_'; not 'input' or 'nodes')",
                    config_loc(i, "assignments", j, "name"),
                    node_id=node["id"],
                )
            )
        has_value, has_expr = "value" in item, item.get("expr") is not None
        if has_value == has_expr:
            out.append(
                error(
                    "assignment_invalid",
                    f"node {node['id']!r}: assignment {name!r} needs exactly "
                    "one of 'value' or 'expr'",
                    config_loc(i, "assignments", j),
                    node_id=node["id"],
                )
            )
        elif has_expr:
            problem = expr.check_syntax(item["expr"])
            if problem is not None:
                out.append(
                    error(
                        "expression_invalid",
                        f"node {node['id']!r}: assignment {name!r}: expr does not parse: {problem}",
                        config_loc(i, "assignments", j, "expr"),
                        node_id=node["id"],
                    )
                )


def _parallel(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    join = (node.get("config") or {}).get("join")
    if isinstance(join, str) and join not in ctx.index.node_pos:
        out.append(
            error(
                "parallel_join_unknown",
                f"node {node['id']!r}: config.join names no node ({join!r})",
                config_loc(i, "join"),
                node_id=node["id"],
            )
        )


def _checkpoint(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    check_template(node, i, "prompt", out)


Rule = Callable[[NodeDict, int, NodeContext, Out], None]
_RULES: Final[dict[str, Rule]] = {
    "entry_api": _entry,
    "entry_webhook": _entry,
    "entry_schedule": _schedule,
    "llm_rigid": _rigid,
    "llm_guarded": check_llm,
    "llm_flexible": check_llm,
    "logic_loop": _loop,
    "logic_parallel": _parallel,
    "tool_plugin": check_tool_plugin,
    "tool_http": check_http,
    "data_variable_set": _variables,
    "checkpoint": _checkpoint,
    "queue_publish": check_queue,
    "queue_consume": check_queue,
    "queue_escalation": check_queue,
    "hitl_review": check_queue,
    "subflow_call": check_subflow,
    **{kind: check_compute for kind in COMPUTE_KINDS},
}


def check_nodes(ctx: NodeContext, out: Out) -> None:
    for i, node in enumerate(ctx.index.nodes):
        kind = node["type"]
        config = node.get("config")
        if config:
            problems = check_object(config, CONFIG_SPECS[kind], ("nodes", i, "config"))
            if problems:
                for item in problems:
                    sub = json_path(item["loc"][3:]).removeprefix("$").removeprefix(".")
                    out.append(
                        Diagnostic(
                            "error",
                            "config_invalid",
                            f"node {node['id']!r}: config.{sub}: {item['msg']}",
                            json_path(item["loc"]),
                            node["id"],
                            None,
                        )
                    )
                continue  # kind rules assume well-typed config
        rule = _RULES.get(kind)
        if rule is not None:
            rule(node, i, ctx, out)
