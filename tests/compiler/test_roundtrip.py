"""The law of SPEC §5.3: import(compile(f)) == f, including keys the canvas adds."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from scaiflow_box.compiler.analyze import validate_flow
from scaiflow_box.compiler.emit_yaml import compile_flow
from scaiflow_box.compiler.importer import import_manifest
from tests.compiler.builders import EXAMPLE_NAMES, load_example
from tests.compiler.strategies import valid_flows


def round_trip(content: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    result = compile_flow(content)
    assert result.errors == [], result.errors
    assert result.body is not None
    return import_manifest(result.body)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_examples_round_trip(name: str) -> None:
    content = load_example(name)
    imported, warnings = round_trip(content)
    assert warnings == []
    assert imported == content
    # and the re-imported flow compiles to the very same bytes
    assert compile_flow(imported).body == compile_flow(content).body


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(valid_flows())
def test_compile_then_import_is_identity(content: dict[str, Any]) -> None:
    errors = [d.to_dict() for d in validate_flow(content) if d.is_error]
    assert errors == []  # the generator only makes valid flows
    snapshot = json.dumps(content, sort_keys=True)
    imported, warnings = round_trip(content)
    assert imported == content
    assert warnings == []
    assert json.dumps(content, sort_keys=True) == snapshot  # compiling never mutates input
    yaml_body = compile_flow(content).body
    json_body = compile_flow(content, "json").body
    assert yaml_body is not None and json_body is not None
    assert yaml.safe_load(yaml_body) == json.loads(json_body)
    assert compile_flow(content).body == yaml_body
