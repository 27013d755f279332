"""The board's HTTP side: the page, a session for a verified member (an OpenID token from the Widget API, or a
link made for a wall screen), the forum's state, and server-sent events that carry each change.

A session token travels in the `Authorization` header, never in a cookie (cookies fail in iframes); it lives an
hour, and the page asks for a new one when it has expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from bot.board.openid import NotVerified, user_of

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
FILES = {"board.js": "text/javascript", "board.css": "text/css", "matrix-widget-api.min.js": "text/javascript"}
SESSION_SECONDS = 3600
HEARTBEAT = 15.0  # seconds between comments that keep a quiet stream open through proxies
SETTLE = 0.1  # seconds a burst of changes waits, so that it makes one update


class BoardData(Protocol):
    """What the board asks of the bot, in the bot's words; it never reads the database itself."""

    def forum_of_room(self, room_id: str) -> str | None: ...
    async def is_member(self, user_id: str, room_id: str) -> bool: ...
    async def link(self, secret: str) -> tuple[int, str] | None: ...  # (link id, forum id) if valid now
    async def link_valid(self, link_id: int) -> bool: ...
    async def snapshot(self, forum_id: str) -> dict[str, Any]: ...


@dataclass
class Session:
    who: str  # a Matrix id, or "link:<id>"
    forum_id: str
    expires: float  # monotonic
    link_id: int | None = None


class BoardServer:
    def __init__(self, listen: str, data: BoardData, homeservers: Mapping[str, str],
                 say: Callable[[str], str]) -> None:
        self.listen = listen
        self.data = data
        self.homeservers = homeservers  # server name -> the homeserver to ask (the configured one)
        self.say = say
        self.sessions: dict[str, Session] = {}
        self._streams: dict[str, set[asyncio.Queue[bytes | None]]] = defaultdict(set)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._pusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024)
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
        for queues in self._streams.values():
            for queue in queues:
                queue.put_nowait(None)
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def changed(self) -> None:
        """Something the bot keeps has changed: every open board gets its forum's state anew."""
        self._changed.set()

    # ---- pages ----

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "board.html", headers=_NO_FRAME_LIMITS)

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Content-Type": FILES[name], **_NO_FRAME_LIMITS})

    # ---- sessions ----

    def _refuse(self, status: int, key: str) -> web.Response:
        return web.json_response({"error": self.say(key)}, status=status)

    async def _session(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return self._refuse(400, "board.bad_request")
        if not isinstance(body, dict):
            return self._refuse(400, "board.bad_request")
        if isinstance(body.get("link"), str):
            found = await self.data.link(body["link"][:200])
            if found is None:
                return self._refuse(403, "board.link_invalid")
            link_id, forum_id = found
            return self._issue(Session(f"link:{link_id}", forum_id, time.monotonic() + SESSION_SECONDS, link_id))
        openid, room_id = body.get("openid"), body.get("room_id")
        if not isinstance(openid, dict) or not isinstance(room_id, str):
            return self._refuse(400, "board.bad_request")
        token, server = openid.get("access_token"), openid.get("matrix_server_name")
        if not isinstance(token, str) or not isinstance(server, str):
            return self._refuse(400, "board.bad_request")
        forum = self.data.forum_of_room(room_id)
        if forum is None:
            return self._refuse(404, "board.no_forum")
        assert self._http is not None
        try:
            user = await user_of(self._http, token[:500], server[:255], self.homeservers)
        except NotVerified as exc:
            log.warning("board: a token was refused: %s", exc)
            return self._refuse(403, "board.not_verified")
        if not await self.data.is_member(user, room_id):
            log.info("board: %s is not a member of %s", user, room_id)
            return self._refuse(403, "board.not_member")
        return self._issue(Session(user, forum, time.monotonic() + SESSION_SECONDS))

    def _issue(self, session: Session) -> web.Response:
        now = time.monotonic()
        self.sessions = {t: s for t, s in self.sessions.items() if s.expires > now}
        token = secrets.token_urlsafe(32)
        self.sessions[token] = session
        return web.json_response({"token": token, "expires_in": SESSION_SECONDS, "forum": session.forum_id})

    def _authorised(self, request: web.Request) -> tuple[str, Session] | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        session = self.sessions.get(token) if scheme.lower() == "bearer" else None
        if session is None or session.expires <= time.monotonic():
            return None
        return token, session

    # ---- data ----

    async def _state(self, request: web.Request) -> web.Response:
        found = self._authorised(request)
        if found is None:
            return self._refuse(401, "board.unauthorised")
        return web.json_response(await self.data.snapshot(found[1].forum_id))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        found = self._authorised(request)
        if found is None:
            return self._refuse(401, "board.unauthorised")
        token, session = found
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._streams[token].add(queue)
        try:
            queue.put_nowait(_event(await self.data.snapshot(session.forum_id)))
            while True:
                try:
                    state = await asyncio.wait_for(queue.get(), HEARTBEAT)
                except TimeoutError:
                    if session.expires <= time.monotonic():
                        break  # the page asks for a new session
                    await response.write(b": still here\n\n")
                    continue
                if state is None or session.expires <= time.monotonic():
                    break
                await response.write(state)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._streams[token].discard(queue)
            if not self._streams[token]:
                del self._streams[token]
        return response

    async def _push(self) -> None:
        """After each change: one snapshot per forum that has open boards, to each of them; a revoked link's
        board is closed."""
        while True:
            await self._changed.wait()
            await asyncio.sleep(SETTLE)
            self._changed.clear()
            by_forum: dict[str, list[asyncio.Queue[bytes | None]]] = defaultdict(list)
            for token, queues in list(self._streams.items()):
                session = self.sessions.get(token)
                if session is None:
                    continue
                if session.link_id is not None and not await self.data.link_valid(session.link_id):
                    self.sessions.pop(token, None)
                    for queue in queues:
                        queue.put_nowait(None)
                    continue
                by_forum[session.forum_id] += queues
            for forum, listening in by_forum.items():
                try:
                    state = _event(await self.data.snapshot(forum))
                except Exception:
                    log.exception("board: the state of %s could not be read", forum)
                    continue
                for queue in listening:
                    queue.put_nowait(state)


def _event(state: dict[str, Any]) -> bytes:
    """A state as one server-sent event, encoded once for every board that shows it."""
    return f"event: state\ndata: {json.dumps(state, ensure_ascii=False)}\n\n".encode()


# The board is meant to be framed by Element: no X-Frame-Options; scripts only from the board itself.
_NO_FRAME_LIMITS = {"Content-Security-Policy": "default-src 'self'; connect-src 'self'; frame-ancestors *",
                    "Referrer-Policy": "no-referrer"}
