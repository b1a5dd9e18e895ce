"""Logs against the real appliance: its recent log lines, followed live without a key press;
the level and the `/` filter narrow them."""

from __future__ import annotations

import logging

from textual.widgets import RichLog

from tests.tui.helpers import SIZE, TuiSession, settle, static_text, wait_for
from tui.screens.logs import LogsScreen

LOG = logging.getLogger("scaiflow_box.tests.tui")


def shown(app: object) -> str:
    log = app.screen.query_one("#log", RichLog)  # type: ignore[attr-defined]
    return "\n".join(line.text for line in log.lines)


async def test_the_tail_follows_new_lines_and_filters_them(tui_session: TuiSession) -> None:
    LOG.warning("disk usage at 91 %% on /var/lib/scaiflow-box")
    app = tui_session.app(auto_reload=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await settle(pilot)
        assert isinstance(app.screen, LogsScreen)
        await wait_for(pilot, lambda: "disk usage at 91 %" in shown(app))
        assert "WARNING  scaiflow_box.tests.tui: disk usage at 91 %" in shown(app)
        assert static_text(app, "#logs-info").startswith("Level ≥ info · following every 2 s")
        LOG.error("ScaiGrid unreachable for 3 deploys")  # no key pressed: the tail shows it
        await wait_for(pilot, lambda: "ScaiGrid unreachable" in shown(app), timeout=8)
        await pilot.press("slash", *"scaigrid", "enter")
        await settle(pilot)
        assert "ScaiGrid unreachable" in shown(app) and "disk usage" not in shown(app)
        await pilot.press("p")  # paused: said so
        assert static_text(app, "#logs-info").startswith("Level ≥ info · paused")
