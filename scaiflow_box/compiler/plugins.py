"""Signatures of the plugins the analyzer knows (SPEC §5.2 "plugin signatures").

A call to a known ``plugin.method`` must pass every required argument (present
and not ``null``); a call to an unknown method of a known plugin is a warning;
calls to plugins not listed here are not checked (installations add their own).
The table is documented in docs/compiler.md; keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class PluginMethod:
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


KNOWN_PLUGINS: Final[dict[str, dict[str, PluginMethod]]] = {
    "scaidrive": {
        "search": PluginMethod(("path", "query"), ("limit", "filters")),
        "read": PluginMethod(("path",), ("encoding",)),
        "write": PluginMethod(("path", "content"), ("encoding", "overwrite")),
        "list": PluginMethod(("path",), ("recursive", "limit")),
        "delete": PluginMethod(("path",)),
    },
    "scaibunker": {
        "create": PluginMethod(
            (),
            (
                "lifecycle",
                "image",
                "cpu_millicores",
                "memory_mb",
                "disk_mb",
                "gpu_count",
                "network_profile",
                "bunker",
            ),
        ),
        "exec": PluginMethod(("command",), ("timeout", "env", "workdir", "stdin")),
        "write_file": PluginMethod(("path", "content"), ("mode",)),
        "read_file": PluginMethod(("path",), ("encoding",)),
        "destroy": PluginMethod(),
    },
    "scaiqueue": {
        "publish": PluginMethod(("queue", "message"), ("scope", "priority", "deadline")),
        "consume": PluginMethod(("queue",), ("scope", "timeout", "max_messages")),
    },
}


def signature(plugin: str, method: str) -> PluginMethod | None:
    methods = KNOWN_PLUGINS.get(plugin)
    return None if methods is None else methods.get(method)


def is_known_plugin(plugin: str) -> bool:
    return plugin in KNOWN_PLUGINS
