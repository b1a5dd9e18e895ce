"""FlowGraph -> ScaiCore manifest (SPEC §5.3): the data the emitters serialize.

Every node becomes one step (mapping in docs/compiler.md) carrying ``meta`` with
everything needed to rebuild the node, and ``core.scaiflow_meta.graph`` holds
the rest of the FlowGraph (edges, variables, tests, metadata, config, unknown
keys) verbatim, so ``importer.import_manifest`` gives back the identical
FlowGraph. Steps are listed in control-flow order; ``next`` on every step names
its successors explicitly, so a runtime never depends on list order.
"""

from __future__ import annotations

from typing import Any, Final

from scaiflow_box.compiler.graph import FlowIndex, build_index, control_order, loop_body_port
from scaiflow_box.compiler.kinds import (
    COMPUTE_KINDS,
    COMPUTE_METHODS,
    DEFAULT_BUNKER,
    ENTRY_KINDS,
)
from scaiflow_box.compiler.naming import slugify
from scaiflow_box.compiler.schema import FlowDict, NodeDict

DEFAULT_TARGET: Final = "0.2"
NODE_FIELDS: Final = ("id", "type", "label", "position", "config", "inputs", "outputs")
TRIGGER_TYPES: Final = {
    "entry_api": "api",
    "entry_webhook": "webhook",
    "entry_schedule": "schedule",
}
_LLM_KEYS: Final = ("goal", "llm_role", "model", "guard", "template")
_STEP_RESERVED: Final = frozenset(
    {"llm_turn", "rigid", "guarded", "guard", "role", "model", "fallback", "next", "meta"}
)

Json = dict[str, Any]


class _Context:
    def __init__(self, content: FlowDict, index: FlowIndex) -> None:
        self.index = index
        config = content.get("config") or {}
        identity = config.get("core_identity") or {}
        self.models: list[Json] = identity.get("models") or []
        self.by_role = {m["role"]: m for m in self.models}
        if self.models:
            self.by_role.setdefault("primary", self.models[0])
        scaiqueue = config.get("scaiqueue") or {}
        self.scope: str | None = scaiqueue.get("scope")
        bunker = {**DEFAULT_BUNKER, **(config.get("bunker") or {})}
        self.bunker: Json = {key: _as_int(value) for key, value in bunker.items()}


def _as_int(value: Any) -> Any:
    """An integral float (content may say ``5.0`` where an integer is due, as JSON Schema
    allows) written as the integer the runtime expects."""
    return int(value) if type(value) is float and value.is_integer() else value


def _model_ref(entry: Json) -> str:
    return f"{entry['ref']}/{entry['model']}"


def _entry(node: NodeDict) -> Json:
    config = node.get("config") or {}
    fields = {k: v for k, v in config.items() if k not in ("type", "entry_node")}
    return {"type": TRIGGER_TYPES[node["type"]], **fields}


def _trigger(node: NodeDict) -> Json:
    return {**_entry(node), "entry_node": node["id"]}


def _llm_step(node: NodeDict, ctx: _Context) -> Json:
    config = node.get("config") or {}
    kind = node["type"]
    if kind == "llm_rigid":
        step: Json = {"llm_turn": config.get("template", ""), "rigid": True}
    else:
        step = {"llm_turn": config.get("goal", "")}
        if kind == "llm_guarded":
            step["guarded"] = True
            if config.get("guard") is not None:
                step["guard"] = config["guard"]
        role = config.get("llm_role") or config.get("model") or "primary"
        step["role"] = role
        entry = ctx.by_role.get(role)
        if entry is not None:
            step["model"] = _model_ref(entry)
            if entry.get("fallback"):
                step["fallback"] = [_model_ref(f) for f in entry["fallback"]]
    for key, value in config.items():
        if key not in _LLM_KEYS and key not in _STEP_RESERVED:
            step[key] = value
    return step


def _edge_target(index: FlowIndex, node_id: str, port: str | None) -> str | None:
    edges = index.edges
    for i in index.control_out.get(node_id, ()):
        if edges[i]["source"]["port"] == port:
            return edges[i]["target"]["node"]
    return None


