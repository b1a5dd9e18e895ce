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
