"""What every screen shares: at 80x24 the nav names every area and the footer's keys fit; `?`
lists the screen's keys; the command palette holds every area and action and runs them; a key
means one thing on a screen and its dialogs; light and dark themes; `tui/` is a REST client
that imports nothing of the server."""

from __future__ import annotations

import ast
from pathlib import Path

from textual.binding import Binding
from textual.command import CommandPalette
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from tests.tui.helpers import settle, static_text
from tests.tui.stub import stub_app
from tui.app import SCREENS, screen_actions
from tui.areas import AREAS
from tui.screens.acl_forms import AclForm
from tui.screens.catalog_forms import ExportForm, ImportForm, VisibilityForm
from tui.screens.confirm import ConfirmScreen
from tui.screens.data_dir_forms import BackupForm
from tui.screens.help import HelpScreen
from tui.screens.mint_token import MintTokenScreen
from tui.screens.rotate_master_key import RotateMasterKeyScreen
from tui.screens.security import SecurityScreen
from tui.screens.set_credentials import SetCredentialsScreen
from tui.screens.tenant_picker import TenantPickerScreen
from tui.screens.text_viewer import TextViewerScreen
from tui.widgets.nav_bar import NavBar, nav_text

TUI = Path(__file__).parents[2] / "tui"
DIALOGS = (ConfirmScreen, RotateMasterKeyScreen, MintTokenScreen, SetCredentialsScreen,
           AclForm, BackupForm, TextViewerScreen, HelpScreen, ExportForm, ImportForm,
           VisibilityForm, TenantPickerScreen)


async def test_at_80x24_the_nav_names_every_area_and_the_footer_fits() -> None:
    app = stub_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for area in AREAS:
            await pilot.press(area.key)
            await settle(pilot)
            nav = app.screen.query_one(NavBar)
            text, _ = nav_text(area.mode, nav.size.width, nav.up)
            assert text.cell_len <= 80
            for other in AREAS:  # every area by key and (short) name
                assert f"{other.key} {other.short}" in text.plain
            keys = list(app.screen.query_one(Footer).query(FooterKey))
            assert keys, area.mode
            for key in keys:
                assert key.region.right <= 80, (area.mode, key.key, key.region)
            shown = {key.key for key in keys}
            assert {"question_mark", "q"} <= shown, (area.mode, shown)


def test_the_nav_uses_full_names_where_there_is_room() -> None:
    text, _ = nav_text("flows", 120, True)
    assert "2 Users & groups" in text.plain and "9 Data directory" in text.plain
    narrow, _ = nav_text("flows", 40, False)
    assert narrow.cell_len <= 40 and "6 Flows" in narrow.plain and "✗" in narrow.plain


async def test_question_mark_lists_the_keys_of_the_screen() -> None:
    app = stub_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        help_screen = app.screen
        own = dict(help_screen.own)
        for binding in screen_actions(SecurityScreen):
            assert own[binding.key] == binding.tooltip
        shared = [what for _, what in help_screen.shared]
        assert "Go to Dashboard" in shared and "Filter this screen's tables" in shared
        assert "Show the keys of this screen" in shared
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SecurityScreen)


async def test_the_palette_finds_mint_service_token_by_token_and_runs_it() -> None:
    app = stub_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"token")
        await settle(pilot)
        await pilot.pause(0.3)
        await pilot.press("enter")  # the best match: Mint service token
        await settle(pilot)
        assert isinstance(app.screen, MintTokenScreen)
        assert app.screen_stack[-2].__class__ is SecurityScreen


async def test_the_palette_holds_every_area_and_action() -> None:
    app = stub_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for area in AREAS:
            assert f"Go to {area.title}" in titles
            for binding in screen_actions(SCREENS[area.mode]):
                assert binding.tooltip in titles, (area.mode, binding.key)
        assert "Switch to another tenant" in titles  # Flows and Catalog share it
        assert "Mint service token" in titles and "Toggle light/dark theme" in titles


def test_a_key_means_one_thing_on_a_screen_and_in_its_dialogs() -> None:
    app_keys = {b.key for b in app_bindings()}
    for screen in SCREENS.values():
        keys = [key for b in screen_actions(screen) for key in b.key.split(",")]
        assert len(keys) == len(set(keys)), screen
        assert not set(keys) & app_keys, screen
    for dialog in DIALOGS:
        dialog_keys = {key for b in dialog.BINDINGS if isinstance(b, Binding)
                       for key in b.key.split(",")}
        # a dialog never cancels with a letter a screen uses to act (`n` was Mint and Cancel)
        assert "n" not in dialog_keys, dialog
        assert dialog_keys <= {"y", "e", "escape", "ctrl+s", "c", "question_mark"}, dialog


def app_bindings() -> list[Binding]:
    from tui.app import ScaiflowAdmin

    return [b for b in ScaiflowAdmin.BINDINGS if isinstance(b, Binding)]


async def test_ctrl_t_switches_between_light_and_dark() -> None:
    app = stub_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-dark"


async def test_slash_filters_the_tables() -> None:
    app = stub_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("slash", *"glob")
        await settle(pilot)
        tenants = [row[0] for row in app.screen.query_one("#tenants").row_texts()]
        assert tenants == ["tnt_globex"]
        assert "filter “glob”: 1 of 3 row(s)" in static_text(app, "#status")
        await pilot.press("escape")
        await settle(pilot)
        assert len(app.screen.query_one("#tenants").row_texts()) == 3


def test_tui_imports_nothing_of_the_server() -> None:
    """The console is a REST client: the token source and the data-directory tools are handed
    in by `scaiflow-box tui` (scaiflow_box/tui_command.py)."""
    for path in TUI.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(name.startswith("scaiflow_box") for name in names), path
