"""The board's sessions and streams, and the rights they stand on: a member's membership of the forum's room, or
a wall-screen link. A session lives until the first of its hour, its link's expiry, the link's revocation, or its
member leaving, being kicked or banned; what ends a session ends its streams at once. Pure bookkeeping over an
injected time, so that the rules can be checked without a network."""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SESSION_TIME = timedelta(hours=1)


@dataclass(frozen=True)
class Limits:
    """How much one right may hold at once, and how many tokens, and apart from them how many links, one client
    address may have checked in a minute."""

    sessions_per_link: int = 10
    sessions_per_user: int = 5
    streams_per_session: int = 2
    checks_per_minute: int = 60


@dataclass(eq=False)
class Stream:
    """One open event stream; `end` is called once when its session ends (the server wakes the writer)."""

    end: Callable[[], None] = lambda: None
    ended: bool = False

    def stop(self) -> None:
        if not self.ended:
            self.ended = True
            self.end()


@dataclass(eq=False)
class Session:
    who: str  # a Matrix id, or "link:<id>"
    forum_id: str
    expires: datetime
    room_id: str | None = None  # a member's session: the room whose membership grants it
    link_id: int | None = None
    streams: set[Stream] = field(default_factory=set)
    token: str = ""


class Refused(Exception):
    """A limit was reached: `key` is the sentence the page shows, `limit` names the limit for the log."""

    def __init__(self, key: str, limit: str) -> None:
        super().__init__(limit)
        self.key, self.limit = key, limit
        self.subject = ""  # whose limit: a link, a person, a client address
        self.first: bool | None = None  # for the checks: whether this is the first refusal since one was let through


@dataclass
class _Window:
    times: deque[datetime] = field(default_factory=deque)  # the checks let through in the last minute
    told: bool = False  # a refusal has been logged since the last check let through


class Checks:
    """Tokens or links checked per minute, counted for each client address on its own: a flood from one address
    never refuses another. Only a minute's checks are kept, and an address with none is forgotten."""

    def __init__(self, kind: str, per_minute: int) -> None:
        self.kind, self.per_minute = kind, per_minute
        self._windows: dict[str, _Window] = {}
        self._swept: datetime | None = None

    def take(self, client: str, now: datetime) -> None:
        """One more check for `client`, or Refused when its minute's are spent (`first` on the first refusal)."""
        self._sweep(now)
        window = self._windows.setdefault(client, _Window())
        while window.times and now - window.times[0] >= timedelta(minutes=1):
            window.times.popleft()
        if len(window.times) >= self.per_minute:
            refused = Refused("board.too_many_checks", f"{self.kind}_checks_per_minute")
            refused.subject, refused.first, window.told = client, not window.told, True
            raise refused
        window.times.append(now)
        window.told = False

    def _sweep(self, now: datetime) -> None:
        """Once a minute: the addresses with no check in the last minute are forgotten."""
        if self._swept is not None and now - self._swept < timedelta(minutes=1):
            return
        self._swept = now
        self._windows = {client: window for client, window in self._windows.items()
                         if window.times and now - window.times[-1] < timedelta(minutes=1)}


class Sessions:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.by_token: dict[str, Session] = {}
        self._left: dict[tuple[str, str], int] = {}  # (room, user) -> how often they have left it
        self.checks = {kind: Checks(kind, self.limits.checks_per_minute) for kind in ("link", "token")}

    # ---- rights ----

    def left_count(self, room_id: str, user_id: str) -> int:
        """How often the person has left the room (or been put out) since the start: a membership read before a
        change is not trusted after it."""
        return self._left.get((room_id, user_id), 0)

    def member_left(self, room_id: str, user_id: str) -> int:
        """The person left the room, was kicked or banned: every session their membership granted ends."""
        self._left[(room_id, user_id)] = self.left_count(room_id, user_id) + 1
        return self._end(lambda s: s.room_id == room_id and s.who == user_id)

    def room_lost(self, room_id: str) -> int:
        """The bot is out of the room and hears no more of its members: every member session of it ends."""
        return self._end(lambda s: s.room_id == room_id)

    def link_ended(self, link_id: int) -> int:
        """The link was revoked or has expired: every session it opened ends."""
        return self._end(lambda s: s.link_id == link_id)

    def links(self) -> set[int]:
        return {s.link_id for s in self.by_token.values() if s.link_id is not None}

    def everything_ends(self) -> None:
        """A stop: nothing outlives the server."""
        self._end(lambda s: True)

    # ---- sessions ----

    def check_allowed(self, kind: str, client: str, now: datetime) -> None:
        """One more check of a link or a token (`kind`) for the client address, unless its minute's are spent:
        links and tokens each have their own budget, so bad links never hold up a member's token."""
        self.checks[kind].take(client, now)

    def issue(self, session: Session, now: datetime) -> str:
        """A token for a session just granted; the oldest session without a stream gives way when its link or
        person has as many as allowed, and with every one streaming the new one is refused."""
        self.expire(now)
        if session.link_id is not None:
            self._make_room(lambda s: s.link_id == session.link_id, self.limits.sessions_per_link,
                            "board.too_many_sessions_link", "sessions_per_link")
        else:
            self._make_room(lambda s: s.link_id is None and s.who == session.who, self.limits.sessions_per_user,
                            "board.too_many_sessions_user", "sessions_per_user")
        token = secrets.token_urlsafe(32)
        self.by_token[token] = session
        return token

    def _make_room(self, mine: Callable[[Session], bool], limit: int, key: str, name: str) -> None:
        held = [(t, s) for t, s in self.by_token.items() if mine(s)]
        if len(held) < limit:
            return
        idle = [t for t, s in held if not s.streams]
        if not idle:
            raise Refused(key, name)
        for token in idle[: len(held) - limit + 1]:  # in order of issue: the oldest first
            self._drop(token)

    def get(self, token: str, now: datetime) -> Session | None:
        """The session, if it is still in force; an expired one ends here."""
        session = self.by_token.get(token)
        if session is None:
            return None
        if session.expires <= now:
            self._drop(token)
            return None
        return session

    def expire(self, now: datetime) -> int:
        """End every session past its time."""
        return self._end(lambda s: s.expires <= now)

    def open_stream(self, token: str, stream: Stream) -> None:
        session = self.by_token[token]
        if len(session.streams) >= self.limits.streams_per_session:
            raise Refused("board.too_many_streams", "streams_per_session")
        session.streams.add(stream)

    def close_stream(self, token: str, stream: Stream) -> None:
        session = self.by_token.get(token)
        if session is not None:
            session.streams.discard(stream)

    def _end(self, which: Callable[[Session], bool]) -> int:
        ended = [t for t, s in self.by_token.items() if which(s)]
        for token in ended:
            self._drop(token)
        return len(ended)

    def _drop(self, token: str) -> None:
        session = self.by_token.pop(token, None)
        if session is not None:
            for stream in list(session.streams):
                stream.stop()
            session.streams.clear()
