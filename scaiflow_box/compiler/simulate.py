"""Deterministic local execution of a flow, for run-tests (SPEC §6).

No upstream is called: entry nodes emit the test input, ``llm_rigid`` renders
its template, ``data_variable_set`` assigns, logic nodes route, checkpoint kinds
take the test's checkpoint responses, and every other node returns its mock.
Semantics (docs/compiler.md, "Test runner"):

* the scope starts with the flow's ``variables`` and the input's keys; it also
  holds ``input`` (the raw input) and ``nodes`` (each node's last result, by id);
  a node's result, when it is an object, is merged into the scope;
* after a node, the first ``conditional`` edge (edge order) whose condition is
  true is followed, else the first ``sequential`` edge, else the path ends;
* ``logic_loop`` runs its body (edges from its body port) once per item
  (``foreach``) or while ``condition`` holds (``while``), at most
  ``max_iterations`` times, then follows its other edges; a body path ends when
  it routes back to the loop or has no successor;
* ``logic_parallel`` runs each branch in turn (edge order), each up to its
  ``join`` node, then continues at ``join`` (without one, the branches are the
  rest of the run);
* every node visit counts against a step limit, so no flow runs forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from scaiflow_box.compiler import expr
from scaiflow_box.compiler.graph import FlowIndex, loop_body_port
from scaiflow_box.compiler.kinds import (
    CHECKPOINT_KINDS,
    ENTRY_KINDS,
    MOCKED_KINDS,
    SEND_ONLY_KINDS,
)
from scaiflow_box.compiler.naming import RESERVED_VARIABLES
from scaiflow_box.compiler.schema import EdgeDict, NodeDict

DEFAULT_MAX_STEPS: Final = 10_000
MAX_PARALLEL_DEPTH: Final = 64


class SetupError(Exception):
    """The test does not provide what the flow needs (a mock, a response)."""


class FlowRuntimeError(Exception):
    """The flow itself fails (an expression, a loop bound, the step limit)."""


@dataclass
class RunOutcome:
    visits: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_kind: Literal["setup", "runtime"] | None = None


@dataclass
class _LoopState:
    items: list[Any] | None
    count: int = 0


def initial_scope(variables: list[Any]) -> dict[str, Any]:
    scope: dict[str, Any] = {}
    for item in variables:
        if isinstance(item, str):
            scope.setdefault(item, None)
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            scope[item["name"]] = item.get("default", item.get("value"))
    for name in RESERVED_VARIABLES:
        scope.pop(name, None)
    return scope


class Simulation:
    def __init__(
        self,
        index: FlowIndex,
        input_value: Any,
        mocks: dict[str, Any],
        responses: dict[str, Any],
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        self.index = index
        self.input_value = input_value
        self.mocks = mocks
        self.responses = responses
        self.max_steps = max_steps
        self.outcome = RunOutcome()
        self.results: dict[str, Any] = {}
        self.scope: dict[str, Any] = initial_scope(index.content.get("variables") or [])
        self.scope["nodes"] = self.results
        self.loops: dict[str, _LoopState] = {}
        self.loop_stack: list[str] = []

    # Results and expressions ---------------------------------------------------

    def _store(self, node_id: str, result: Any) -> None:
        self.results[node_id] = result
        if isinstance(result, dict):
            for key, value in result.items():
                if key not in RESERVED_VARIABLES:
                    self.scope[key] = value

    def _eval(self, text: str, what: str) -> Any:
        try:
            return expr.evaluate_text(text, self.scope)
        except expr.ExpressionError as exc:
            raise FlowRuntimeError(f"{what}: {exc}") from None

    # Nodes ---------------------------------------------------------------------

    def _execute(self, node: NodeDict) -> None:
        node_id, kind = node["id"], node["type"]
        config: dict[str, Any] = node.get("config") or {}
        if kind in ENTRY_KINDS:
            self.scope["input"] = self.input_value
            self._store(node_id, self.input_value)
        elif kind == "llm_rigid":
            try:
                text = expr.render_template(config.get("template") or "", self.scope)
            except expr.ExpressionError as exc:
                raise FlowRuntimeError(f"node {node_id!r}: template: {exc}") from None
            self._store(node_id, {"text": text})
        elif kind == "data_variable_set":
            assigned: dict[str, Any] = {}
            for item in config.get("assignments") or []:
                if item.get("expr") is not None:
                    value = self._eval(
                        item["expr"], f"node {node_id!r}: assignment {item['name']!r}"
                    )
                else:
                    value = item.get("value")
                assigned[item["name"]] = value
                self.scope[item["name"]] = value
            self.results[node_id] = assigned
        elif kind in CHECKPOINT_KINDS:
            self.outcome.checkpoints.append(node_id)
            if node_id in self.responses:
                response = self.responses[node_id]
            elif kind == "checkpoint" and config.get("breakpoint") is True:
                response = None  # a debugging breakpoint just continues
            else:
                raise SetupError(f"no checkpoint response for node {node_id!r} ({kind})")
            self._store(node_id, {"response": response})
        elif kind in MOCKED_KINDS:
            if node_id not in self.mocks:
                raise SetupError(f"no mock for node {node_id!r} ({kind})")
            self._store(node_id, self.mocks[node_id])
        elif kind in SEND_ONLY_KINDS:
            self._store(node_id, self.mocks.get(node_id, {}))
        # logic_decision routes only; loops and parallels are handled by the walker

    # Routing -------------------------------------------------------------------

    def _follow(self, edges: list[EdgeDict]) -> str | None:
        default: str | None = None
        for edge in edges:
            if edge["type"] == "conditional":
                condition = edge.get("condition") or ""
                if expr.truthy(self._eval(condition, f"edge {edge['id']!r}: condition")):
                    return edge["target"]["node"]
            elif default is None:
                default = edge["target"]["node"]
        return default

    def _out_edges(self, node_id: str) -> list[EdgeDict]:
        edges = self.index.edges
        return [edges[i] for i in self.index.control_out.get(node_id, ())]

    def _loop(self, node: NodeDict) -> str | None:
        node_id = node["id"]
        config: dict[str, Any] = node.get("config") or {}
        if node_id in self.loop_stack:  # re-entered: abandon loops nested inside it
            while self.loop_stack[-1] != node_id:
                self.loops.pop(self.loop_stack.pop(), None)
        state = self.loops.get(node_id)
        style = config.get("style") or "foreach"
        if state is None:
            items: list[Any] | None = None
            if style == "foreach":
                source = config.get("items")
                value = self._eval(source, f"node {node_id!r}: items") if source else None
                if value is None:
                    value = []
                if not isinstance(value, list):
                    got = expr.type_name(value)
                    message = f"node {node_id!r}: loop items must be a list, not {got}"
                    raise FlowRuntimeError(message)
                items = value
            state = self.loops[node_id] = _LoopState(items)
        limit = config.get("max_iterations")
        go_on = limit is None or state.count < limit
        if go_on and state.items is not None:
            go_on = state.count < len(state.items)
            if go_on:
                self.scope[config.get("item_var") or "item"] = state.items[state.count]
        elif go_on and config.get("condition"):
            go_on = expr.truthy(self._eval(config["condition"], f"node {node_id!r}: condition"))
        body_port = loop_body_port(node)
        out_edges = self._out_edges(node_id)
        body = [e for e in out_edges if e["source"]["port"] == body_port]
        if go_on and body:
            state.count += 1
            self.results[node_id] = {"iteration": state.count}
            if not self.loop_stack or self.loop_stack[-1] != node_id:
                self.loop_stack.append(node_id)
            return self._follow(body)
        del self.loops[node_id]
        if self.loop_stack and self.loop_stack[-1] == node_id:
            self.loop_stack.pop()
        return self._follow([e for e in out_edges if e["source"]["port"] != body_port])

    # The walker ----------------------------------------------------------------

    def run_path(self, start: str | None, stops: frozenset[str], depth: int) -> str | None:
        """Run from ``start`` until a node in ``stops`` (returned) or the path ends."""
        if depth > MAX_PARALLEL_DEPTH:
            raise FlowRuntimeError(f"parallel branches are nested deeper than {MAX_PARALLEL_DEPTH}")
        base = len(self.loop_stack)
        current = start
        visits = self.outcome.visits
        while current is not None:
            if current in stops:
                return current
            if len(visits) >= self.max_steps:
                raise FlowRuntimeError(
                    f"step limit of {self.max_steps} node visits exceeded (does a loop never end?)"
                )
            visits.append(current)
            node = self.index.node(current)
            kind = node["type"]
            if kind == "logic_loop":
                current = self._loop(node)
            elif kind == "logic_parallel":
                current = self._parallel(node, stops, depth)
            else:
                self._execute(node)
                current = self._follow(self._out_edges(current))
            if current is None and len(self.loop_stack) > base:
                current = self.loop_stack[-1]
        return None

    def _parallel(self, node: NodeDict, stops: frozenset[str], depth: int) -> str | None:
        node_id = node["id"]
        join = (node.get("config") or {}).get("join")
        branches: list[str] = []
        for edge in self._out_edges(node_id):
            condition = edge.get("condition") if edge["type"] == "conditional" else None
            if condition is None or expr.truthy(
                self._eval(condition, f"edge {edge['id']!r}: condition")
            ):
                branches.append(edge["target"]["node"])
        inner = stops | {join} if isinstance(join, str) else stops
        outer: str | None = None
        for branch in branches:
            reached = self.run_path(branch, inner, depth + 1)
            if reached is not None and reached != join and outer is None:
                outer = reached  # a branch reached an enclosing join
        return join if isinstance(join, str) else outer


def simulate(
    index: FlowIndex,
    *,
    entry: str,
    input_value: Any,
    mocks: dict[str, Any],
    responses: dict[str, Any],
    max_steps: int = DEFAULT_MAX_STEPS,
) -> RunOutcome:
    sim = Simulation(index, input_value, mocks, responses, max_steps)
    try:
        sim.run_path(entry, frozenset(), 0)
    except SetupError as exc:
        sim.outcome.error, sim.outcome.error_kind = str(exc), "setup"
    except FlowRuntimeError as exc:
        sim.outcome.error, sim.outcome.error_kind = str(exc), "runtime"
    except RecursionError:
        sim.outcome.error, sim.outcome.error_kind = "flow is nested too deeply to run", "runtime"
    sim.outcome.output = {k: v for k, v in sim.scope.items() if k not in RESERVED_VARIABLES}
    return sim.outcome
