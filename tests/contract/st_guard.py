"""Schemathesis hook (loaded by `st run` through `hooks =` in the generated schemathesis.toml):
a guard that keeps destructive operations off the objects the run depends on.

Generated ids, dictionary values, values schemathesis learns from responses and OpenAPI links
can all name the real flow, its ACL, the manager's token, usr_operator or the peer that must
see nothing. Before any such call goes out, the guard points it at a disposable object
instead, so the run cannot delete the flow the other operations read, revoke the token it
authenticates with, demote the super admin, or hand the peer a grant, a role or a flow.
Every redirection is appended to a log the test reads.

The rules come from a JSON file named by SCAIFLOW_CONTRACT_GUARD:
`{"log": path, "rules": [{"operation": "DELETE /api/v1/flows/{flow_id}", "location": "path"
or "body", "parameter": "flow_id", "protected": [...], "replacement": "..."}]}`.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import schemathesis

_CONFIG: dict[str, Any] = json.loads(
    open(os.environ["SCAIFLOW_CONTRACT_GUARD"], encoding="utf-8").read())
_LOCK = threading.Lock()


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    label = f"{case.method.upper()} {case.path}"
    for rule in _CONFIG["rules"]:
        if rule["operation"] != label:
            continue
        values = case.path_parameters if rule["location"] == "path" else case.body
        name = rule["parameter"]
        if not isinstance(values, dict) or not isinstance(values.get(name), str):
            continue
        value = values[name]
        if value in rule["protected"]:
            values[name] = rule["replacement"]
            with _LOCK, open(_CONFIG["log"], "a", encoding="utf-8") as log:
                log.write(f"{label} {name}={value} -> {rule['replacement']}\n")
