"""An index over structurally valid flow content, built once in linear time.

Control flow follows ``sequential`` and ``conditional`` edges; ``data`` edges
carry values only. Edges whose endpoints do not exist are left out of the
adjacency (the analyzer reports them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from scaiflow_box.compiler.kinds import (
    CONTROL_EDGE_TYPES,
    ENTRY_KINDS,
    LOOP_BODY_PORTS,
    default_input_ports,
    default_output_ports,
)
from scaiflow_box.compiler.schema import EdgeDict, FlowDict, NodeDict


def output_ports(node: NodeDict) -> tuple[str, ...]:
    """Declared output port ids, or the kind's implicit ones when none are declared."""
    declared = node.get("outputs")
    if declared is None:
        return default_output_ports(node["type"])
    return tuple(port["id"] for port in declared)


def input_ports(node: NodeDict) -> tuple[str, ...]:
    declared = node.get("inputs")
    if declared is None:
        return default_input_ports(node["type"])
    return tuple(port["id"] for port in declared)


def loop_body_port(node: NodeDict) -> str | None:
    """The output port of a ``logic_loop`` whose edges form the loop body:
    ``out_body`` or ``body`` when declared, else the first declared output."""
    ports = output_ports(node)
    for name in LOOP_BODY_PORTS:
        if name in ports:
            return name
    return ports[0] if ports else None


_NO_SUCCESSORS: list[str] = []


@dataclass(slots=True)
class FlowIndex:
    content: FlowDict
    nodes: list[NodeDict]
    edges: list[EdgeDict]
    node_pos: dict[str, int] = field(default_factory=dict)  # id -> first index
    edge_pos: dict[str, int] = field(default_factory=dict)
    # node id -> indexes of its control out-edges whose target exists, in edge order
    control_out: dict[str, list[int]] = field(default_factory=dict)
    # node id -> the targets of those edges, same order
    control_succ: dict[str, list[str]] = field(default_factory=dict)
    entries: list[str] = field(default_factory=list)  # entry node ids, node order

    def node(self, node_id: str) -> NodeDict:
        return self.nodes[self.node_pos[node_id]]

    def successors(self, node_id: str) -> list[str]:
        return self.control_succ.get(node_id, _NO_SUCCESSORS)

    def is_loop_body_edge(self, edge: EdgeDict) -> bool:
        source = self.node(edge["source"]["node"])
        return source["type"] == "logic_loop" and edge["source"]["port"] == loop_body_port(source)


def build_index(content: FlowDict) -> FlowIndex:
    nodes = content.get("nodes") or []
    edges = content.get("edges") or []
    index = FlowIndex(content, nodes, edges)
    node_pos = index.node_pos
    for i, node in enumerate(nodes):
        node_id = node["id"]
        if node_id not in node_pos:
            node_pos[node_id] = i
            if node["type"] in ENTRY_KINDS:
                index.entries.append(node_id)
    control_out = index.control_out
    for i, edge in enumerate(edges):
        index.edge_pos.setdefault(edge["id"], i)
        if edge["type"] not in CONTROL_EDGE_TYPES:
            continue
        source, target = edge["source"]["node"], edge["target"]["node"]
        if source in node_pos and target in node_pos:
            control_out.setdefault(source, []).append(i)
            index.control_succ.setdefault(source, []).append(target)
    return index


def reachable(index: FlowIndex, starts: Iterable[str]) -> set[str]:
    seen = set(starts)
    queue = deque(seen)
    while queue:
        for nxt in index.successors(queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _acyclic_successors(index: FlowIndex) -> dict[str, list[str]]:
    """Control adjacency without loop-body edges: the graph that must be acyclic
    (every legal cycle goes out through a ``logic_loop``'s body port)."""
    loops = [n["id"] for n in index.nodes if n["type"] == "logic_loop"]
    if not loops:
        return index.control_succ
    adjacency = dict(index.control_succ)
    edges = index.edges
    for loop_id in loops:
        edge_ids = index.control_out.get(loop_id, [])
        adjacency[loop_id] = [
            edges[i]["target"]["node"] for i in edge_ids if not index.is_loop_body_edge(edges[i])
        ]
    return adjacency


def _strongly_connected(nodes: list[str], adjacency: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (flows may be thousands of nodes deep)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in order:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                order[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = adjacency.get(node, [])
            recurse = False
            while child < len(succ):
                nxt = succ[child]
                child += 1
                if nxt not in order:
                    work.append((node, child))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], order[nxt])
            if recurse:
                continue
            if low[node] == order[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _cycle_through(start: str, members: set[str], adjacency: dict[str, list[str]]) -> list[str]:
    """The shortest cycle from ``start`` back to itself inside one component."""
    parent: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in adjacency.get(node, []):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path.reverse()
                return [*path, start]
            if nxt in members and nxt not in seen:
                seen.add(nxt)
                parent[nxt] = node
                queue.append(nxt)
    return [start, start]  # unreachable for a real component


def illegal_cycles(index: FlowIndex) -> list[list[str]]:
    """One representative cycle per strongly connected component of the control
    graph that does not loop through a ``logic_loop`` body, as node-id paths
    (``[a, b, a]``), starting at the component's first node in node order."""
    adjacency = _acyclic_successors(index)
    node_ids = list(index.node_pos)
    cycles: list[list[str]] = []
    for component in _strongly_connected(node_ids, adjacency):
        if len(component) == 1:
            only = component[0]
            if only not in adjacency.get(only, []):
                continue
        start = min(component, key=index.node_pos.__getitem__)
        cycles.append(_cycle_through(start, set(component), adjacency))
    cycles.sort(key=lambda path: index.node_pos[path[0]])
    return cycles


def control_order(index: FlowIndex) -> list[str]:
    """Node ids in a readable execution order: reverse post-order of a depth-first
    walk from the entries (first edge first), then unreachable nodes in node order."""
    post: list[str] = []
    seen: set[str] = set()
    for entry in reversed(index.entries):
        if entry in seen:
            continue
        seen.add(entry)
        work: list[tuple[str, list[str]]] = [(entry, list(index.successors(entry)))]
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()  # last edge first, so the first edge ends up first
                if nxt not in seen:
                    seen.add(nxt)
                    work.append((nxt, list(index.successors(nxt))))
            else:
                post.append(node)
                work.pop()
    order = post[::-1]
    order.extend(node_id for node_id in index.node_pos if node_id not in seen)
    return order
