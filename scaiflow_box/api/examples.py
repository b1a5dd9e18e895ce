"""Request examples for the API document, taken from the example flows shipped with the
package (`scaiflow_box/examples/`, also reachable as `examples/` in a checkout)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def example_flow(name: str = "hello-world") -> dict[str, Any]:
    text = (resources.files("scaiflow_box") / "examples" / f"{name}.flow.json").read_text("utf-8")
    content: dict[str, Any] = json.loads(text)
    return content


def flow_create_example() -> dict[str, Any]:
    content = example_flow()
    return {"name": content["name"], "description": content["metadata"]["description"],
            "content": content}


def flow_content_example() -> dict[str, Any]:
    return {"content": example_flow()}


def import_example() -> dict[str, Any]:
    """The hello-world flow as the manifest `POST /flows/compile` makes of it."""
    from scaiflow_box.compiler import compile_flow

    result = compile_flow(example_flow(), "yaml")
    return {"yaml": result.body}


# -- one example per request body: each does what its operation is for when sent as it is
# (tests/contract/test_examples.py sends every one to a served appliance) ------------------
def flow_update_example() -> dict[str, Any]:
    """A partial PUT: a rename and a new description keep the version (the ETag moves)."""
    return {"name": "Hello World (greeter)",
            "description": "Greets the caller by name; used by the onboarding demo."}


def run_tests_example() -> dict[str, Any]:
    """A test case of the caller's own, run against the hello-world flow's current version."""
    return {"tests": [{"name": "greets Grace", "input": {"name": "Grace"},
                       "expect": {"visits": ["node_start", "node_greet"],
                                  "output": {"text": "Hello, Grace! Welcome to ScaiFlow."}}}]}


def deploy_example() -> dict[str, Any]:
    """Deploy the first version without publishing it as a model."""
    return {"version": "1.0.0", "publish_as_model": False}


def acl_create_example() -> dict[str, Any]:
    return {"principal_type": "user", "principal_id": "usr_bob", "level": "view"}


def acl_patch_example() -> dict[str, Any]:
    return {"level": "edit"}


def scaigrid_credentials_example() -> dict[str, Any]:
    """The tenant's own ScaiGrid key; without `base_url` SCAIGRID_BASE_URL applies."""
    return {"api_key": "sgk_live_0123456789abcdef0123"}


def role_example() -> dict[str, Any]:
    return {"role": "tenant_admin"}


def heartbeat_example() -> dict[str, Any]:
    """One browser tab viewing a flow, sharing which node it has selected."""
    return {"client_id": "tab-7f3c2a", "state": {"selected_node": "node_start"}}


def owner_example() -> dict[str, Any]:
    return {"owner_id": "usr_bob"}


def service_token_example() -> dict[str, Any]:
    """A read-only token for a CI pipeline, valid for an hour."""
    return {"sub": "usr_ci", "scope": "scaicore:view", "ttl_seconds": 3600,
            "description": "CI: validate flows on every push"}


def key_rotation_example() -> dict[str, Any]:
    return {"reencrypt": False}


def master_key_list_example() -> dict[str, Any]:
    """One rotation ago: the current key with the backup made since, the retired one with
    the backup made before it."""
    def backup(name: str, at: str) -> dict[str, Any]:
        return {"file": f"/var/backups/scaiflow/{name}", "made_at": at, "kind": "backup",
                "on_disk": True}

    def backups(*items: dict[str, Any]) -> dict[str, Any]:
        return {"recorded": len(items), "on_disk": len(items),
                "newest_at": items[-1]["made_at"] if items else None, "items": list(items)}

    return {"source": "file", "items": [
        {"kek_id": "8d1e07c2b4a9", "state": "current",
         "where": "/var/lib/scaiflow-box/master.key", "retired_at": None, "problem": None,
         "backups": backups(backup("2026-05-04.db", "2026-05-04T02:00:00.412Z"))},
        {"kek_id": "3f9c2a8d1e07", "state": "retired",
         "where": "/var/lib/scaiflow-box/master.key.retired-3f9c2a8d1e07",
         "retired_at": "2026-05-03T17:05:12.000Z", "problem": None,
         "backups": backups(backup("2026-05-03.db", "2026-05-03T02:00:00.387Z"))}]}


def resolve_example() -> dict[str, Any]:
    return {"resolution": "approve", "comment": "Checked the draft: good to send."}


def invoke_example() -> dict[str, Any]:
    """The hello-world core's entry takes a name."""
    return {"input": {"name": "Ada"}}


def code_exchange_example() -> dict[str, Any]:
    """What the canvas sends after ScaiKey redirected back with `?code=`: the code, the PKCE
    verifier it kept, and the redirect URI of the authorization request."""
    return {"code": "ac_4bdf9c3e0a7d41f2",
            "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "redirect_uri": "http://localhost:5173/auth/callback"}


def token_refresh_example() -> dict[str, Any]:
    return {"refresh_token": "rt_8c1f0b6e2d9a4c57"}


def catalog_publish_example() -> dict[str, Any]:
    """The hello-world flow as a new package, with a readme (inline content: publishing a
    stored flow names it by `flow_id` instead)."""
    content = example_flow()
    return {"package_id": "hello-world", "name": content["name"],
            "description": content["metadata"]["description"],
            "readme": "# Hello World\n\nGreets the caller by name.\n", "content": content}


def catalog_install_example() -> dict[str, Any]:
    """Store the package's flow as a new flow of the caller's."""
    return {"save": True, "name": "Hello World (from the catalog)"}


def catalog_visibility_example() -> dict[str, Any]:
    """Show the package to the members of one group only."""
    return {"visibility": "groups", "visibility_group_ids": ["grp_support"]}
