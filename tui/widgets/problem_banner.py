"""A banner that says why a screen has no (fresh) data: unreachable, refused, forbidden."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

from tui.client import AdminClientError, ApiError, ApiUnavailable


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


class ProblemBanner(Static):
    """Hidden while `problem` is None."""

    problem: reactive[str | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.display = False

    def show_error(self, error: AdminClientError) -> None:
        self.set_class(isinstance(error, ApiUnavailable), "-unreachable")
        self.problem = describe_problem(error)

    def clear(self) -> None:
        self.problem = None

    def watch_problem(self, problem: str | None) -> None:
        self.display = problem is not None
        self.update(problem or "")
