"""The presence board (services/presence.py) on a clock the test moves: heartbeats expire
30 s after the last one, sockets keep a viewer while open, every join and leave is told."""

from __future__ import annotations

import pytest

from scaiflow_box.errors import RateLimited
from scaiflow_box.services.presence import MAX_VIEWERS_PER_FLOW, Change, PresenceBoard, Viewer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def board() -> tuple[PresenceBoard, Clock, list[tuple[str, Change, str]]]:
    clock = Clock()
    board = PresenceBoard(clock=clock, wall_clock=lambda: 1_800_000_000.0 + clock.now)
    told: list[tuple[str, Change, str]] = []

    def listen(flow_id: str, change: Change, viewer: Viewer) -> None:
        told.append((flow_id, change, viewer.client_id))

    board.listeners.append(listen)
    return board, clock, told


Fixture = tuple[PresenceBoard, Clock, list[tuple[str, Change, str]]]


def beat(board: PresenceBoard, client: str, user: str = "usr_a", state: dict | None = None,
         flow: str = "flow_1") -> None:  # type: ignore[type-arg]
    board.heartbeat("tnt_a", flow, user_id=user, display_name=user.upper(), client_id=client,
                    can_edit=user == "usr_a", state=state)


def test_a_viewer_expires_30_s_after_its_last_heartbeat(board: Fixture) -> None:
    presence, clock, told = board
    beat(presence, "tab1", state={"selection": ["n1"]})
    clock.now += 20
    beat(presence, "tab1")  # no state: the last one stays
    [viewer] = presence.viewers("flow_1")
    assert viewer.as_dict() == {"user_id": "usr_a", "display_name": "USR_A",
                                "client_id": "tab1", "can_edit": True,
                                "state": {"selection": ["n1"]},
                                "last_seen": "2027-01-15T08:17:00.000Z"}
    clock.now += 29.9
    presence.expire()
    assert [v.client_id for v in presence.viewers("flow_1")] == ["tab1"]
    clock.now += 0.1
    assert presence.viewers("flow_1") == []  # listing already leaves it out
    presence.expire()
    assert told == [("flow_1", "join", "tab1"), ("flow_1", "leave", "tab1")]
    assert presence.flows() == [] and len(presence) == 0


def test_viewers_are_per_user_and_client(board: Fixture) -> None:
    presence, _, told = board
    beat(presence, "tab1", "usr_a")
    beat(presence, "tab1", "usr_b")  # same client id, another user: another viewer
    beat(presence, "tab2", "usr_a")
    beat(presence, "tab1", "usr_a", flow="flow_2")
    assert [(v.user_id, v.client_id, v.can_edit) for v in presence.viewers("flow_1")] == [
        ("usr_a", "tab1", True), ("usr_b", "tab1", False), ("usr_a", "tab2", True)]
    presence.leave("flow_1", "usr_b", "tab2")  # not theirs: nothing happens
    presence.leave("flow_1", "usr_a", "tab2")
    presence.leave("flow_1", "usr_a", "tab2")  # twice is fine
    assert len(presence.viewers("flow_1")) == 2
    assert told[-1] == ("flow_1", "leave", "tab2")
    assert sorted((t, f) for t, f, _ in presence.flows()) == [("tnt_a", "flow_1"),
                                                               ("tnt_a", "flow_2")]


def test_a_socket_keeps_its_viewer_and_a_heartbeat_outlives_it(board: Fixture) -> None:
    presence, clock, told = board
    viewer = presence.attach("tnt_a", "flow_1", user_id="usr_a", display_name=None,
                             client_id="tab1", can_edit=False)
    clock.now += 3600
    presence.expire()
    assert presence.viewers("flow_1") == [viewer]  # a socket never expires
    beat(presence, "tab1")  # the same client's heartbeat: the same viewer, no second join
    presence.detach("flow_1", viewer)
    assert presence.viewers("flow_1") == [viewer]  # the heartbeat is fresh
    presence.leave("flow_1", "usr_a", "tab1")
    assert presence.viewers("flow_1") == []
    assert told == [("flow_1", "join", "tab1"), ("flow_1", "leave", "tab1")]
    other = presence.attach("tnt_a", "flow_1", user_id="usr_b", display_name=None,
                            client_id="tab9", can_edit=False)
    presence.leave("flow_1", "usr_b", "tab9")  # its socket is still open
    assert presence.viewers("flow_1") == [other]
    presence.detach("flow_1", other)
    assert told[-1] == ("flow_1", "leave", "tab9") and len(presence) == 0


def test_heartbeat_viewers_per_flow_are_capped(board: Fixture) -> None:
    presence, _, _ = board
    for index in range(MAX_VIEWERS_PER_FLOW):
        beat(presence, f"tab{index}")
    with pytest.raises(RateLimited) as refused:
        beat(presence, "one-more")
    assert refused.value.code == "too_many_viewers" and refused.value.retry_after == "30"
    beat(presence, "tab0")  # a known viewer still beats
    assert len(presence.viewers("flow_1")) == MAX_VIEWERS_PER_FLOW
