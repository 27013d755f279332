"""A local HTTP server that plays a feed (SMHI's warnings, a rota calendar): it answers with what the test sets,
honours If-None-Match as a real server does, and records every request. Never the real services."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web
from support import World, settle

from bot.app import App
from bot.config import Settings
from bot.domain.clock import FakeClock


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer:
    """Serves `body` at any path with an ETag; `status` other than 200 answers that instead (with `headers`)."""

    body: bytes = b"[]"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etags: bool = True  # False: a server that sends no ETag, so every poll gets the whole body
    requests: list[Request] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def serve(self, body: bytes | str | list[Any], status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.body = json.dumps(body, ensure_ascii=False).encode() if isinstance(body, list) else \
            body.encode() if isinstance(body, str) else body
        self.status, self.headers = status, headers or {}

    def fail(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status, self.headers = status, headers or {}

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        status = self.status
        if status == 200 and self.etags and request.headers.get("If-None-Match") == self.etag:
            status = 304
        self.requests.append(Request(request.path, dict(request.headers), status))
        if status == 304:
            return web.Response(status=304, headers={"ETag": self.etag})
        if status != 200:
            return web.Response(status=status, text="Internal Server Error" if status >= 500 else "",
                                headers=self.headers)
        return web.Response(body=self.body, headers={**({"ETag": self.etag} if self.etags else {}),
                                                     "Content-Type": self.headers.get("Content-Type",
                                                                                      "application/json")})


@dataclass
class FeedBot:
    """A bot that polls one feed on a fake clock: a test waits for each poll and for what it made the bot say."""

    FEED: ClassVar[str]
    EVERY: ClassVar[timedelta]
    world: World
    server: FeedServer
    clock: FakeClock
    app: App | None = None
    polls: int = 0

    def settings(self) -> Settings:
        raise NotImplementedError

    async def start(self) -> App:
        self.app = await self.world.start_bot(self.settings(), self.clock)
        self.polls = 0
        await self.polled()
        return self.app

    async def restart(self) -> App:
        await self.world.stop_bots()
        return await self.start()

    async def polled(self) -> None:
        """Until the bot has polled once more, and delivered what that poll made it say."""
        assert self.app is not None
        self.polls += 1
        await self.app.feeds.wait_polls(self.FEED, self.polls)
        await settle(self.app)

    async def next_poll(self, after: timedelta | None = None) -> None:
        self.clock.advance(self.EVERY if after is None else after)
        await self.polled()


# ---- SMHI's impact-based warnings (IBWW), in SMHI's structure ----

STOCKHOLM = {"id": 1, "sv": "Stockholms län", "en": "Stockholm County"}
UPPSALA = {"id": 3, "sv": "Uppsala län", "en": "Uppsala County"}
SEA = {"id": 41, "sv": "Norra Östersjön", "en": "Northern Baltic Sea"}  # a sea district
EVENTS = {"SNOW": ("Snöfall", "Snowfall"), "WIND_SNOW": ("Vind och snöfall", "Wind and snowfall"),
          "WIND": ("Vind", "Wind"), "RAIN": ("Regn", "Rain")}
LEVELS = {"YELLOW": ("Gul", "Yellow"), "ORANGE": ("Orange", "Orange"), "RED": ("Röd", "Red")}


def _iso(instant: datetime) -> str:
    """As SMHI writes times: UTC, milliseconds, Z."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def warning(warning_id: int, area_id: int, *, code: str = "SNOW", level: str = "ORANGE", start: datetime,
            end: datetime, published: datetime, areas: tuple[dict[str, Any], ...] = (STOCKHOLM,),
            text: str = "Kraftigt snöfall med 20-30 cm snö väntas, lokalt upp till 40 cm.") -> dict[str, Any]:
    """One warning with one warning area, as SMHI publishes it (Swedish and English texts, a GeoJSON area)."""
    sv, en = EVENTS[code]
    level_sv, level_en = LEVELS[level]
    return {
        "id": warning_id,
        "normalProbability": True,
        "event": {"sv": sv, "en": en, "code": code, "mhoClassification": {"sv": "Meteorologi", "en": "Meteorology",
                                                                          "code": "MET"}},
        "descriptions": [],
        "warningAreas": [{
            "id": area_id,
            "approximateStart": _iso(start),
            "approximateEnd": _iso(end),
            "published": _iso(published),
            "normalProbability": True,
            "pushNotice": True,
            "areaName": {"sv": areas[0]["sv"], "en": areas[0]["en"]},
            "warningLevel": {"sv": level_sv, "en": level_en, "code": level},
            "eventDescription": {"sv": sv, "en": en, "code": code},
            "affectedAreas": list(areas),
            "descriptions": [
                {"title": {"sv": "Vad händer", "en": "What happens"}, "text": {"sv": text, "en": "Heavy snowfall."}},
                {"title": {"sv": "Hur kan det påverka", "en": "Possible impacts"},
                 "text": {"sv": "Stora störningar i trafiken. Risk för elavbrott.",
                          "en": "Severe traffic disruption. Risk of power cuts."}},
            ],
            "area": {"type": "FeatureCollection", "features": [{
                "type": "Feature", "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [[[17.6, 59.2], [18.9, 59.2], [18.9, 59.8],
                                                                 [17.6, 59.8], [17.6, 59.2]]]}}]},
        }],
    }
