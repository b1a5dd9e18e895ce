"""The ScaiGrid client (SPEC §18.1, error kinds of §9) against the ScaiGrid stand-in on
loopback: every method's happy path, every failure mode mapped to its kind, and the bearer
kept out of every exception."""

from __future__ import annotations

import asyncio
import socket
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from scaiflow_box.config import Settings
from scaiflow_box.upstream.client import create_upstream_session
from scaiflow_box.upstream.scaigrid import (
    ScaiGridAuth,
    ScaiGridClient,
    ScaiGridError,
    normalize_model,
)
from tests.fakes.scaigrid import FakeScaiGrid

ROOT = Path(__file__).resolve().parents[2]
# Every call's total timeout: generous, since a loaded CI machine once took more than 0.4 s
# to answer a loopback create (the fake was not stalled). The stall test has its own.
TIMEOUT = 10.0
STALL_TIMEOUT = 0.4

MANIFEST = yaml.safe_dump({"core": {
    "name": "support-agent", "mode": "stateless", "runtime_version": "0.2",
    "flows": [{"name": "support-agent", "trigger": {"type": "api"}, "steps": [
        {"llm_turn": "Classify.", "meta": {"node_id": "node_classify"}},
        {"checkpoint": {"type": "hitl_review", "queue": "review"},
         "meta": {"node_id": "node_review"}},
        {"llm_turn": "Reply.", "meta": {"node_id": "node_reply"}},
    ]}]}}, sort_keys=False)
PLAIN_MANIFEST = yaml.safe_dump({"core": {"name": "hello", "flows": [{"name": "hello", "steps": [
    {"llm_rigid": "Hello {{name}}", "meta": {"node_id": "node_hello"}}]}]}})


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    s = create_upstream_session(Settings(upstream_timeout_seconds=TIMEOUT))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def client(session: aiohttp.ClientSession) -> ScaiGridClient:
    return ScaiGridClient(lambda: session)


@pytest.fixture
def auth(scaigrid_server: FakeScaiGrid) -> ScaiGridAuth:
    return ScaiGridAuth(scaigrid_server.base_url, scaigrid_server.api_key, "tenant_key")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- ScaiCore ----------------------------------------------------------------------------------
