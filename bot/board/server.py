"""The board's HTTP side: the page, a session for a verified member (an OpenID token from the Widget API, or a
link made for a wall screen), the forum's state, and server-sent events that carry each change.

A session token travels in the `Authorization` header, never in a cookie (cookies fail in iframes). A session
lives an hour at most, never past its link, and ends with its right: every request and every stream's check looks
at the link's state, and the sessions of a member who leaves the room, is kicked or banned end at the membership
event (`member_left`), with their streams. The page asks for a new session when its own has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from bot.board.openid import NotVerified, user_of
from bot.board.sessions import SESSION_TIME, Limits, Refused, Session, Sessions, Stream

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
FILES = {"board.js": "text/javascript", "board.css": "text/css", "matrix-widget-api.min.js": "text/javascript"}
HEARTBEAT = 15.0  # seconds between comments that keep a quiet stream open through proxies (the page: silent > 30 s)
CHECK_EVERY = 5.0  # seconds between a stream's checks of its session and link, well within the 10 s promised
SETTLE = 0.1  # seconds a burst of changes waits, so that it makes one update
MAX_BODY = 16 * 1024  # a session request is a token and a room id
_CHECK = b""  # a stream's queue: look at the session now


class BoardData(Protocol):
    """What the board asks of the bot, in the bot's words; it never reads the database itself."""

    def room_now(self, room_id: str) -> str: ...  # the id the room goes by now: an upgraded room's replacement
    def forum_of_room(self, room_id: str) -> str | None: ...
    async def is_member(self, user_id: str, room_id: str) -> bool: ...
    async def link(self, secret: str) -> tuple[int, str, datetime] | None: ...  # (id, forum, expires) if valid now
    async def link_valid(self, link_id: int) -> bool: ...
    async def snapshot(self, forum_id: str) -> dict[str, Any]: ...


