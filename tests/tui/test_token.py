"""The TUI's credential: minted from the data dir like the CLI, renewed, revoked on exit."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scaiflow_box.commands.tui_session import (
    RENEW_BEFORE_SECONDS,
    SESSION_TTL_SECONDS,
    LocalTokenSource,
    SessionTokenError,
    mint_session_token,
)
from scaiflow_box.config import load_settings
from scaiflow_box.store.read_cache import EXTERNAL_CHECK_INTERVAL
from tests.conftest import Appliance
from tests.db_backend import database_environment


async def status_with(appliance: Appliance, token: str) -> int:
    response = await appliance.client.get("/api/v1/me",
                                          headers={"Authorization": f"Bearer {token}"})
    return response.status


async def test_a_session_token_is_a_15_minute_service_token_for_the_operator(
        appliance: Appliance) -> None:
    minted = await asyncio.to_thread(mint_session_token, appliance.settings,
                                     sub="usr_operator", tenant_id="tnt_local")
    [row] = appliance.sql("SELECT sub, tenant_id, scope, description, created_by, expires_at"
                          " FROM service_tokens WHERE id = ?", minted.id)
    assert (row["sub"], row["tenant_id"], row["created_by"]) == ("usr_operator", "tnt_local",
                                                                 "tui")
    assert row["description"] == "scaiflow-box tui session"
    lifetime = minted.expires_at - datetime.now(UTC)
    assert timedelta(seconds=SESSION_TTL_SECONDS - 30) < lifetime \
        <= timedelta(seconds=SESSION_TTL_SECONDS)
    assert minted.token not in repr(minted)
    assert await status_with(appliance, minted.token) == 200


async def test_no_database_is_a_clear_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    settings = load_settings({"SCAIFLOW_DATA_DIR": str(missing), "SCAIFLOW_ENV_FILE": ""})
    with pytest.raises(SessionTokenError, match=r"nowhere is not an initialised scaiflow-box "
                                                r"data directory; run `scaiflow-box init"):
        await asyncio.to_thread(mint_session_token, settings, sub="usr_operator",
                                tenant_id="tnt_local")
    assert not missing.exists()
    # an empty directory (or one holding only a master key) stays untouched as well
    missing.mkdir()
    (missing / "master.key").write_text("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    with pytest.raises(SessionTokenError, match="not an initialised"):
        await asyncio.to_thread(mint_session_token, settings, sub="usr_operator",
                                tenant_id="tnt_local")
    assert sorted(p.name for p in missing.iterdir()) == ["master.key"]


async def test_a_missing_master_key_is_a_clear_error(appliance: Appliance,
                                                     tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    database = database_environment(appliance.settings)  # MariaDB: the same database
    if not database:
        await asyncio.to_thread(appliance.db.backup_to, copy / "scaiflow.db")  # type: ignore[attr-defined]
    settings = load_settings({"SCAIFLOW_DATA_DIR": str(copy), "SCAIFLOW_ENV_FILE": "",
                              **database})
    with pytest.raises(SessionTokenError, match="no master key"):
        await asyncio.to_thread(mint_session_token, settings, sub="usr_operator",
                                tenant_id="tnt_local")
    # with the right key the copy works
    shutil.copy(appliance.settings.master_key_path, copy / "master.key")
    minted = await asyncio.to_thread(mint_session_token, settings, sub="usr_operator",
                                     tenant_id="tnt_local")
    assert minted.token


async def test_a_wrong_master_key_is_a_clear_error(appliance: Appliance,
                                                   tmp_path: Path) -> None:
    other = tmp_path / "other-key"
    other.write_text("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    other.chmod(0o600)
    settings = load_settings({"SCAIFLOW_DATA_DIR": str(appliance.settings.data_dir),
                              "SCAIFLOW_MASTER_KEY_FILE": str(other),
                              "SCAIFLOW_ENV_FILE": "", **database_environment(appliance.settings)})
    with pytest.raises(SessionTokenError, match="cannot use the master key"):
        await asyncio.to_thread(mint_session_token, settings, sub="usr_operator",
                                tenant_id="tnt_local")


async def test_an_invalid_subject_is_refused(appliance: Appliance) -> None:
    with pytest.raises(SessionTokenError, match="cannot mint a session token: sub must be"):
        await asyncio.to_thread(mint_session_token, appliance.settings, sub="no spaces",
                                tenant_id="tnt_local")


async def test_a_sub_that_cannot_sign_in_gets_no_token_and_creates_no_user(
        appliance: Appliance) -> None:
    """Minting for a mistyped --sub would create that user on the token's first use."""
    await appliance.user("usr_gone", "tnt_local")
    await appliance.user("usr_elsewhere", "tnt_acme")
    await appliance.db.write(lambda conn: conn.execute(
        "UPDATE users SET deleted_at = '2026-01-01T00:00:00.000Z' WHERE id = 'usr_gone'"))
    users_before = appliance.sql("SELECT id FROM users ORDER BY id")
    cases = {
        "usr_typo": "cannot sign in as usr_typo in tnt_local: no such user. The TUI signs in "
                    "as an existing user",
        "usr_gone": "cannot sign in as usr_gone: the user was deleted 2026-01-01",
        "usr_elsewhere": "cannot sign in as usr_elsewhere in tnt_local: that user belongs to "
                         "tnt_acme (pass --tenant tnt_acme)",
    }
    for sub, message in cases.items():
        with pytest.raises(SessionTokenError) as refused:
            await asyncio.to_thread(mint_session_token, appliance.settings, sub=sub,
                                    tenant_id="tnt_local")
        assert str(refused.value).startswith(message), str(refused.value)
    assert appliance.sql("SELECT id FROM service_tokens") == []
    assert appliance.sql("SELECT id FROM users ORDER BY id") == users_before


async def test_renewal_before_expiry_and_revocation_of_every_session_token(
        appliance: Appliance) -> None:
    now = [datetime.now(UTC).timestamp()]
    source = LocalTokenSource(appliance.settings, sub="usr_operator", tenant_id="tnt_local",
                              clock=lambda: now[0])
    # concurrent first requests share one mint
    first_tokens = await asyncio.gather(*(source.bearer() for _ in range(5)))
    assert len(set(first_tokens)) == 1
    first = first_tokens[0]
    assert len(source.session_token_ids()) == 1
    assert await source.bearer() == first  # still fresh

    now[0] += SESSION_TTL_SECONDS - RENEW_BEFORE_SECONDS + 1  # close to expiry
    second = await source.bearer()
    assert second != first
    ids = source.session_token_ids()
    assert len(ids) == 2
    # the replaced token is not revoked while requests may still carry it
    assert await status_with(appliance, first) == 200

    revoked = await asyncio.to_thread(source.revoke_all)
    assert sorted(revoked) == sorted(ids)
    rows = appliance.sql("SELECT id, revoked_at FROM service_tokens WHERE created_by = 'tui'")
    assert {r["id"] for r in rows} == ids
    assert all(r["revoked_at"] for r in rows)
    # Revoked from another connection (as the TUI process does): applies within the bound.
    await asyncio.sleep(EXTERNAL_CHECK_INTERVAL * 3)  # the bound (and a poll's round trips), slack
    assert await status_with(appliance, first) == 401
    assert await status_with(appliance, second) == 401
    audit = appliance.sql("SELECT actor FROM audit_log WHERE action = 'service_token.revoked'")
    assert [a["actor"] for a in audit] == ["tui", "tui"]
    assert source.session_token_ids() == frozenset()
    assert await asyncio.to_thread(source.revoke_all) == []  # idempotent