def _loop_step(node: NodeDict, ctx: _Context) -> Json:
    config = node.get("config") or {}
    body_port = loop_body_port(node)
    done = None
    edges = ctx.index.edges
    for i in ctx.index.control_out.get(node["id"], ()):
        if edges[i]["source"]["port"] != body_port:
            done = edges[i]["target"]["node"]
            break
    loop: Json = {**config, "style": config.get("style") or "foreach"}
    loop["body"] = _edge_target(ctx.index, node["id"], body_port)
    loop["done"] = done
    return {"loop": loop}


def _scoped(node: NodeDict, ctx: _Context, extra: Json) -> Json:
    config = node.get("config") or {}
    return {**extra, **config, "scope": config.get("scope") or ctx.scope}


def _compute_step(node: NodeDict, ctx: _Context) -> Json:
    config = node.get("config") or {}
    kind = node["type"]
    bunker = (
        {**ctx.bunker, **(config.get("bunker") or {})}
        if kind == "compute_provision"
        else ctx.bunker
    )
    args = {k: v for k, v in config.items() if k != "bunker"}
    if kind == "compute_provision":
        args = {**bunker, **args}
    return {
        "plugin_call": {"alias": "scaibunker", "method": COMPUTE_METHODS[kind], "args": args},
        "bunker": bunker,
    }


def _step_body(node: NodeDict, ctx: _Context) -> Json:
    kind = node["type"]
    config: Json = node.get("config") or {}
    if kind in ENTRY_KINDS:
        return {"entry": _entry(node)}
    if kind.startswith("llm_"):
        return _llm_step(node, ctx)
    if kind == "logic_decision":
        return {"decision": {"strategy": "first_match", **config}}
    if kind == "logic_loop":
        return _loop_step(node, ctx)
    if kind == "logic_parallel":
        branches = list(ctx.index.successors(node["id"]))
        return {"parallel": {**config, "branches": branches, "join": config.get("join")}}
    if kind == "tool_plugin":
        return {
            "plugin_call": {
                "alias": config.get("plugin"),
                "method": config.get("method"),
                "args": config.get("args") or {},
            }
        }
    if kind == "tool_http":
        return {"http_call": {**config, "method": str(config.get("method") or "GET").upper()}}
    if kind == "data_variable_set":
        return {"set_variables": config.get("assignments") or []}
    if kind == "checkpoint":
        return {"checkpoint": {**config, "type": config.get("type") or "approval"}}
    if kind == "hitl_review":
        return {"checkpoint": _scoped(node, ctx, {"type": "hitl_review"}) | {"type": "hitl_review"}}
    if kind == "hitl_decision":
        payload = {k: v for k, v in config.items() if k != "type"}
        if config.get("type") is not None:
            payload["decision_type"] = config["type"]
        return {"checkpoint": {"type": "hitl_decision", **payload}}
    if kind == "queue_publish":
        return {"queue_publish": _scoped(node, ctx, {})}
    if kind == "queue_consume":
        return {"queue_consume": _scoped(node, ctx, {})}
    if kind == "queue_escalation":
        return {"queue_escalate": _scoped(node, ctx, {})}
    if kind in COMPUTE_KINDS:
        return _compute_step(node, ctx)
    return {"subflow": dict(config)}  # subflow_call


def _meta(node: NodeDict, position: int) -> Json:
    meta: Json = {
        "node_id": node["id"],
        "node_kind": node["type"],
        "node_label": node["label"],
        "node_index": position,
        "position": node["position"],
    }
    if "config" in node:
        meta["node_config"] = node["config"]
    if "inputs" in node:
        meta["inputs"] = node["inputs"]
    if "outputs" in node:
        meta["outputs"] = node["outputs"]
    extra = {k: v for k, v in node.items() if k not in NODE_FIELDS}
    if extra:
        meta["extra"] = extra
    return meta


def _next(index: FlowIndex, node_id: str) -> list[Json]:
    edges = index.edges
    out = []
    for i in index.control_out.get(node_id, ()):
        edge = edges[i]
        item: Json = {"to": edge["target"]["node"], "edge": edge["id"]}
        if edge["type"] == "conditional":
            item["when"] = edge.get("condition")
        out.append(item)
    return out