class BoardServer:
    def __init__(self, listen: str, data: BoardData, homeservers: Mapping[str, str], say: Callable[[str], str],
                 now: Callable[[], datetime], limits: Limits | None = None,
                 frame_ancestors: Sequence[str] = (), trusted_proxies: Sequence[str] = ()) -> None:
        self.listen = listen
        self.data = data
        self.homeservers = homeservers  # server name -> the homeserver to ask (the configured one)
        self.say = say
        self.now = now
        self.sessions = Sessions(limits)
        self.heartbeat = HEARTBEAT
        self._headers = _headers(frame_ancestors)
        self.trusted_proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self._queues: dict[Stream, tuple[asyncio.Queue[bytes | None], str]] = {}  # stream -> (queue, forum)
        self._told: set[tuple[str, str]] = set()  # (limit, subject) refusals already logged
        # Whether a link is in force, as read since the last change the bot committed (a revocation is one); its
        # expiry is each of its sessions' own.
        self._links: dict[int, bool] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._pusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.on_response_prepare.append(self._secure)
        app.router.add_get("/board/", self._page)
        app.router.add_get("/board/static/{name}", self._static)
        app.router.add_post("/board/api/session", self._session)
        app.router.add_get("/board/api/state", self._state)
        app.router.add_get("/board/api/events", self._events)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, _, port = self.listen.rpartition(":")
        await web.TCPSite(self._runner, host.strip("[]"), int(port)).start()
        self._http = aiohttp.ClientSession()
        self._pusher = asyncio.create_task(self._push(), name="board")
        log.info("board: listening on %s", self.listen)

    async def stop(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        self.sessions.everything_ends()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def changed(self) -> None:
        """Something the bot keeps has changed (a link revoked, too): every link is read again, and every open
        board gets its forum's state anew."""
        self._links.clear()
        self._changed.set()

    def clock_moved(self) -> None:
        """The clock jumped (tests, the demo): every stream looks at its session now."""
        for queue, _ in self._queues.values():
            queue.put_nowait(_CHECK)

    def member_left(self, room_id: str, user_id: str, membership: str) -> None:
        """A member left the room, was kicked or banned: their sessions and streams for it end now."""
        ended = self.sessions.member_left(room_id, user_id)
        if ended:
            log.info("board: %s is no longer in %s (%s): %d sessions ended", user_id, room_id, membership, ended)

    def room_moved(self, old: str, new: str) -> None:
        """The room was upgraded: the sessions its old id granted end, and the pages ask again, for a session that
        stands on membership of the new room (whose leaves, kicks and bans the bot hears from now on)."""
        ended = self.sessions.room_lost(old)
        if ended:
            log.info("board: %s was upgraded to %s: %d sessions ended", old, new, ended)

    def room_lost(self, room_id: str) -> None:
        """The bot is out of the room and hears no more of its members: every member session of it ends."""
        ended = self.sessions.room_lost(room_id)
        if ended:
            log.warning("board: the bot is out of %s: %d sessions ended", room_id, ended)

    # ---- pages ----

    async def _secure(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every answer, errors too: no sniffing, no referrer, scripts only from the board, framed only where
        allowed."""
        response.headers.update(self._headers)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "board.html", headers={"Cache-Control": "no-cache"})

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Content-Type": FILES[name], "Cache-Control": "no-cache"})

    # ---- sessions ----

    def client(self, request: web.Request) -> str:
        """Whom the check budgets count: the peer's address (an IPv6 one by its /64, what one host or household
        holds), or behind a configured proxy the nearest address in X-Forwarded-For that is not a proxy; the
        header is never believed from anyone else."""
        address = _address(request.remote or "")
        if address is None:
            return request.remote or ""
        if self.trusted_proxies and _among(address, self.trusted_proxies):
            hops = ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
            for hop in reversed([h.strip() for h in hops if h.strip()]):
                found = _address(hop)
                if found is None:
                    break
                address = found
                if not _among(found, self.trusted_proxies):
                    break
        if isinstance(address, ipaddress.IPv6Address):
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)

    def _refuse(self, status: int, key: str) -> web.Response:
        return web.json_response({"error": self.say(key)}, status=status)

    def _limited(self, refused: Refused, subject: str) -> web.Response:
        """A limit reached: the page says so; the log says it once, until the limit lets one through again."""
        if refused.first is not None:  # the checks keep their own count, per client address
            first = refused.first
        else:
            first = (refused.limit, subject) not in self._told
            self._told.add((refused.limit, subject))
        if first:
            log.warning("board: %s reached%s; further refusals are not logged until it frees up", refused.limit,
                        f" for {subject}" if subject else "")
        return self._refuse(429, refused.key)

    def _freed(self, limit: str, subject: str = "") -> None:
        self._told.discard((limit, subject))

    async def _session(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError, RecursionError, web.HTTPRequestEntityTooLarge):
            return self._refuse(400, "board.bad_request")
        if not isinstance(body, dict) or not _encodable(body):
            return self._refuse(400, "board.bad_request")
        link, openid, room_id = body.get("link"), body.get("openid"), body.get("room_id")
        if not isinstance(link, str) and not (isinstance(openid, dict) and isinstance(room_id, str)
                                              and room_id.startswith("!")):
            return self._refuse(400, "board.bad_request")
        client = self.client(request)
        try:
            self.sessions.check_allowed("link" if isinstance(link, str) else "token", client, self.now())
        except Refused as refused:
            return self._limited(refused, client)
        if isinstance(link, str):
            return await self._answer(self.link_session(link[:200]), "board.link_invalid")
        assert isinstance(openid, dict) and isinstance(room_id, str)
        token, server = openid.get("access_token"), openid.get("matrix_server_name")
        if not isinstance(token, str) or not isinstance(server, str):
            return self._refuse(400, "board.bad_request")
        room_id = self.data.room_now(room_id)  # a board in an upgraded room's old place stands on the new one
        forum = self.data.forum_of_room(room_id)
        if forum is None:
            return self._refuse(404, "board.no_forum")
        assert self._http is not None
        try:
            user = await user_of(self._http, token[:500], server[:255], self.homeservers)
        except NotVerified as exc:
            log.warning("board: a token was refused: %s", exc)
            return self._refuse(403, "board.not_verified")
        return await self._answer(self.member_session(user, room_id, forum), "board.not_member")

    async def link_session(self, secret: str) -> Session | None:
        """A new session on a link in force (never past the link's expiry), or None; Refused at a limit."""
        found = await self.data.link(secret)
        if found is None:
            return None
        link_id, forum_id, until = found
        return self._issue(Session(f"link:{link_id}", forum_id, min(self.now() + SESSION_TIME, until),
                                   link_id=link_id), f"link {link_id}", "sessions_per_link")

    async def member_session(self, user: str, room_id: str, forum_id: str) -> Session | None:
        """A new session for a member of the forum's room, or None when they are not one (a leave, or the room's
        upgrade, that arrives while the homeserver is asked counts); Refused at a limit."""
        left = self.sessions.left_count(room_id, user)
        if not await self.data.is_member(user, room_id) or self.sessions.left_count(room_id, user) != left \
                or self.data.room_now(room_id) != room_id:
            log.info("board: %s is not a member of %s", user, room_id)
            return None
        return self._issue(Session(user, forum_id, self.now() + SESSION_TIME, room_id=room_id), user,
                           "sessions_per_user")

    def _issue(self, session: Session, subject: str, limit: str) -> Session:
        try:
            session.token = self.sessions.issue(session, self.now())
        except Refused as refused:
            refused.subject = subject
            raise
        self._freed(limit, subject)
        return session

    async def _answer(self, opening: Awaitable[Session | None], refusal: str) -> web.Response:
        try:
            session = await opening
        except Refused as refused:
            return self._limited(refused, refused.subject)
        if session is None:
            return self._refuse(403, refusal)
        return web.json_response({"token": session.token, "forum": session.forum_id,
                                  "expires_in": int((session.expires - self.now()).total_seconds())})

    async def _authorised(self, request: web.Request) -> tuple[str, Session] | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        session = await self.in_force(token)
        return (token, session) if session is not None else None

    async def in_force(self, token: str) -> Session | None:
        """The session if its time, its link and its member's membership all still hold."""
        session = self.sessions.get(token, self.now())
        if session is not None and session.link_id is not None and not await self._link_in_force(session.link_id):
            self.sessions.link_ended(session.link_id)
            return None
        return self.sessions.get(token, self.now())  # a membership event may have come meanwhile

    async def _link_in_force(self, link_id: int) -> bool:
        known = self._links.get(link_id)
        if known is None:
            known = self._links[link_id] = await self.data.link_valid(link_id)
        return known

    # ---- data ----

    async def _state(self, request: web.Request) -> web.Response:
        found = await self._authorised(request)
        if found is None:
            return self._refuse(401, "board.unauthorised")
        state = await self.data.snapshot(found[1].forum_id)
        if await self.in_force(found[0]) is None:  # the right ended while the state was read
            return self._refuse(401, "board.unauthorised")
        return web.json_response(state)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        found = await self._authorised(request)
        if found is None:
            return self._refuse(401, "board.unauthorised")
        token, session = found
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        stream = Stream(end=lambda: queue.put_nowait(None))
        try:
            self.sessions.open_stream(token, stream)
        except Refused as refused:
            return self._limited(refused, session.who)
        self._freed("streams_per_session", session.who)
        self._queues[stream] = (queue, session.forum_id)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        try:
            await response.prepare(request)
            queue.put_nowait(_event(await self.data.snapshot(session.forum_id)))
            written = time.monotonic()
            while not stream.ended:
                left = (session.expires - self.now()).total_seconds()
                try:
                    item = await asyncio.wait_for(queue.get(), max(0.0, min(CHECK_EVERY, left)))
                except TimeoutError:
                    item = _CHECK
                if item is None or stream.ended:
                    break
                if item == _CHECK:
                    if await self.in_force(token) is None:
                        break
                    if time.monotonic() - written < self.heartbeat:
                        continue
                    item = b": still here\n\n"
                await response.write(item)
                written = time.monotonic()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._queues.pop(stream, None)
            self.sessions.close_stream(token, stream)
        return response

    async def _push(self) -> None:
        """After each change: the links still in force are looked at (a revoked link's sessions end, streaming or
        not), then one snapshot per forum that has open boards, to each of them."""
        while True:
            await self._changed.wait()
            await asyncio.sleep(SETTLE)
            self._changed.clear()
            await self.recheck()
            by_forum: dict[str, list[asyncio.Queue[bytes | None]]] = defaultdict(list)
            for stream, (queue, forum) in list(self._queues.items()):
                if not stream.ended:
                    by_forum[forum].append(queue)
            for forum, listening in by_forum.items():
                try:
                    state = _event(await self.data.snapshot(forum))
                except Exception:
                    log.exception("board: the state of %s could not be read", forum)
                    continue
                for queue in listening:
                    queue.put_nowait(state)

    async def recheck(self) -> None:
        """Every link that holds sessions is looked at (a revoked one's sessions end, streaming or not), and every
        session past its time ends."""
        for link_id in self.sessions.links():
            try:
                self._links[link_id] = valid = await self.data.link_valid(link_id)
                if not valid:
                    self.sessions.link_ended(link_id)
            except Exception:
                log.exception("board: link %s could not be checked", link_id)
        self.sessions.expire(self.now())


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> Address | None:
    """An IP address (an IPv4 one inside IPv6 as itself), or None for anything else."""
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _among(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)


def _encodable(body: Any) -> bool:
    """Whether every string in the parsed body (keys too) is text that UTF-8 can encode: JSON lets a lone
    surrogate ("\\ud800") through, which no hash, log or homeserver can take."""
    waiting = [body]
    while waiting:
        value = waiting.pop()
        if isinstance(value, dict):
            waiting += [*value.keys(), *value.values()]
        elif isinstance(value, list):
            waiting += value
        elif isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                return False
    return True


def _event(state: dict[str, Any]) -> bytes:
    """A state as one server-sent event, encoded once for every board that shows it."""
    return f"event: state\ndata: {json.dumps(state, ensure_ascii=False)}\n\n".encode()


def _headers(frame_ancestors: Sequence[str]) -> dict[str, str]:
    """The board is meant to be framed by Element: no X-Frame-Options, and `frame-ancestors` the configured
    Element origins (any, when none are configured); scripts only from the board itself."""
    ancestors = " ".join(frame_ancestors) or "*"
    return {"Content-Security-Policy": f"default-src 'self'; connect-src 'self'; frame-ancestors {ancestors}",
            "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
