"""Run-tests (SPEC §6): a flow's test cases, run locally and deterministically.

``run_tests`` validates the flow (``FlowInvalid`` -> the endpoint's 400
``compile_error``), then runs each TestCase with ``compiler.simulate`` and checks
its expectations. A malformed test case, a missing mock or checkpoint response,
or a reference to a node the flow does not have is an ``error`` result for that
test, never an exception. Semantics are documented in docs/compiler.md.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scaiflow_box.compiler.analyze import validate_flow
from scaiflow_box.compiler.diagnostics import json_path
from scaiflow_box.compiler.errors import FlowInvalid
from scaiflow_box.compiler.expr import json_equal
from scaiflow_box.compiler.graph import FlowIndex, build_index
from scaiflow_box.compiler.schema import FlowDict
from scaiflow_box.compiler.simulate import DEFAULT_MAX_STEPS, RunOutcome, simulate

MAX_STEPS_LIMIT: Final = 100_000
# Keys the canvas may keep on a test case besides the ones the runner reads.
ANNOTATION_KEYS: Final = frozenset({"id", "description", "tags"})

Status = Literal["passed", "failed", "error"]


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    visits: list[str] | None = None
    not_visits: list[str] | None = None
    output: Any = None
    checkpoints: list[str] | None = None
    error: str | None = None


class TestCase(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    name: str = Field(min_length=1)
    input: Any = Field(default_factory=dict)
    mocks: dict[str, Any] = Field(default_factory=dict)
    checkpoint_responses: dict[str, Any] = Field(default_factory=dict)
    expect: Expectation = Field(default_factory=Expectation)
    entry: str | None = None
    max_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS_LIMIT)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _parse_case(raw: object, position: int) -> tuple[TestCase | None, str, list[str]]:
    """(case, name, problems); the name falls back to ``test N``."""
    fallback = f"test {position + 1}"
    name = raw.get("name") if isinstance(raw, dict) else None
    name = name if isinstance(name, str) and name else fallback
    if not isinstance(raw, dict):
        return None, name, ["invalid test case: a test case must be a JSON object"]
    try:
        case = TestCase.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"invalid test case: {json_path(err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        return None, name, problems
    unknown = sorted(set(case.model_extra or {}) - ANNOTATION_KEYS)
    if unknown:
        return None, name, [f"invalid test case: unknown field {key!r}" for key in unknown]
    return case, name, []


def _reference_problems(case: TestCase, index: FlowIndex) -> list[str]:
    problems = []
    groups: list[tuple[str, list[str]]] = [
        ("mocks", list(case.mocks)),
        ("checkpoint_responses", list(case.checkpoint_responses)),
        ("expect.visits", case.expect.visits or []),
        ("expect.not_visits", case.expect.not_visits or []),
        ("expect.checkpoints", case.expect.checkpoints or []),
    ]
    for where, ids in groups:
        for node_id in ids:
            if node_id not in index.node_pos:
                problems.append(f"test references unknown node {node_id!r} in {where}")
    if case.entry is not None and case.entry not in index.entries:
        problems.append(f"entry {case.entry!r} is not an entry-point node of this flow")
    return problems


def _subset_failures(expected: Any, actual: Any, path: str, out: list[str]) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append(f"expected {path} to be an object, got {_show(actual)}")
            return
        for key, value in expected.items():
            sub = f"{path}.{key}"
            if key not in actual:
                out.append(f"expected {sub} = {_show(value)}, got nothing")
            else:
                _subset_failures(value, actual[key], sub, out)
    elif not json_equal(expected, actual):
        out.append(f"expected {path} = {_show(expected)}, got {_show(actual)}")


def _is_subsequence(expected: list[str], actual: list[str]) -> bool:
    remaining = iter(actual)
    return all(any(item == seen for seen in remaining) for item in expected)


def _check(case: TestCase, outcome: RunOutcome) -> list[str]:
    expect = case.expect
    failures: list[str] = []
    if expect.error is not None:
        if outcome.error is None:
            failures.append(f"expected an error containing {expect.error!r}, got no error")
        elif expect.error not in outcome.error:
            failures.append(f"expected an error containing {expect.error!r}, got {outcome.error!r}")
    if expect.visits is not None and not _is_subsequence(expect.visits, outcome.visits):
        failures.append(
            f"expected visits {_show(expect.visits)} (in order), got {_show(outcome.visits)}"
        )
    for node_id in expect.not_visits or []:
        if node_id in outcome.visits:
            failures.append(
                f"expected node {node_id!r} not to be visited, got visits {_show(outcome.visits)}"
            )
    if expect.checkpoints is not None and expect.checkpoints != outcome.checkpoints:
        failures.append(
            f"expected checkpoints {_show(expect.checkpoints)}, got {_show(outcome.checkpoints)}"
        )
    if expect.output is not None:
        _subset_failures(expect.output, outcome.output, "output", failures)
    return failures


def _result(
    name: str,
    status: Status,
    started: float,
    outcome: RunOutcome | None,
    failures: list[str],
) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "visits": outcome.visits if outcome else [],
        "output": outcome.output if outcome else None,
        "failures": failures,
        "error": outcome.error if outcome else (failures[0] if failures else None),
    }


def run_case(raw: object, position: int, index: FlowIndex) -> dict[str, Any]:
    started = time.perf_counter()
    case, name, problems = _parse_case(raw, position)
    if case is None:
        return _result(name, "error", started, None, problems)
    problems = _reference_problems(case, index)
    if problems:
        return _result(name, "error", started, None, problems)
    entry = case.entry or index.entries[0]
    outcome = simulate(
        index,
        entry=entry,
        input_value=case.input,
        mocks=case.mocks,
        responses=case.checkpoint_responses,
        max_steps=case.max_steps or DEFAULT_MAX_STEPS,
    )
    if outcome.error is not None and (outcome.error_kind == "setup" or case.expect.error is None):
        return _result(name, "error", started, outcome, [outcome.error])
    failures = _check(case, outcome)
    return _result(name, "failed" if failures else "passed", started, outcome, failures)


def _run_case_guarded(raw: object, position: int, index: FlowIndex) -> dict[str, Any]:
    try:
        return run_case(raw, position, index)
    except RecursionError:  # absurdly deep test data; the API caps JSON depth at 64
        name = raw.get("name") if isinstance(raw, dict) else None
        name = name if isinstance(name, str) and name else f"test {position + 1}"
        problem = ["test case is nested too deeply to run"]
        return _result(name, "error", time.perf_counter(), None, problem)


def run_tests(content: dict[str, Any], tests: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Run ``tests`` (default: ``content["tests"]``) against the flow ``content``.

    Raises ``FlowInvalid`` (errors as diagnostic dicts) when the flow does not
    validate. The response carries ``version`` from the content; the endpoint
    may replace it with the version it loaded."""
    started = time.perf_counter()
    diagnostics = validate_flow(content)
    errors = [d.to_dict() for d in diagnostics if d.is_error]
    if errors:
        raise FlowInvalid(errors)
    index = build_index(cast(FlowDict, content))
    cases: object = (content.get("tests") or []) if tests is None else tests
    if isinstance(cases, list):
        results = [_run_case_guarded(raw, i, index) for i, raw in enumerate(cases)]
    else:
        results = [_result("tests", "error", started, None, ["tests must be a list of test cases"])]
    return {
        "version": content.get("version"),
        "passed": sum(1 for r in results if r["status"] == "passed"),
        "failed": sum(1 for r in results if r["status"] == "failed"),
        "errors": sum(1 for r in results if r["status"] == "error"),
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "results": results,
    }
