"""The board's sessions over their whole life, as a state machine: links made, revoked and expired by the clock,
members who leave, are kicked or banned and come back, sessions and streams opened, the bot restarted. Whatever
the order, no session reads and no stream stays open once its right has ended, and a right still held is never
refused (limits aside)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from bot.board.server import BoardServer
from bot.board.sessions import Limits, Refused, Session, Stream

ROOM = "!forum"
PEOPLE = ("@anna:example.org", "@bengt:example.org", "@sara:example.org")
START = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


@dataclass
class World:
    """What the bot knows: the links (expiry, revoked) and who is in the forum's room."""

    now: datetime = START
    links: dict[int, tuple[datetime, bool]] = field(default_factory=dict)
    members: set[str] = field(default_factory=lambda: set(PEOPLE))

    def in_force(self, link_id: int) -> bool:
        expires, revoked = self.links[link_id]
        return not revoked and expires > self.now


class Data:
    """The bot's side of the board, answered from the model."""

    def __init__(self, world: World) -> None:
        self.world = world

    def room_now(self, room_id: str) -> str:
        return room_id

    def forum_of_room(self, room_id: str) -> str | None:
        return "samordnande" if room_id == ROOM else None

    async def is_member(self, user_id: str, room_id: str) -> bool:
        return user_id in self.world.members

    async def link(self, secret: str) -> tuple[int, str, datetime] | None:
        link_id = int(secret)
        return (link_id, "samordnande", self.world.links[link_id][0]) if self.world.in_force(link_id) else None

    async def link_valid(self, link_id: int) -> bool:
        return self.world.in_force(link_id)

    async def snapshot(self, forum_id: str) -> dict[str, Any]:
        return {"forum": forum_id}


@dataclass(eq=False)
class Held:
    """A session as its holder sees it: the token, and the right it stands on."""

    session: Session
    who: str  # a person, or "link:<id>"
    link_id: int | None
    joined_at: int  # the person's join count when it was granted
    losses: int  # how often the bot had been put out of the room then
    streams: list[Stream] = field(default_factory=list)


class Lifecycle(RuleBasedStateMachine):
    links = Bundle("links")
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.world = World()
        self.joins = dict.fromkeys(PEOPLE, 0)  # how often each has (re)joined
        self.losses = 0  # how often the bot was put out of the room
        self.server = self._server()
        self.held: list[Held] = []

    def _server(self) -> BoardServer:
        return BoardServer("127.0.0.1:0", Data(self.world), {}, lambda key: key, lambda: self.world.now,
                           Limits(sessions_per_link=3, sessions_per_user=2, streams_per_session=2,
                                  checks_per_minute=1000))

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.loop.close()

    def right_holds(self, held: Held) -> bool:
        if held.session.expires <= self.world.now:
            return False
        if held.link_id is not None:
            return self.world.in_force(held.link_id)  # a link does not stand on the bot's membership
        return held.who in self.world.members and self.joins[held.who] == held.joined_at and \
            self.losses == held.losses

    # ---- what people and the bot do ----

    @rule(target=links, minutes=st.integers(5, 180))
    def make_link(self, minutes: int) -> int:
        link_id = len(self.world.links) + 1
        self.world.links[link_id] = (self.world.now + timedelta(minutes=minutes), False)
        return link_id

    @rule(link_id=links)
    def revoke(self, link_id: int) -> None:
        self.world.links[link_id] = (self.world.links[link_id][0], True)
        self.server.changed()  # what the commit tells the board
        self.run(self.server.recheck())  # and what the board then does

    @rule(minutes=st.integers(1, 90))
    def time_passes(self, minutes: int) -> None:
        self.world.now += timedelta(minutes=minutes)
        self.heartbeats()

    @rule(who=st.sampled_from(PEOPLE), how=st.sampled_from(["leave", "kick", "ban"]))
    def put_out(self, who: str, how: str) -> None:
        if who in self.world.members:
            self.world.members.discard(who)
            self.server.member_left(ROOM, who, "ban" if how == "ban" else "leave")

    @rule(who=st.sampled_from(PEOPLE))
    def rejoin(self, who: str) -> None:
        if who not in self.world.members:
            self.world.members.add(who)
            self.joins[who] += 1

    @rule()
    def bot_put_out(self) -> None:
        """The bot is kicked from the room (and joins again): it heard nothing of the members meanwhile."""
        self.losses += 1
        self.server.room_lost(ROOM)

    @rule()
    def restart(self) -> None:
        self.server.sessions.everything_ends()
        self.server = self._server()

    @rule(target=sessions, link_id=links)
    def open_on_link(self, link_id: int) -> Held | None:
        try:
            session = self.run(self.server.link_session(str(link_id)))
        except Refused:
            return None
        assert (session is not None) == self.world.in_force(link_id), "a link in force opens, no other"
        if session is None:
            return None
        held = Held(session, f"link:{link_id}", link_id, 0, self.losses)
        self.held.append(held)
        return held

    @rule(target=sessions, who=st.sampled_from(PEOPLE))
    def open_as_member(self, who: str) -> Held | None:
        try:
            session = self.run(self.server.member_session(who, ROOM, "samordnande"))
        except Refused:
            return None
        assert (session is not None) == (who in self.world.members), "members open, nobody else"
        if session is None:
            return None
        held = Held(session, who, None, self.joins[who], self.losses)
        self.held.append(held)
        return held

    @rule(held=sessions)
    def open_stream(self, held: Held | None) -> None:
        if held is None or self.run(self.server.in_force(held.session.token)) is None:
            return
        stream = Stream()
        try:
            self.server.sessions.open_stream(held.session.token, stream)
        except Refused:
            return
        held.streams.append(stream)

    @rule(held=consumes(sessions))
    def close_streams(self, held: Held | None) -> None:
        if held is not None:
            for stream in held.streams:
                self.server.sessions.close_stream(held.session.token, stream)
            held.streams.clear()  # the page closed them: nothing of them is open any more

    def heartbeats(self) -> None:
        """What each open stream does at its check: look at its session."""
        for held in self.held:
            if any(not s.ended for s in held.streams):
                self.run(self.server.in_force(held.session.token))

    # ---- what must hold ----

    @invariant()
    def no_reads_after_the_right_ended(self) -> None:
        for held in self.held:
            reads = self.run(self.server.in_force(held.session.token)) is not None
            if not self.right_holds(held):
                assert not reads, f"{held.who}'s session still reads after its right ended"
                assert all(s.ended for s in held.streams), f"{held.who}'s stream is still open"

    @invariant()
    def a_right_still_held_reads(self) -> None:
        for held in self.held:
            if self.right_holds(held) and held.session.token in self.server.sessions.by_token:
                assert self.run(self.server.in_force(held.session.token)) is held.session


Lifecycle.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_board_session_lifecycle = Lifecycle.TestCase


async def test_a_leave_that_arrives_while_the_homeserver_is_asked_refuses_the_session() -> None:
    """The homeserver said "member" just before the person left: the leave event that arrives meanwhile wins, and
    no session is given; asked again after it, the homeserver's answer decides."""
    world = World()

    class Racing(Data):
        async def is_member(self, user_id: str, room_id: str) -> bool:
            server.member_left(room_id, user_id, "leave")  # the leave arrives while the answer travels
            world.members.discard(user_id)
            return True  # the answer was written before the leave

    server = BoardServer("127.0.0.1:0", Racing(world), {}, lambda key: key, lambda: world.now)
    assert await server.member_session(PEOPLE[0], ROOM, "samordnande") is None
    assert server.sessions.by_token == {}
