"""SVG snapshots of every screen at 80x24 and 120x40 (pytest-textual-snapshot), against the
stub transport (tests/tui/stub.py): a busy appliance, an empty one, one that refuses (403),
one of the version before the catalog, and one that does not answer.

The snapshots are under `__snapshots__/test_snapshots/`; after a deliberate change of a
screen, look at the report pytest writes and accept with `--snapshot-update`. Two of them
are the screenshots in docs/tui.md (a test keeps those identical)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from tests.tui.helpers import settle
from tests.tui.stub import StubAppliance, stub_app

SMALL = (80, 24)
LARGE = (120, 40)
SNAPSHOTS = Path(__file__).parent / "__snapshots__" / "test_snapshots"
DOCS = Path(__file__).parents[2] / "docs" / "images"
DOWN = "connection refused (is `scaiflow-box serve` running?)"
SnapCompare = Callable[..., bool]

SCREENS = [("1", "dashboard"), ("2", "users"), ("3", "security"), ("4", "audit"),
           ("5", "tenants"), ("6", "flows"), ("7", "catalog"), ("8", "logs"),
           ("9", "datadir")]


def steps(*keys: str) -> Callable[[Pilot[int]], Awaitable[None]]:
    """Press `keys` one by one, each once the app is quiet, and stop cursors blinking."""
    async def run(pilot: Pilot[int]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        for widget in pilot.app.screen.query("Input, TextArea"):
            if isinstance(widget, Input | TextArea):
                widget.cursor_blink = False
        await pilot.pause()

    return run


def compare(snap_compare: SnapCompare, size: tuple[int, int], keys: Sequence[str], *,
            routes: dict[str, object] | None = None, down: str | None = None,
            tools: bool = True) -> bool:
    app = stub_app(routes, down=down, tools=tools)  # type: ignore[arg-type]
    return snap_compare(app, terminal_size=size, run_before=steps(*keys))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
@pytest.mark.parametrize(("key", "screen"), SCREENS, ids=[name for _, name in SCREENS])
def test_every_screen(snap_compare: SnapCompare, key: str, screen: str,
                      size: tuple[int, int]) -> None:
    assert compare(snap_compare, size, [key])


@pytest.mark.parametrize(("key", "screen"), SCREENS[:8], ids=[n for _, n in SCREENS[:8]])
def test_every_screen_empty(snap_compare: SnapCompare, key: str, screen: str) -> None:
    assert compare(snap_compare, SMALL, [key], routes=StubAppliance.empty())


@pytest.mark.parametrize(("key", "screen"), [("1", "dashboard"), ("3", "security"),
                                             ("6", "flows")], ids=["dashboard", "security",
                                                                  "flows"])
def test_refused(snap_compare: SnapCompare, key: str, screen: str) -> None:
    """Signed in without an admin role: each screen says why it is empty, and what to do."""
    assert compare(snap_compare, SMALL, [key], routes=StubAppliance.refusing())


@pytest.mark.parametrize(("key", "screen"), [("1", "dashboard"), ("6", "flows"),
                                             ("9", "datadir")], ids=["dashboard", "flows",
                                                                    "datadir"])
def test_server_down(snap_compare: SnapCompare, key: str, screen: str) -> None:
    assert compare(snap_compare, SMALL, [key], down=DOWN)


def test_server_down_without_data_dir_tools(snap_compare: SnapCompare) -> None:
    assert compare(snap_compare, SMALL, ["9"], down=DOWN, tools=False)


def test_an_appliance_without_catalog_or_live_editing(snap_compare: SnapCompare) -> None:
    assert compare(snap_compare, SMALL, ["7"], routes=StubAppliance.without_new_routes())


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
def test_a_flow_opened(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert compare(snap_compare, size, ["6", "enter"])


def test_help_lists_the_keys_of_the_screen(snap_compare: SnapCompare) -> None:
    assert compare(snap_compare, LARGE, ["3", "question_mark"])


def test_the_palette_finds_actions(snap_compare: SnapCompare) -> None:
    assert compare(snap_compare, LARGE, ["ctrl+p", "t", "o", "k", "e", "n"])


def test_light_theme(snap_compare: SnapCompare) -> None:
    assert compare(snap_compare, SMALL, ["ctrl+t"])


DOC_SHOTS = {"tui-dashboard.svg": "test_every_screen[dashboard-120x40].svg",
             "tui-flows.svg": "test_every_screen[flows-120x40].svg"}


def test_the_docs_show_two_of_the_snapshots() -> None:
    for doc, name in DOC_SHOTS.items():
        shot = SNAPSHOTS / name
        assert shot.is_file(), name
        assert (DOCS / doc).read_text() == shot.read_text(), \
            f"docs/images/{doc} is stale: copy {name} over it"
