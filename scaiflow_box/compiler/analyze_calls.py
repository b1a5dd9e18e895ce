"""Analyzer rules for nodes that call out: plugins, compute, queues, HTTP, subflows."""

from __future__ import annotations

from typing import Any

from scaiflow_box.compiler.analyze_support import NodeContext, Out, config_loc, require
from scaiflow_box.compiler.diagnostics import error, warning
from scaiflow_box.compiler.kinds import COMPUTE_METHODS
from scaiflow_box.compiler.naming import SUBFLOW_TARGET_PATTERN
from scaiflow_box.compiler.node_config import HTTP_METHODS
from scaiflow_box.compiler.plugins import is_known_plugin, signature
from scaiflow_box.compiler.schema import NodeDict


def _plugin_args(
    node: NodeDict,
    plugin: str,
    method: str,
    args: dict[str, Any],
    args_loc: list[str | int],
    method_loc: list[str | int],
    out: Out,
) -> None:
    call = f"{plugin}.{method}"
    sig = signature(plugin, method)
    if sig is None:
        if is_known_plugin(plugin):
            out.append(
                warning(
                    "plugin_unknown_method",
                    f"plugin call {call!r}: plugin {plugin!r} has no known method {method!r}",
                    method_loc,
                    node_id=node["id"],
                )
            )
        return
    for arg in sig.required:
        if args.get(arg) is None:
            out.append(
                error(
                    "plugin_missing_arg",
                    f"plugin call {call!r}: missing required arg {arg!r}",
                    args_loc,
                    node_id=node["id"],
                )
            )


def check_tool_plugin(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    if not require(node, i, ("plugin", "method"), out):
        return
    config = node.get("config") or {}
    _plugin_args(
        node,
        config["plugin"],
        config["method"],
        config.get("args") or {},
        config_loc(i, "args"),
        config_loc(i, "method"),
        out,
    )


def check_compute(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    config = node.get("config") or {}
    kind = node["type"]
    if kind == "compute_exec":
        command = config.get("command")
        if command is not None and not (
            isinstance(command, str)
            or (isinstance(command, list) and all(isinstance(c, str) for c in command))
        ):
            out.append(
                error(
                    "config_invalid",
                    f"node {node['id']!r}: config.command must be a string or a list of strings",
                    config_loc(i, "command"),
                    node_id=node["id"],
                )
            )
    # compute_* are calls of scaibunker methods; their config holds the arguments.
    _plugin_args(
        node, "scaibunker", COMPUTE_METHODS[kind], config, config_loc(i), config_loc(i), out
    )
    if kind != "compute_provision" and not ctx.has_provision:
        out.append(
            warning(
                "compute_without_provision",
                f"node {node['id']!r}: no compute_provision node provisions a bunker in this flow",
                ["nodes", i],
                node_id=node["id"],
            )
        )


def check_queue(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    config = node.get("config") or {}
    node_id = node["id"]
    has_queue = require(node, i, ("queue",), out)
    scope = config.get("scope") or ctx.flow_scope
    if not scope:
        out.append(
            error(
                "scope_missing",
                f"node {node_id!r}: {node['type']} has no scope: set config.scope on the node "
                "or config.scaiqueue.scope on the flow",
                config_loc(i, "scope"),
                node_id=node_id,
            )
        )
    elif has_queue and scope == ctx.flow_scope and config["queue"] not in ctx.queue_slugs:
        out.append(
            warning(
                "queue_undeclared",
                f"node {node_id!r}: queue {config['queue']!r} is not declared in "
                "config.scaiqueue.queues (deploy provisions only declared queues)",
                config_loc(i, "queue"),
                node_id=node_id,
            )
        )


def check_http(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    require(node, i, ("url",), out)
    method = (node.get("config") or {}).get("method")
    if isinstance(method, str) and method.upper() not in HTTP_METHODS:
        out.append(
            error(
                "config_invalid",
                f"node {node['id']!r}: config.method {method!r} is not an HTTP method",
                config_loc(i, "method"),
                node_id=node["id"],
            )
        )


def check_subflow(node: NodeDict, i: int, ctx: NodeContext, out: Out) -> None:
    if not require(node, i, ("target",), out):
        return
    target = (node.get("config") or {})["target"]
    if not SUBFLOW_TARGET_PATTERN.match(target):
        out.append(
            error(
                "subflow_target_invalid",
                f"node {node['id']!r}: config.target {target!r} must look "
                "like core://{tenant_slug}/{slug}",
                config_loc(i, "target"),
                node_id=node["id"],
            )
        )
