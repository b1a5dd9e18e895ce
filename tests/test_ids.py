"""The one plain-id pattern (SPEC §1): token `sub`/`tenant_id` and service-token mint requests."""

from __future__ import annotations

import pytest

from scaiflow_box.ids import is_plain_id
from scaiflow_box.services.service_tokens import TokenRequestError, check_mint_request


@pytest.mark.parametrize("value", [
    "usr_alice", "tnt_acme", "ci-bot", "svc.ci:prod@acme", "a", "x" * 200, "0",
])
def test_plain_ids(value: str) -> None:
    assert is_plain_id(value)


@pytest.mark.parametrize("value", [
    "", "x" * 201, "usr_alice\n", "\nusr_alice", "usr\x00alice", "usr/alice", "usr alice",
    "usr\talice", "usr_ålice", "usr_alice\u2028", None, 42, ["usr_alice"], b"usr_alice",
])
def test_not_plain_ids(value: object) -> None:
    assert not is_plain_id(value)


@pytest.mark.parametrize(("sub", "tenant"), [("ci-bot\n", "tnt_acme"), ("ci-bot", "tnt_acme\n"),
                                             ("ci/bot", "tnt_acme"), ("ci-bot", "")])
def test_mint_requests_use_the_same_pattern(sub: str, tenant: str) -> None:
    # A trailing newline used to pass: `^…$` matches before a final "\n".
    with pytest.raises(TokenRequestError):
        check_mint_request(sub, tenant, "scaicore:view", 3600)
    check_mint_request("ci-bot", "tnt_acme", "scaicore:view", 3600)