def _plugins(config: Json, index: FlowIndex) -> list[Any]:
    plugins: list[Any] = []
    aliases: set[str] = set()
    for item in config.get("plugins") or []:
        if isinstance(item, str):
            item = {"alias": item}
        if isinstance(item, dict) and isinstance(item.get("alias"), str):
            aliases.add(item["alias"])
            item = {
                "alias": item["alias"],
                "endpoint": item.get("endpoint") or f"plugin://{item['alias']}",
                **{k: v for k, v in item.items() if k not in ("alias", "endpoint")},
            }
        plugins.append(item)
    for node in index.nodes:
        kind = node["type"]
        alias = (node.get("config") or {}).get("plugin") if kind == "tool_plugin" else None
        if kind in COMPUTE_KINDS:
            alias = "scaibunker"
        if isinstance(alias, str) and alias not in aliases:
            aliases.add(alias)
            plugins.append({"alias": alias, "endpoint": f"plugin://{alias}"})
    return plugins


def _capabilities(config: Json, index: FlowIndex, bunker: Json) -> list[Any]:
    capabilities = list(config.get("capabilities") or [])
    has_bunker = any(isinstance(c, dict) and "bunker" in c for c in capabilities)
    needs_bunker = config.get("bunker") is not None or any(
        n["type"] in COMPUTE_KINDS for n in index.nodes
    )
    if needs_bunker and not has_bunker:
        capabilities.append({"bunker": bunker})
    return capabilities


def _scaiqueue(config: Json) -> Json | None:
    scaiqueue = config.get("scaiqueue")
    if scaiqueue is None:
        return None
    queues = [
        {
            **q,
            "consumer_mode": q.get("consumer_mode") or "fifo",
            "max_retries": _as_int(q["max_retries"]) if q.get("max_retries") is not None else 5,
        }
        for q in scaiqueue.get("queues") or []
    ]
    return {**scaiqueue, "queues": queues}


def build_manifest(content: FlowDict) -> Json:
    """The manifest of structurally valid, error-free content."""
    index = build_index(content)
    ctx = _Context(content, index)
    config: Json = content.get("config") or {}
    identity = config.get("core_identity") or {}
    slug = slugify(content["name"])
    position_of = {node["id"]: i for i, node in enumerate(index.nodes)}
    steps = []
    for node_id in control_order(index):
        node = index.node(node_id)
        step = _step_body(node, ctx)
        step["next"] = _next(index, node_id)
        step["meta"] = _meta(node, position_of[node_id])
        steps.append(step)
    triggers = [_trigger(index.node(node_id)) for node_id in index.entries]
    flow: Json = {"name": slug, "trigger": triggers[0] if triggers else None}
    if len(triggers) > 1:
        flow["additional_triggers"] = triggers[1:]
    flow["steps"] = steps

    core: Json = {
        "name": slug,
        "mode": "stateless",
        "runtime_version": content.get("scaicore_target") or DEFAULT_TARGET,
        "identity": {"provider": "scaikey", "persona": identity.get("name") or content["name"]},
    }
    if ctx.models:
        core["model"] = _model_ref(ctx.models[0])
    plugins = _plugins(config, index)
    if plugins:
        core["plugins"] = plugins
    capabilities = _capabilities(config, index, ctx.bunker)
    if capabilities:
        core["capabilities"] = capabilities
    scaiqueue = _scaiqueue(config)
    if scaiqueue is not None:
        core["scaiqueue"] = scaiqueue
    core["flows"] = [flow]
    core["scaiflow_meta"] = {
        "source_id": content["id"],
        "source_version": content["version"],
        "scaicore_target": core["runtime_version"],
        "publish_as_model": bool(config.get("publish_as_model")),
        "model_visibility_group_ids": config.get("model_visibility_group_ids") or [],
        "models": ctx.models,
        "graph": {k: v for k, v in content.items() if k != "nodes"},
    }
    return {"core": core}
