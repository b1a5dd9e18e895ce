"""A banner that says why a screen has no (fresh) data: unreachable (the data shown is then
marked stale, with what still works), refused, forbidden."""

from __future__ import annotations

from datetime import datetime

from textual.reactive import reactive
from textual.widgets import Static

from tui.formatting import clock_time
from tui.transport import AdminClientError, ApiError, ApiUnavailable

DATA_DIR_HINT = ("9 opens the data-directory tools, which work without the server: backup, "
                 "restore, key rotation, JWKS import, admin grant.")


def describe_problem(error: AdminClientError) -> str:
    """One operator-facing paragraph for a client failure."""
    if isinstance(error, ApiUnavailable):
        return (f"Appliance unreachable: {error.reason}\n"
                f"URL: {error.base_url} · press r to retry")
    if isinstance(error, ApiError) and error.status == 401:
        return (f"The appliance refused the TUI's session token: {error.message}\n"
                "Is --url the appliance whose --data-dir minted the token?")
    if isinstance(error, ApiError) and error.status == 403:
        return (f"Not allowed: {error.message}\n"
                "The TUI signs in as --sub/--tenant (default usr_operator@tnt_local); that "
                "user needs the super_admin role (`scaiflow-box admin grant`).")
    return str(error)


def stale_text(url: str, reason: str, *, down_since: datetime | None,
               loaded_at: datetime | None, tools: bool) -> str:
    since = f" since {clock_time(down_since)}" if down_since else ""
    data = (f"The data below is STALE: last read at {clock_time(loaded_at)}."
            if loaded_at else "No data could be read yet.")
    text = (f"Appliance unreachable{since}: {reason}\n"
            f"{data} Checking {url} every few seconds; the screen refreshes when it answers.")
    return text + ("\n" + DATA_DIR_HINT if tools else "")


class ProblemBanner(Static):
    """Hidden while `problem` is None."""

    problem: reactive[str | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.display = False

    def show_error(self, error: AdminClientError) -> None:
        self.set_class(isinstance(error, ApiUnavailable), "-unreachable")
        self.problem = describe_problem(error)

    def show_stale(self, text: str) -> None:
        self.set_class(True, "-unreachable")
        self.problem = text

    def clear(self) -> None:
        self.problem = None

    def watch_problem(self, problem: str | None) -> None:
        self.display = problem is not None
        self.update(problem or "")
