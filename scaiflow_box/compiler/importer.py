"""YAML manifest -> FlowGraph (``POST /flows/import``).

A manifest written by this compiler carries ``core.scaiflow_meta.graph`` and a
``meta`` block on every step; importing it gives back the identical FlowGraph.
Any other manifest is converted on a best-effort basis: known steps become
nodes (docs/compiler.md, "Step mapping"), unknown ones are kept in
``metadata.unknown_steps``, nodes are laid out 120 px apart, and every guess is
reported in the warnings.

Manifests in the compiler's own YAML dialect are read by ``yaml_reader``
(~4x faster than PyYAML, which constructs every node in Python); any other text
goes to PyYAML's safe loader (libyaml when available), whose document is copied
into plain JSON values under a budget, so alias bombs and self-referencing
anchors fail with ``ImportFailed`` instead of eating memory.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Final

import yaml

from scaiflow_box.compiler.errors import ImportFailed
from scaiflow_box.compiler.import_steps import LAYOUT_SPACING, StepBuilder
from scaiflow_box.compiler.schema import structural_errors
from scaiflow_box.compiler.yaml_reader import NotOurDialect, read_yaml

Json = dict[str, Any]
MAX_YAML_CHARS: Final = 8 * 1024 * 1024
MAX_VALUES: Final = 2_000_000
MAX_DEPTH: Final = 100
_META_FIELDS: Final = ("node_id", "node_kind", "node_label", "position")

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_VALUES


def _plain(value: Any, budget: _Budget, depth: int) -> Any:
    """A JSON copy of a loaded YAML value (dates become ISO strings)."""
    budget.left -= 1
    if budget.left < 0:
        raise ImportFailed("YAML document is too large once aliases are expanded")
    if depth > MAX_DEPTH:
        raise ImportFailed(f"YAML document is nested too deeply (limit {MAX_DEPTH})")
    if isinstance(value, dict):
        return {_key(k): _plain(v, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_plain(v, budget, depth + 1) for v in items]
    if isinstance(value, float) and not math.isfinite(value):
        raise ImportFailed(f"YAML value {value!r} is not a JSON number")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        raise ImportFailed("binary YAML values are not supported")
    return value


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, dt.date | dt.datetime):
        return key.isoformat()
    if isinstance(key, int | float):
        return str(key)
    raise ImportFailed(f"YAML mapping key of type {type(key).__name__} is not supported")


def load_yaml(text: str) -> Any:
    if not isinstance(text, str):
        raise ImportFailed("the manifest must be YAML text")
    if len(text) > MAX_YAML_CHARS:
        raise ImportFailed(f"the manifest is larger than {MAX_YAML_CHARS} characters")
    try:
        return read_yaml(text)  # plain JSON values already, within the same limits
    except NotOurDialect:
        pass
    try:
        loaded = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ImportFailed(f"invalid YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise ImportFailed(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise ImportFailed("YAML document is nested too deeply") from None
    try:
        return _plain(loaded, _Budget(), 0)
    except RecursionError:
        raise ImportFailed("YAML document is nested too deeply") from None


def _steps(core: Json) -> list[Any]:
    flows = core.get("flows")
    steps: list[Any] = []
    if isinstance(flows, list):
        for flow in flows:
            if isinstance(flow, dict) and isinstance(flow.get("steps"), list):
                steps.extend(flow["steps"])
    return steps


def _node_from_meta(meta: Json) -> Json:
    node: Json = {
        "id": meta["node_id"],
        "type": meta["node_kind"],
        "label": meta["node_label"],
        "position": meta["position"],
    }
    if "node_config" in meta:
        node["config"] = meta["node_config"]
    for key in ("inputs", "outputs"):
        if key in meta:
            node[key] = meta[key]
    extra = meta.get("extra")
    if isinstance(extra, dict):
        node.update(extra)
    return node


def _has_meta(step: object) -> bool:
    meta = step.get("meta") if isinstance(step, dict) else None
    return isinstance(meta, dict) and all(k in meta for k in _META_FIELDS)


def _triggers(core: Json) -> list[Json]:
    triggers: list[Json] = []
    flows = core.get("flows")
    for flow in flows if isinstance(flows, list) else []:
        if not isinstance(flow, dict):
            continue
        if isinstance(flow.get("trigger"), dict):
            triggers.append(flow["trigger"])
        extra = flow.get("additional_triggers")
        if isinstance(extra, list):
            triggers.extend(t for t in extra if isinstance(t, dict))
    return triggers


def _models(core: Json, meta: Json, warnings: list[str]) -> list[Json] | None:
    models = meta.get("models")
    if isinstance(models, list) and models:
        return models
    model = core.get("model")
    if not isinstance(model, str) or not model:
        return None
    ref, _, name = model.partition("/")
    if not name:
        warnings.append(f"core.model {model!r} has no '<ref>/' prefix; assumed ref 'scaigrid'")
        ref, name = "scaigrid", model
    return [{"role": "primary", "ref": ref, "model": name}]


def _config(core: Json, meta: Json, warnings: list[str]) -> Json:
    config: Json = {}
    identity: Json = {}
    persona = (
        core.get("identity", {}).get("persona") if isinstance(core.get("identity"), dict) else None
    )
    if isinstance(persona, str):
        identity["name"] = persona
    models = _models(core, meta, warnings)
    if models is not None:
        identity["models"] = models
    if identity:
        config["core_identity"] = identity
    plugins = core.get("plugins")
    if isinstance(plugins, list):
        config["plugins"] = [
            p for p in plugins if not (isinstance(p, dict) and p.get("alias") == "scaibunker")
        ]
        if not config["plugins"]:
            del config["plugins"]
    capabilities = core.get("capabilities")
    if isinstance(capabilities, list):
        rest = []
        for item in capabilities:
            if (
                isinstance(item, dict)
                and isinstance(item.get("bunker"), dict)
                and "bunker" not in config
            ):
                config["bunker"] = item["bunker"]
            else:
                rest.append(item)
        if rest:
            config["capabilities"] = rest
    if isinstance(core.get("scaiqueue"), dict):
        config["scaiqueue"] = core["scaiqueue"]
    for key in ("publish_as_model", "model_visibility_group_ids"):
        if key in meta:
            config[key] = meta[key]
    return config


def _best_effort(core: Json, meta: Json, warnings: list[str]) -> Json:
    name = core.get("name")
    if not isinstance(name, str) or not name.strip():
        name = "imported-flow"
        warnings.append("core.name is missing; the flow is named 'imported-flow'")
    builder = StepBuilder(warnings)
    builder.convert(_steps(core), _triggers(core), set())
    content: Json = {
        "id": str(meta.get("source_id") or "flow_imported"),
        "name": name,
        "version": str(meta.get("source_version") or "1.0.0"),
    }
    target = core.get("runtime_version", meta.get("scaicore_target"))
    if target is not None:
        content["scaicore_target"] = str(target)
    metadata: Json = {}
    if isinstance(core.get("description"), str):
        metadata["description"] = core["description"]
    if builder.unknown:
        metadata["unknown_steps"] = builder.unknown
    if metadata:
        content["metadata"] = metadata
    content["nodes"] = builder.nodes
    content["edges"] = builder.edges
    config = _config(core, meta, warnings)
    if config:
        content["config"] = config
    if not any(n["type"].startswith("entry_") for n in builder.nodes):
        warnings.append("the manifest has no trigger; add an entry node before deploying")
    return content


def _lossless(core: Json, graph: Json, warnings: list[str]) -> Json:
    with_meta: list[tuple[int, int, Json]] = []
    without_meta: list[Any] = []
    for n, step in enumerate(_steps(core)):
        if _has_meta(step):
            meta = step["meta"]
            index = meta.get("node_index")
            order = index if isinstance(index, int) and not isinstance(index, bool) else n
            with_meta.append((order, n, _node_from_meta(meta)))
        else:
            without_meta.append(step)
    with_meta.sort(key=lambda item: (item[0], item[1]))
    nodes = [node for _, _, node in with_meta]
    content: Json = {}
    for key, value in graph.items():
        if key == "edges" and "nodes" not in content:
            content["nodes"] = nodes
        content[key] = value
    content.setdefault("nodes", nodes)
    if without_meta:
        builder = StepBuilder(warnings)
        builder.ids.update(n["id"] for n in nodes if isinstance(n.get("id"), str))
        builder.convert(without_meta, [], set(builder.ids))
        warnings.append(
            f"{len(without_meta)} step(s) without meta were imported on a best-effort basis"
        )
        start = len(nodes)
        for i, node in enumerate(builder.nodes):
            node["position"] = {"x": 0, "y": (start + i) * LAYOUT_SPACING}
        content["nodes"] = nodes + builder.nodes
        edges = content.get("edges")
        content["edges"] = (edges if isinstance(edges, list) else []) + builder.edges
        if builder.unknown:
            metadata = content.get("metadata")
            metadata = dict(metadata) if isinstance(metadata, dict) else {}
            known = metadata.get("unknown_steps")
            metadata["unknown_steps"] = (known if isinstance(known, list) else []) + builder.unknown
            content["metadata"] = metadata
    return content


def import_manifest(yaml_text: str) -> tuple[Json, list[str]]:
    """A FlowGraph and the import warnings; ``ImportFailed`` when the text is not
    YAML or not a ScaiCore manifest (a mapping with a ``core`` mapping).

    A big manifest builds many objects at once, and the cyclic GC makes that
    superlinear; callers that import big manifests wrap the call in
    ``scaiflow_box.gc_pause.gc_paused()`` (a process-wide choice, so theirs to make)."""
    document = load_yaml(yaml_text)
    if not isinstance(document, dict) or not isinstance(document.get("core"), dict):
        raise ImportFailed("not a ScaiCore manifest: expected a top-level 'core' mapping")
    core: Json = document["core"]
    meta = core.get("scaiflow_meta")
    meta = meta if isinstance(meta, dict) else {}
    warnings: list[str] = []
    graph = meta.get("graph")
    if isinstance(graph, dict):
        content = _lossless(core, graph, warnings)
    else:
        warnings.append("the manifest was not written by ScaiFlow; imported on a best-effort basis")
        content = _best_effort(core, meta, warnings)
    for item in structural_errors(content)[:20]:
        path = ".".join(str(p) for p in item["loc"]) or "content"
        warnings.append(f"imported content is not a valid FlowGraph: {path}: {item['msg']}")
    return content, warnings