async def test_create_core_sends_the_yaml_body_with_the_bearer(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    core = await client.create_core(auth, MANIFEST)
    assert core["id"].startswith("core_")
    assert (core["slug"], core["tenant_slug"]) == ("support-agent", "acme")
    sent = scaigrid_server.last("create_core")
    assert sent.content_type == "application/yaml"
    assert sent.body == MANIFEST.encode()
    assert sent.authorization == f"Bearer {scaigrid_server.api_key}"
    assert sent.identity == "api_key:acme"
    assert scaigrid_server.cores[core["id"]].manifest_yaml == MANIFEST


@pytest.mark.parametrize("manifest", ["- just\n- a list\n", "core: 3\n", "{core: {mode: x}}",
                                      "core: [unclosed\n"])
async def test_create_core_refused_manifest_is_a_validation_error(
    client: ScaiGridClient, auth: ScaiGridAuth, manifest: str
) -> None:
    with pytest.raises(ScaiGridError) as caught:
        await client.create_core(auth, manifest)
    assert (caught.value.kind, caught.value.status, caught.value.code) == (
        "error", 400, "VALIDATION_ERROR")


async def test_publish_is_idempotent(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    core = await client.create_core(auth, MANIFEST)
    slug = await client.publish_core(auth, core["id"], ["grp_support"])
    assert slug == "scaicore/acme/support-agent"
    assert scaigrid_server.last("publish_core").json() == {"group_ids": ["grp_support"]}
    # ScaiGrid answers 400 VALIDATION_ERROR "already published": read the core instead
    assert await client.publish_core(auth, core["id"], ["grp_support"]) == slug
    assert [r.route for r in scaigrid_server.requests] == [
        "create_core", "publish_core", "publish_core", "get_core"]
    fetched = await client.get_core(auth, core["id"])
    assert fetched["metadata"]["published_slug"] == slug
    assert fetched["metadata"]["group_ids"] == ["grp_support"]


async def test_other_publish_failures_are_raised(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    with pytest.raises(ScaiGridError) as caught:
        await client.publish_core(auth, "core_missing", [])
    assert (caught.value.kind, caught.value.status, caught.value.code) == (
        "error", 404, "NOT_FOUND")
    core = await client.create_core(auth, MANIFEST)
    scaigrid_server.fail("publish_core", 400, code="VALIDATION_ERROR",
                         message="group grp_x does not exist")
    with pytest.raises(ScaiGridError) as caught:
        await client.publish_core(auth, core["id"], ["grp_x"])
    assert caught.value.status == 400
    assert caught.value.message == ("ScaiGrid answered HTTP 400 VALIDATION_ERROR: "
                                    "group grp_x does not exist")
    assert scaigrid_server.hits["get_core"] == 0


async def test_get_core_unknown_is_not_found(client: ScaiGridClient,
                                             auth: ScaiGridAuth) -> None:
    with pytest.raises(ScaiGridError) as caught:
        await client.get_core(auth, "core_nope")
    assert (caught.value.kind, caught.value.status) == ("error", 404)


async def test_invoke_checkpoint_resolve_and_events(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    core = await client.create_core(auth, MANIFEST)
    answer = await client.invoke_core(auth, core["id"], {"message": "it is broken"})
    assert answer["status"] == "ok"  # the upstream answer as it came
    assert answer["data"]["status"] == "waiting"
    assert scaigrid_server.last("invoke_core").json() == {"input": {"message": "it is broken"}}

    pending, cursor = await client.list_checkpoints(auth, core_id=core["id"],
                                                    status="pending", limit=50, cursor=None)
    assert cursor is None
    assert [(c["id"], c["node_id"], c["status"]) for c in pending] == [
        (answer["data"]["checkpoint_id"], "node_review", "pending")]

    events, events_cursor = await client.list_events(auth, core_id=core["id"], limit=50,
                                                     cursor=None)
    assert [(e["type"], e["payload"].get("block")) for e in events] == [
        ("scaicore.runtime.invocation.started", None),
        ("scaicore.runtime.block.entered", "node_classify"),
        ("scaicore.runtime.block.exited", "node_classify"),
        ("scaicore.runtime.block.entered", "node_review"),
    ]
    assert all(e["core_id"] == core["id"] and e["timestamp"].endswith("Z") for e in events)
    assert events_cursor is not None

    resolved = await client.resolve_checkpoint(auth, pending[0]["id"],
                                               {"resolution": "approve", "comment": "ok"})
    assert resolved["data"]["status"] == "resolved"
    assert resolved["data"]["resolution"] == "approve"
    assert (await client.list_checkpoints(auth, core_id=core["id"], status="pending",
                                          limit=50, cursor=None))[0] == []
    done, _ = await client.list_checkpoints(auth, core_id=None, status="resolved", limit=50,
                                            cursor=None)
    assert [c["id"] for c in done] == [pending[0]["id"]]

    # following the log from the cursor gives only what happened since
    newer, _ = await client.list_events(auth, core_id=core["id"], limit=50,
                                        cursor=events_cursor)
    assert [e["type"] for e in newer] == [
        "scaicore.runtime.block.exited", "scaicore.runtime.block.entered",
        "scaicore.runtime.block.exited", "scaicore.runtime.invocation.completed"]
    assert newer[-1]["payload"]["output"] == {"message": "it is broken"}

    with pytest.raises(ScaiGridError) as caught:  # a checkpoint resolves once
        await client.resolve_checkpoint(auth, pending[0]["id"], {"resolution": "approve"})
    assert (caught.value.status, caught.value.code) == (409, "CONFLICT")


async def test_invoke_without_checkpoint_completes(
    client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    core = await client.create_core(auth, PLAIN_MANIFEST)
    answer = await client.invoke_core(auth, core["id"], {"name": "Ada"})
    assert answer["data"]["status"] == "completed"
    assert answer["data"]["output"] == {"name": "Ada"}


async def test_events_page_by_cursor_and_filter_by_core(
    client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    first = await client.create_core(auth, PLAIN_MANIFEST)
    second = await client.create_core(auth, PLAIN_MANIFEST)
    await client.invoke_core(auth, first["id"], {})
    await client.invoke_core(auth, second["id"], {})
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page, cursor = await client.list_events(auth, core_id=first["id"], limit=3,
                                                cursor=cursor)
        if not page:
            break
        assert len(page) <= 3
        seen += page
    assert len(seen) == 4 and {e["core_id"] for e in seen} == {first["id"]}
    all_events, _ = await client.list_events(auth, core_id=None, limit=500, cursor=None)
    assert len(all_events) == 8
    with pytest.raises(ScaiGridError) as caught:
        await client.list_events(auth, core_id=None, limit=10, cursor="forged")
    assert (caught.value.kind, caught.value.status, caught.value.code) == (
        "error", 400, "VALIDATION_ERROR")


# -- ScaiQueue --------------------------------------------------------------------------------
async def test_ensure_scope_finds_or_creates(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    created = await client.ensure_scope(auth, "support", "Support")
    assert created["id"].startswith("sc_") and created["slug"] == "support"
    assert scaigrid_server.last("create_scope").json() == {"slug": "support",
                                                           "display_name": "Support"}
    again = await client.ensure_scope(auth, "support", "Support")
    assert again == created
    assert [r.route for r in scaigrid_server.requests] == [
        "list_scopes", "create_scope", "list_scopes"]
    assert await client.list_scopes(auth) == [created]


async def test_ensure_scope_tolerates_the_409_race(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    scaigrid_server.race("create_scope")
    scope = await client.ensure_scope(auth, "support", "Support")
    assert scope["display_name"] == "Support (created concurrently)"  # theirs, not ours
    assert [r.route for r in scaigrid_server.requests] == [
        "list_scopes", "create_scope", "list_scopes"]
    assert len(scaigrid_server.scopes) == 1


async def test_ensure_scope_409_without_the_scope_is_an_error(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    scaigrid_server.fail("create_scope", 409, message="scope is being deleted")
    with pytest.raises(ScaiGridError) as caught:
        await client.ensure_scope(auth, "support", "Support")
    assert (caught.value.kind, caught.value.status, caught.value.code) == (
        "error", 409, "CONFLICT")
    assert caught.value.upstream_message == "scope is being deleted"


async def test_ensure_queue_finds_or_creates_and_tolerates_the_race(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    scope = await client.ensure_scope(auth, "support", "Support")
    review = await client.ensure_queue(auth, scope["id"], slug="review",
                                       display_name="Answer review", ordering="fifo",
                                       max_retries=3)
    assert scaigrid_server.last("create_queue").json() == {
        "slug": "review", "display_name": "Answer review", "ordering": "fifo",
        "max_retries": 3}
    assert (review["scope_id"], review["consumer_mode"], review["max_retries"]) == (
        scope["id"], "fifo", 3)
    assert await client.ensure_queue(auth, scope["id"], slug="review", display_name="x",
                                     ordering="priority", max_retries=9) == review

    scaigrid_server.race("create_queue")
    escalations = await client.ensure_queue(auth, scope["id"], slug="escalations",
                                            display_name="Escalations",
                                            ordering="priority", max_retries=5)
    assert escalations["display_name"] == "Escalations (created concurrently)"
    assert [q["slug"] for q in await client.list_queues(auth, scope["id"])] == [
        "review", "escalations"]
    assert scaigrid_server.hits["create_queue"] == 2


async def test_ensure_queue_in_an_unknown_scope(client: ScaiGridClient,
                                                auth: ScaiGridAuth) -> None:
    with pytest.raises(ScaiGridError) as caught:
        await client.ensure_queue(auth, "sc_missing", slug="q", display_name="Q",
                                  ordering="fifo", max_retries=1)
    assert (caught.value.status, caught.value.code) == (404, "NOT_FOUND")


async def test_lists_accept_the_items_shape_too(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    scope = await client.ensure_scope(auth, "support", "Support")
    scaigrid_server.list_shape = "items"
    assert await client.list_scopes(auth) == [scope]
    assert [b["bunker_id"] for b in await client.list_bunkers(auth)] == [
        "bkr_python312", "bkr_node20"]


# -- ScaiBunker and models --------------------------------------------------------------------
async def test_list_bunkers_by_status(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    active = await client.list_bunkers(auth)
    assert [b["bunker_id"] for b in active] == ["bkr_python312", "bkr_node20"]
    assert scaigrid_server.last("list_bunkers").query == {"status": "active"}
    assert len(await client.list_bunkers(auth, None)) == 3
    assert scaigrid_server.last("list_bunkers").query == {}
    stopped = await client.list_bunkers(auth, "stopped")
    assert [b["bunker_id"] for b in stopped] == ["bkr_python311"]


async def test_list_bunkers_drops_what_an_unfiltering_upstream_sends(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    scaigrid_server.bunkers_ignore_status = True
    scaigrid_server.bunkers.append({"bunker_id": "bkr_unknown"})  # no status: kept
    assert [b["bunker_id"] for b in await client.list_bunkers(auth)] == [
        "bkr_python312", "bkr_node20", "bkr_unknown"]


EXPECTED_MODELS = [
    {"slug": "openai/gpt-4o", "display_name": "GPT-4o", "modality": "text",
     "context_window": 128000, "max_output_tokens": 16384},
    {"slug": "openai/gpt-4o-mini", "display_name": "GPT-4o mini", "modality": "text",
     "context_window": 128000, "max_output_tokens": 16384},
    {"slug": "anthropic/claude-3-5-sonnet", "display_name": "Claude 3.5 Sonnet",
     "modality": "text", "context_window": 200000, "max_output_tokens": 8192},
    {"slug": "openai/text-embedding-3-small", "display_name": "Text embedding 3 small",
     "modality": "embedding", "context_window": 8191},
]


@pytest.mark.parametrize("envelope", ["native", "data"])
async def test_list_models_native_envelopes(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth, envelope: Any
) -> None:
    scaigrid_server.models_envelope = envelope
    assert await client.list_models(auth) == EXPECTED_MODELS


async def test_list_models_openai_envelope(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    scaigrid_server.models_envelope = "openai"
    models = await client.list_models(auth)
    assert models == [{"slug": m["slug"], "display_name": m["slug"], "modality": None,
                       "context_window": None} for m in EXPECTED_MODELS]


def test_normalize_model_variants() -> None:
    assert normalize_model({"id": "m1", "name": "Model one", "modalities": ["image", "text"],
                            "context_length": 4096, "max_output_tokens": 512}) == {
        "slug": "m1", "display_name": "Model one", "modality": "image",
        "context_window": 4096, "max_output_tokens": 512}
    assert normalize_model({"id": 3}) is None
    assert normalize_model({"slug": "", "id": ""}) is None
    assert normalize_model({"slug": "s", "context_window": True,
                            "max_output_tokens": "9"}) == {
        "slug": "s", "display_name": "s", "modality": None, "context_window": None}


# -- failure modes -----------------------------------------------------------------------------
Operation = Callable[[ScaiGridClient, ScaiGridAuth], Awaitable[Any]]
OPERATIONS: dict[str, Operation] = {
    "create_core": lambda c, a: c.create_core(a, MANIFEST),
    "publish_core": lambda c, a: c.publish_core(a, "core_x", []),
    "get_core": lambda c, a: c.get_core(a, "core_x"),
    "list_events": lambda c, a: c.list_events(a, core_id=None, limit=10, cursor=None),
    "list_checkpoints": lambda c, a: c.list_checkpoints(a, core_id=None, status="pending",
                                                        limit=10, cursor=None),
    "resolve_checkpoint": lambda c, a: c.resolve_checkpoint(a, "cp_x", {"resolution": 1}),
    "invoke_core": lambda c, a: c.invoke_core(a, "core_x", {}),
    "list_models": lambda c, a: c.list_models(a),
    "list_scopes": lambda c, a: c.list_scopes(a),
    "ensure_scope": lambda c, a: c.ensure_scope(a, "s", "S"),
    "list_queues": lambda c, a: c.list_queues(a, "sc_x"),
    "ensure_queue": lambda c, a: c.ensure_queue(a, "sc_x", slug="q", display_name="Q",
                                                ordering="fifo", max_retries=1),
    "list_bunkers": lambda c, a: c.list_bunkers(a),
}
operations = pytest.mark.parametrize("operation", sorted(OPERATIONS))


async def expect_failure(client: ScaiGridClient, auth: ScaiGridAuth,
                         operation: str) -> ScaiGridError:
    with pytest.raises(ScaiGridError) as caught:
        await OPERATIONS[operation](client, auth)
    error = caught.value
    assert auth.bearer not in str(error) and auth.bearer not in repr(error)
    assert "http://" not in error.message
    return error


@operations
async def test_a_wrong_key_is_auth_401(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, operation: str
) -> None:
    wrong = ScaiGridAuth(scaigrid_server.base_url, "sgk_wrong_key_4242", "env_key")
    error = await expect_failure(client, wrong, operation)
    assert (error.kind, error.status, error.code) == ("auth", 401, "UNAUTHORIZED")
    assert scaigrid_server.bearers_used() == ["sgk_wrong_key_4242"]  # one request, no retry
    assert scaigrid_server.requests[0].identity is None


@operations
@pytest.mark.parametrize("status", [403, 500, 502, 503])
async def test_upstream_statuses(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth,
    operation: str, status: int
) -> None:
    scaigrid_server.fail(None, status)
    error = await expect_failure(client, auth, operation)
    expected_kind = "auth" if status == 403 else "error"
    code = "FORBIDDEN" if status == 403 else "INTERNAL_ERROR"
    assert (error.kind, error.status, error.code) == (expected_kind, status, code)
    assert error.retry_after is None
    assert error.message == f"ScaiGrid answered HTTP {status} {code}: injected failure"


@operations
async def test_429_carries_retry_after(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth, operation: str
) -> None:
    scaigrid_server.fail(None, 429, retry_after="7", message="slow down")
    error = await expect_failure(client, auth, operation)
    assert (error.kind, error.status, error.code, error.retry_after) == (
        "rate_limited", 429, "RATE_LIMITED", "7")


async def test_429_http_date_retry_after_is_kept(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    scaigrid_server.fail(None, 429, retry_after=date)
    error = await expect_failure(client, auth, "list_models")
    assert error.retry_after == date


@operations
async def test_malformed_json_is_an_error(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth, operation: str
) -> None:
    scaigrid_server.malformed(None)
    error = await expect_failure(client, auth, operation)
    assert (error.kind, error.status) == ("error", 200)
    assert error.message == "ScaiGrid answer unusable: response is not JSON"


@operations
async def test_huge_bodies_are_capped(
    scaigrid_server: FakeScaiGrid, session: aiohttp.ClientSession, auth: ScaiGridAuth,
    operation: str
) -> None:
    scaigrid_server.huge(None, size=1024 * 1024)
    small = ScaiGridClient(session, max_response_bytes=64 * 1024)
    error = await expect_failure(small, auth, operation)
    assert (error.kind, error.status) == ("error", 200)
    assert error.message == "ScaiGrid answer unusable: response too large"


async def test_the_default_cap_refuses_more_than_4_mib(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    scaigrid_server.huge(None, size=5 * 1024 * 1024)
    error = await expect_failure(client, auth, "list_models")
    assert error.message == "ScaiGrid answer unusable: response too large"


@operations
async def test_redirects_are_not_followed(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth, operation: str
) -> None:
    scaigrid_server.redirect(None, scaigrid_server.url("/v1/models"), times=1)
    error = await expect_failure(client, auth, operation)
    assert (error.kind, error.status) == ("error", 302)
    assert error.message == "ScaiGrid answered HTTP 302 (a redirect, not followed)"
    assert len(scaigrid_server.requests) == 1  # the target was never asked


@pytest.mark.parametrize("operation", ["create_core", "list_events", "ensure_scope"])
async def test_slow_answers_time_out_as_unreachable(
    scaigrid_server: FakeScaiGrid, auth: ScaiGridAuth, operation: str
) -> None:
    session = create_upstream_session(Settings(upstream_timeout_seconds=STALL_TIMEOUT))
    client = ScaiGridClient(lambda: session)
    scaigrid_server.stall(STALL_TIMEOUT + 2.0)
    started = asyncio.get_running_loop().time()
    try:
        error = await expect_failure(client, auth, operation)
    finally:
        await session.close()
    assert asyncio.get_running_loop().time() - started < STALL_TIMEOUT + 1.0
    assert (error.kind, error.status, error.code) == ("unreachable", None, None)
    assert error.message == "ScaiGrid unreachable: timed out"


@operations
async def test_nothing_listening_is_unreachable(client: ScaiGridClient, operation: str) -> None:
    auth = ScaiGridAuth(f"http://127.0.0.1:{free_port()}", "sgk_key", "env_key")
    error = await expect_failure(client, auth, operation)
    assert (error.kind, error.status) == ("unreachable", None)
    assert error.message == "ScaiGrid unreachable: connection failed"


async def test_a_2xx_error_envelope_or_other_shape_is_an_error(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    scaigrid_server.fail("list_scopes", 200, code="WEIRD", message="ok but not")
    error = await expect_failure(client, auth, "list_scopes")
    assert (error.kind, error.status, error.code) == ("error", 200, "WEIRD")
    scaigrid_server.clear_faults()
    scaigrid_server.models_envelope = "native"
    scaigrid_server.models = []
    assert await client.list_models(auth) == []


@pytest.mark.parametrize("base_url", ["http://169.254.169.254", "http://metadata.google.internal",
                                      "http://[fd00:ec2::254]:80", "ftp://scaigrid.lan",
                                      "not a url"])
async def test_refused_destinations_are_unreachable(client: ScaiGridClient,
                                                    base_url: str) -> None:
    auth = ScaiGridAuth(base_url, "sgk_key", "tenant_key")
    error = await expect_failure(client, auth, "list_models")
    assert (error.kind, error.status) == ("unreachable", None)
    assert error.message.startswith("ScaiGrid destination refused: ")


@pytest.mark.parametrize("suffix", ["?x=1", "#frag"])
async def test_base_urls_with_credentials_query_or_fragment_are_refused(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, suffix: str
) -> None:
    with_userinfo = scaigrid_server.base_url.replace("http://", "http://user:pw@")
    for base_url in (with_userinfo, scaigrid_server.base_url + suffix):
        auth = ScaiGridAuth(base_url, scaigrid_server.api_key, "tenant_key")
        error = await expect_failure(client, auth, "list_models")
        assert (error.kind, error.message) == ("unreachable",
                                               "the ScaiGrid base URL is not valid")
    assert scaigrid_server.requests == []


# -- credentials and ids -----------------------------------------------------------------------
async def test_the_bearer_never_reaches_exceptions_or_reprs(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient
) -> None:
    secret = "sgk_live_SECRET_9f8e7d6c5b4a"
    auth = ScaiGridAuth(scaigrid_server.base_url, secret, "tenant_key")
    assert secret not in repr(auth) and secret not in str(auth)
    scaigrid_server.fail(None, 401, message=f"key {secret} rejected, see "
                         f"{scaigrid_server.base_url}/docs?key={secret}")
    with pytest.raises(ScaiGridError) as caught:
        await client.list_models(auth)
    error = caught.value
    rendered = "".join(traceback.format_exception(error))
    for text in (str(error), repr(error), rendered, error.upstream_message or ""):
        assert secret not in text
        assert scaigrid_server.base_url not in text
    assert error.upstream_message == "key [redacted] rejected, see [url]"
    assert scaigrid_server.last("list_models").authorization == f"Bearer {secret}"


async def test_unusable_bearers_are_refused_before_sending(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient
) -> None:
    for bearer in ["", "two words", "line\nbreak"]:
        auth = ScaiGridAuth(scaigrid_server.base_url, bearer, "tenant_key")
        with pytest.raises(ScaiGridError) as caught:
            await client.list_models(auth)
        assert caught.value.kind == "auth"
        assert caught.value.message == "the ScaiGrid credential is not usable"
    assert scaigrid_server.requests == []


async def test_a_user_jwt_is_forwarded_verbatim(
    scaigrid_server: FakeScaiGrid, scaikey_server: Any, client: ScaiGridClient
) -> None:
    scaigrid_server.trust_scaikey(scaikey_server)
    token = scaikey_server.mint(sub="usr_alice", tenant_id="tnt_acme")
    auth = ScaiGridAuth(scaigrid_server.base_url, token, "user_jwt")
    assert len(await client.list_models(auth)) == 4
    sent = scaigrid_server.last("list_models")
    assert (sent.authorization, sent.identity) == (f"Bearer {token}", "jwt:usr_alice")
    assert token not in repr(auth)


@pytest.mark.parametrize(("core_id", "raw"), [
    ("../../models", "..%2F..%2Fmodels"),
    ("..", "%2E%2E"),
    ("a?b#c d", "a%3Fb%23c%20d"),
    ("core_ü", "core_%C3%BC"),
])
async def test_ids_are_quoted_path_segments(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth,
    core_id: str, raw: str
) -> None:
    with pytest.raises(ScaiGridError) as caught:
        await client.get_core(auth, core_id)
    assert (caught.value.status, caught.value.code) == (404, "NOT_FOUND")
    sent = scaigrid_server.last("get_core")
    assert sent.raw_path == f"/v1/modules/scaicore/cores/{raw}"
    assert sent.path == f"/v1/modules/scaicore/cores/{core_id}"


async def test_query_values_are_encoded(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient, auth: ScaiGridAuth
) -> None:
    await client.list_events(auth, core_id="a&b=c#d", limit=5, cursor=None)
    assert scaigrid_server.last("list_events").query == {"core_id": "a&b=c#d", "limit": "5"}


async def test_an_empty_id_is_a_programming_error(client: ScaiGridClient,
                                                  auth: ScaiGridAuth) -> None:
    with pytest.raises(ValueError):
        await client.get_core(auth, "")


async def test_base_url_with_a_path_prefix_and_trailing_slash(
    scaigrid_server: FakeScaiGrid, client: ScaiGridClient
) -> None:
    auth = ScaiGridAuth(scaigrid_server.base_url + "/", scaigrid_server.api_key, "env_key")
    assert len(await client.list_models(auth)) == 4
    assert scaigrid_server.last("list_models").raw_path == "/v1/models"


async def test_a_session_object_works_as_well_as_a_factory(
    scaigrid_server: FakeScaiGrid, session: aiohttp.ClientSession, auth: ScaiGridAuth
) -> None:
    assert len(await ScaiGridClient(session).list_models(auth)) == 4


# -- the stand-in as a process -----------------------------------------------------------------
async def test_the_stand_in_runs_by_hand_and_stops_on_sigterm() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.scaigrid", "--port", str(port),
        "--api-key", "sgk_by_hand", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        banner = [(await asyncio.wait_for(process.stdout.readline(), 20)).decode()
                  for _ in range(3)]
        assert f"SCAIGRID_BASE_URL=http://127.0.0.1:{port} SCAIGRID_API_KEY=sgk_by_hand" \
            in banner[2]
        session = create_upstream_session(Settings(upstream_timeout_seconds=5))
        try:
            auth = ScaiGridAuth(f"http://127.0.0.1:{port}", "sgk_by_hand", "env_key")
            assert len(await ScaiGridClient(session).list_models(auth)) == 4
        finally:
            await session.close()
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
