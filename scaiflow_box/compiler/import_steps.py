"""Best-effort conversion of hand-written manifest steps into FlowGraph nodes.

Used by ``importer`` for manifests this compiler did not write (or steps
without ``meta``). The step vocabulary is the one ``manifest.py`` emits
(docs/compiler.md, "Step mapping"); anything else is kept verbatim in
``metadata.unknown_steps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from scaiflow_box.compiler.kinds import COMPUTE_METHODS, ENTRY_OUTPUT_PORT

Json = dict[str, Any]
LAYOUT_SPACING: Final = 120
TRIGGER_KINDS: Final = {
    "api": "entry_api",
    "webhook": "entry_webhook",
    "schedule": "entry_schedule",
}
COMPUTE_BY_METHOD: Final = {method: kind for kind, method in COMPUTE_METHODS.items()}
_QUEUE_STEPS: Final = {
    "queue_publish": "queue_publish",
    "queue_consume": "queue_consume",
    "queue_escalate": "queue_escalation",
}
_LLM_STEP_KEYS: Final = frozenset(
    {
        "llm_turn",
        "rigid",
        "guarded",
        "guard",
        "role",
        "model",
        "fallback",
        "next",
        "meta",
        "id",
        "label",
    }
)
_LABELS: Final = {
    "entry_api": "API entry",
    "entry_webhook": "Webhook entry",
    "entry_schedule": "Schedule entry",
    "llm_rigid": "Fixed reply",
    "llm_guarded": "Guarded LLM turn",
    "llm_flexible": "LLM turn",
    "logic_decision": "Decision",
    "logic_loop": "Loop",
    "logic_parallel": "Parallel",
    "tool_plugin": "Plugin call",
    "tool_http": "HTTP call",
    "data_variable_set": "Set variables",
    "checkpoint": "Checkpoint",
    "queue_publish": "Publish to queue",
    "queue_consume": "Consume from queue",
    "queue_escalation": "Escalate",
    "hitl_review": "Human review",
    "hitl_decision": "Human decision",
    "subflow_call": "Subflow",
}


@dataclass
class Routing:
    """Where control goes after a step, as (target id, source port, condition)."""

    explicit: list[tuple[str, str, str | None]] = field(default_factory=list)
    has_next: bool = False


@dataclass
class Converted:
    kind: str
    config: Json
    routing: Routing


def entry_from_trigger(trigger: Json) -> Converted | None:
    kind = TRIGGER_KINDS.get(str(trigger.get("type")))
    if kind is None:
        return None
    config = {k: v for k, v in trigger.items() if k not in ("type", "entry_node")}
    return Converted(kind, config, Routing())


def default_label(kind: str, config: Json) -> str:
    if kind == "tool_plugin" and config.get("plugin") and config.get("method"):
        return f"{config['plugin']}.{config['method']}"
    return _LABELS.get(kind, kind.replace("_", " ").capitalize())


def out_port(kind: str) -> str:
    return ENTRY_OUTPUT_PORT.get(kind, "out")


def _dict(value: object) -> Json:
    return dict(value) if isinstance(value, dict) else {}


def _llm(step: Json) -> Converted:
    text = step.get("llm_turn")
    extra = {k: v for k, v in step.items() if k not in _LLM_STEP_KEYS}
    if step.get("rigid") is True:
        return Converted("llm_rigid", {"template": text, **extra}, Routing())
    config: Json = {"goal": text}
    kind = "llm_flexible"
    if step.get("guarded") is True or step.get("guard") is not None:
        kind = "llm_guarded"
        if step.get("guard") is not None:
            config["guard"] = step["guard"]
    if isinstance(step.get("role"), str):
        config["llm_role"] = step["role"]
    return Converted(kind, {**config, **extra}, Routing())


def _plugin(step: Json) -> Converted:
    call = _dict(step.get("plugin_call"))
    alias, method, args = call.get("alias"), call.get("method"), _dict(call.get("args"))
    if alias == "scaibunker" and method in COMPUTE_BY_METHOD:
        kind = COMPUTE_BY_METHOD[str(method)]
        if kind == "compute_provision":
            bunker = _dict(step.get("bunker")) or {
                k: args.pop(k) for k in ("lifecycle", "image") if k in args
            }
            args = {k: v for k, v in args.items() if k not in bunker}
            if bunker:
                args["bunker"] = bunker
        return Converted(kind, args, Routing())
    return Converted("tool_plugin", {"plugin": alias, "method": method, "args": args}, Routing())


def _loop(step: Json) -> Converted:
    loop = _dict(step.get("loop"))
    routing = Routing()
    for key, port in (("body", "out_body"), ("done", "out_done")):
        target = loop.pop(key, None)
        if isinstance(target, str):
            routing.explicit.append((target, port, None))
    return Converted("logic_loop", loop, routing)


def _decision(step: Json) -> Converted:
    decision = _dict(step.get("decision"))
    decision.pop("strategy", None)
    routing = Routing()
    branches = decision.pop("branches", None)
    if isinstance(branches, list):
        for branch in branches:
            if isinstance(branch, dict) and isinstance(branch.get("goto"), str):
                when = branch.get("when")
                routing.explicit.append(
                    (branch["goto"], "out", when if isinstance(when, str) else None)
                )
    default = decision.pop("default", None)
    if isinstance(default, str):
        routing.explicit.append((default, "out", None))
    return Converted("logic_decision", decision, routing)


def _parallel(step: Json) -> Converted:
    parallel = _dict(step.get("parallel"))
    routing = Routing()
    branches = parallel.pop("branches", None)
    if isinstance(branches, list):
        routing.explicit.extend((b, "out", None) for b in branches if isinstance(b, str))
    if parallel.get("join") is None:
        parallel.pop("join", None)
    return Converted("logic_parallel", parallel, routing)


def _checkpoint(step: Json) -> Converted:
    config = _dict(step.get("checkpoint"))
    kind = config.get("type")
    if kind == "hitl_review":
        config.pop("type")
        return Converted("hitl_review", config, Routing())
    if kind == "hitl_decision":
        config.pop("type")
        if "decision_type" in config:
            config["type"] = config.pop("decision_type")
        return Converted("hitl_decision", config, Routing())
    return Converted("checkpoint", config, Routing())


def convert_step(step: object) -> Converted | None:
    """The node a step stands for, or None for an unknown step."""
    if not isinstance(step, dict):
        return None
    converted: Converted | None = None
    if isinstance(step.get("entry"), dict):
        converted = entry_from_trigger(step["entry"])
    elif "llm_turn" in step:
        converted = _llm(step)
    elif isinstance(step.get("plugin_call"), dict):
        converted = _plugin(step)
    elif isinstance(step.get("http_call"), dict):
        converted = Converted("tool_http", dict(step["http_call"]), Routing())
    elif isinstance(step.get("set_variables"), list):
        converted = Converted(
            "data_variable_set", {"assignments": step["set_variables"]}, Routing()
        )
    elif "decision" in step:
        converted = _decision(step)
    elif isinstance(step.get("loop"), dict):
        converted = _loop(step)
    elif isinstance(step.get("parallel"), dict):
        converted = _parallel(step)
    elif isinstance(step.get("checkpoint"), dict):
        converted = _checkpoint(step)
    elif isinstance(step.get("subflow"), dict):
        converted = Converted("subflow_call", dict(step["subflow"]), Routing())
    else:
        for key, kind in _QUEUE_STEPS.items():
            if isinstance(step.get(key), dict):
                converted = Converted(kind, dict(step[key]), Routing())
                break
    if converted is None:
        return None
    nxt = step.get("next")
    if isinstance(nxt, list):
        converted.routing.has_next = True
        for item in nxt:
            if isinstance(item, dict) and isinstance(item.get("to"), str):
                when = item.get("when")
                port = out_port(converted.kind)
                if converted.kind == "logic_loop":
                    continue  # body/done already give the loop's routing with ports
                converted.routing.explicit.append(
                    (item["to"], port, when if isinstance(when, str) else None)
                )
    return converted


class StepBuilder:
    """Nodes and edges of a best-effort import."""

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings
        self.nodes: list[Json] = []
        self.edges: list[Json] = []
        self.ids: set[str] = set()
        self.unknown: list[Any] = []
        self._edge_keys: set[tuple[str, str, str, str | None]] = set()

    def unique_id(self, wanted: object, fallback: str) -> str:
        base = wanted if isinstance(wanted, str) and wanted.strip() else fallback
        candidate, n = base, 2
        while candidate in self.ids:
            candidate, n = f"{base}_{n}", n + 1
        self.ids.add(candidate)
        return candidate

    def add_node(self, converted: Converted, wanted_id: object, label: object) -> str:
        node_id = self.unique_id(wanted_id, f"node_{len(self.nodes) + 1}")
        self.nodes.append(
            {
                "id": node_id,
                "type": converted.kind,
                "label": label
                if isinstance(label, str)
                else default_label(converted.kind, converted.config),
                "position": {"x": 0, "y": len(self.nodes) * LAYOUT_SPACING},
                "config": converted.config,
            }
        )
        return node_id

    def add_edge(self, source: str, port: str, target: str, condition: str | None) -> None:
        key = (source, port, target, condition)
        if key in self._edge_keys:
            return
        self._edge_keys.add(key)
        edge: Json = {
            "id": self.unique_id(f"edge_{len(self.edges) + 1}", "edge"),
            "type": "conditional" if condition is not None else "sequential",
            "source": {"node": source, "port": port},
            "target": {"node": target, "port": "in"},
        }
        if condition is not None:
            edge["condition"] = condition
        self.edges.append(edge)

    def convert(self, steps: list[Any], triggers: list[Json], known_ids: set[str]) -> None:
        entries: list[tuple[str, str]] = []
        has_entry_steps = any(
            isinstance(s, dict) and isinstance(s.get("entry"), dict) for s in steps
        )
        for trigger in [] if has_entry_steps else triggers:
            converted = entry_from_trigger(trigger)
            if converted is None:
                self.warnings.append(
                    f"trigger of type {trigger.get('type')!r} is not known; skipped"
                )
                continue
            entries.append(
                (self.add_node(converted, trigger.get("entry_node"), None), converted.kind)
            )
        placed: list[tuple[str, Converted]] = []
        for n, step in enumerate(steps, start=1):
            converted = convert_step(step)
            if converted is None:
                self.unknown.append(step)
                what = (
                    next(iter(step), "?")
                    if isinstance(step, dict) and step
                    else type(step).__name__
                )
                self.warnings.append(
                    f"step {n}: unknown step {what!r} kept in metadata.unknown_steps"
                )
                continue
            if not isinstance(step, dict):  # convert_step converts dicts only
                raise TypeError(f"step {n} is not a mapping")
            meta = step["meta"] if isinstance(step.get("meta"), dict) else {}
            wanted = step.get("id", meta.get("node_id"))
            node_id = self.add_node(converted, wanted, step.get("label", meta.get("node_label")))
            placed.append((node_id, converted))
        resolvable = self.ids | known_ids
        if placed:
            for entry_id, kind in entries:
                self.add_edge(entry_id, out_port(kind), placed[0][0], None)
        for position, (node_id, converted) in enumerate(placed):
            routing = converted.routing
            for target, port, condition in routing.explicit:
                if target in resolvable:
                    self.add_edge(node_id, port, target, condition)
                else:
                    self.warnings.append(
                        f"step {node_id!r}: 'next' names no step ({target!r}); edge dropped"
                    )
            if not routing.has_next and not routing.explicit and position + 1 < len(placed):
                self.add_edge(node_id, out_port(converted.kind), placed[position + 1][0], None)
