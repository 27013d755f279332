"""The live board in a real browser (Debian's Chromium, headless): inside a host page that runs the Widget API's
client side as Element does, a member's OpenID token from the real Synapse opens the forum's board, and an ✅
given on Synapse appears on it without a reload; a stranger, a forged token, and an expired or revoked wall-screen
link see one sentence and nothing of the forum."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from browser import Chromium, Page
from feeds import FeedServer
from pgserver import free_port
from support import World, command, direct_bodies, react, room_events, unique, wait_for

from bot.domain.clock import FakeClock

HOST = """<!doctype html><html><head><meta charset="utf-8"><title>Element (test host)</title>
<script src="{board}/board/static/matrix-widget-api.min.js"></script></head>
<body style="margin:0"><iframe id="widget" style="width:100%;height:100vh;border:0"></iframe>
<script>
const mx = typeof mxwidgets === "function" ? mxwidgets() : mxwidgets;
const p = new URLSearchParams(location.hash.slice(1));
const template = p.get("url"), widgetId = p.get("widget"), room = p.get("room"), user = p.get("user");
const widget = new mx.Widget({{id: widgetId, creatorUserId: p.get("bot"), type: "m.custom", url: template,
                                      data: {{}}}});
class Driver extends mx.WidgetDriver {{
  async validateCapabilities(requested) {{ return new Set(requested); }}
  askOpenID(observer) {{
    const allowed = (token) => observer.update({{state: mx.OpenIDRequestState.Allowed, token}});
    if (p.get("forge")) return allowed({{access_token: "forged", token_type: "Bearer",
                                         matrix_server_name: p.get("server"), expires_in: 3600}});
    fetch(`${{p.get("hs")}}/_matrix/client/v3/user/${{encodeURIComponent(user)}}/openid/request_token`,
          {{method: "POST", headers: {{Authorization: "Bearer " + p.get("token"), "Content-Type": "application/json"}},
           body: "{{}}"}}).then((r) => r.json()).then(allowed);
  }}
}}
const frame = document.getElementById("widget");
new mx.ClientWidgetApi(widget, frame, new Driver());
frame.src = template.replace("$matrix_widget_id", encodeURIComponent(widgetId))
  .replace("$matrix_room_id", encodeURIComponent(room)).replace("$matrix_user_id", encodeURIComponent(user));
</script></body></html>"""


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Chromium]:
    why = Chromium.find()
    if why:
        pytest.skip(why)
    browser = Chromium(tmp_path / "chromium")
    await browser.start()
    yield browser
    await browser.stop()


async def test_the_board_in_elements_place_shows_members_the_forum_live_and_others_a_sentence(
        world: World, chromium: Chromium, tmp_path: Path) -> None:
    board = f"http://127.0.0.1:{free_port()}"
    clock = FakeClock(datetime.now(UTC))
    app = await world.start_bot(world.settings(lambda d: d.update(
        board={"listen": board.removeprefix("http://"), "public_url": board})), clock)
    host = FeedServer()
    await host.start()
    host.serve(HOST.format(board=board), headers={"Content-Type": "text/html; charset=utf-8"})
    room = world.rooms["samordnande"]
    try:
        assert "tillagd" in await command(world, "tib", "samordnande", "!tavla")
        template = f"{board}/board/#/?widgetId=$matrix_widget_id&roomId=$matrix_room_id&userId=$matrix_user_id&lang=sv"

        def host_url(user_id: str, token: str, **extra: str) -> str:
            values = {"url": template, "widget": "samverkan-board-samordnande", "room": room, "user": user_id,
                      "bot": world.bot.user_id, "hs": world.hs.url, "token": token, "server": world.hs.server_name,
                      **extra}
            return f"{host.url}/element#" + "&".join(f"{k}={aiohttp.helpers.quote(v, safe='')}"
                                                     for k, v in values.items())

        sos = world.people["sos"]
        page = await chromium.open(host_url(sos.user_id, sos.access_token), 1920, 1080)
        text = await page.until("Regionalt samordnande forum")
        assert "ordinarie läge" in text

        await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
        await page.until("AKTIVERAT: snöoväder")
        text = await page.until("Kvitterat 0 / 4")
        assert "⏳ Vakthavande, SOS Alarm · SOS Alarm\nVäntar på kvittens" in text, "the state in words"
        ping = next(e for e in await room_events(world.clients["sos"], room)
                    if e["sender"] == world.bot.user_id and e["content"].get("m.mentions", {}).get("user_ids"))
        began = time.monotonic()
        await react(world.clients["sos"], room, ping["event_id"])
        text = await page.until("Kvitterat 1 / 4")
        shown_after = time.monotonic() - began
        assert "✅ Vakthavande, SOS Alarm · SOS Alarm\nKvitterat" in text
        await page.screenshot(tmp_path / "board-1920.png")
        (tmp_path / "latency.json").write_text(json.dumps({"ack_to_board_s": shown_after}))
        await page.close()

        narrow = await chromium.open(host_url(sos.user_id, sos.access_token), 360, 740)
        await narrow.until("Kvitterat 1 / 4")
        await world.clients["admin"].room_kick(room, sos.user_id, "test")
        text = await narrow.until("Lägestavlan visas bara för forumets medlemmar.", timeout=10)
        assert "snöoväder" not in text and "Kvitterat" not in text, "kicked, the page shows nothing of the forum"
        await narrow.close()
        await world.clients["admin"].room_invite(room, sos.user_id)
        await world.clients["sos"].join(room)

        stranger = world.hs.register(unique("stranger"))
        page = await chromium.open(host_url(stranger.user_id, stranger.access_token))
        text = await page.until("Lägestavlan visas bara för forumets medlemmar.")
        assert "snöoväder" not in text and "Kvitterat" not in text
        await page.close()
        page = await chromium.open(host_url(sos.user_id, sos.access_token, forge="1"))
        text = await page.until("Din inloggning kunde inte bekräftas hos din hemserver.")
        assert "snöoväder" not in text
        await page.close()

        await command(world, "tib", "samordnande", "!tavla länk 1h")

        async def link() -> str | None:
            found = [re.search(r"(http\S+#link=\S+)", b) for b in await direct_bodies(world, app, "tib")]
            return next((m.group(1) for m in found if m), None)

        wall = await chromium.open(await wait_for(link), 1920, 1080)
        await wall.until("Kvitterat 1 / 4")
        assert "återkallad" in await command(world, "tib", "samordnande", "!tavla återkalla 1")
        text = await wall.until("Länken gäller inte längre")
        assert "snöoväder" not in text, "a revoked link shows the sentence only"
        await wall.close()

        await command(world, "tib", "samordnande", "!tavla länk 1h")

        async def second() -> str | None:
            found = [re.search(r"(http\S+#link=\S+)", b) for b in await direct_bodies(world, app, "tib")
                     if b.startswith("Länk nr 2")]
            return next((m.group(1) for m in found if m), None)

        url = await wait_for(second)
        clock.advance(timedelta(hours=2))
        wall = await chromium.open(url)
        text = await wall.until("Länken gäller inte längre")
        assert "snöoväder" not in text, "an expired link shows the sentence only"
        await wall.close()
    finally:
        await world.stop_bots()
        await host.stop()


STOCKHOLM = ZoneInfo("Europe/Stockholm")
FAKE_TIME = """(() => {
  const real = Date.now.bind(Date);
  let shift = 0;
  Date.now = () => real() + shift;
  window.advanceTime = (ms) => { shift += ms; };
})();"""


async def test_a_wall_screen_reads_across_the_room_and_says_when_it_is_stale_or_cut_off(
        world: World, chromium: Chromium, tmp_path: Path) -> None:
    """Read from three metres: functions with their organisation, people by name, since when they are waited for,
    the deputy convened, overdue actions marked, the bot's clock; an event name with markup shows as text and makes
    no element; a stream silent for more than 30 s says since when the board is not updated, and a board that
    cannot reach the bot says so in Swedish (never the browser's 'Failed to fetch')."""
    board = f"http://127.0.0.1:{free_port()}"
    clock = FakeClock(datetime.now(STOCKHOLM).replace(hour=13, minute=5).astimezone(UTC))

    def setup(data: dict[str, object]) -> None:
        data["board"] = {"listen": board.removeprefix("http://"), "public_url": board}
        functions = data["function"]
        assert isinstance(functions, list)
        functions.append({"id": "sos-stf", "organisation": "sos", "name": "Ställföreträdande vakthavande",
                          "holders": [world.people["outsider"].user_id]})
        next(f for f in functions if f["id"] == "sos-vakthavande")["deputies"] = ["sos-stf"]

    await world.clients["sos"].set_displayname("Sara Svensson")
    app = await world.start_bot(world.settings(setup), clock)
    assert app.board is not None
    app.board.heartbeat = 3600.0  # a quiet stream stays quiet: only the page's clock decides it is stale
    proxy = Cable(int(board.rsplit(":", 1)[1]))
    try:
        await command(world, "tib", "samordnande", "!aktivera samordnande <i>snöoväder</i> storm")
        await command(world, "tib", "samordnande", "!åtgärd sos-vakthavande samla in lägesbilder senast om 1h")
        await command(world, "tib", "samordnande", "!tavla länk 1d")

        async def link() -> str | None:
            found = [re.search(r"(http\S+#link=\S+)", b) for b in await direct_bodies(world, app, "tib")]
            return next((m.group(1) for m in found if m), None)

        url = await wait_for(link)
        clock.advance(timedelta(hours=1, minutes=6))  # 14:11: the action is overdue, the deputy is due
        await app.timers.fire_due()
        page = await chromium.open("about:blank", 1920, 1080)
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=FAKE_TIME)
        await proxy.start()  # the wall screen's network, which can be cut
        await page.call("Page.navigate", url=url.replace(board, f"http://127.0.0.1:{proxy.port}"))
        text = await page.until("Ersättare inkallad")
        assert "AKTIVERAT: <i>snöoväder</i>" in text
        assert await _count(page, "i") == 0, "user text never becomes markup"
        assert "❌ Vakthavande, SOS Alarm · SOS Alarm" in text or "⏳ Vakthavande, SOS Alarm · SOS Alarm" in text
        assert "Kallade: Sara Svensson" in text and "@" not in text.split("Kallelse", 1)[1], "names, not ids"
        assert "Ersättare inkallad: Ställföreträdande vakthavande · SOS Alarm — Väntar på kvittens" in text
        assert "väntar sedan 13:05 (66 min)" in text, "since when, and how long, by the bot's clock"
        assert "⚠ FÖRSENAD: #1 Vakthavande, SOS Alarm · SOS Alarm: samla in lägesbilder — senast" in text
        assert await _text(page, "#clock") == "14:11", "the bot's time, large"
        assert "inte uppdaterad" not in text
        await page.screenshot(tmp_path / "wall.png")

        await page.call("Runtime.evaluate", expression="advanceTime(29000)")
        await page.until("(66 min)")
        assert "inte uppdaterad" not in await page.text(), "not before 30 s of silence"
        await page.call("Runtime.evaluate", expression="advanceTime(2000)")
        text = await page.until("Tavlan är inte uppdaterad sedan 14:11")
        assert "Vakthavande, SOS Alarm" in text, "the last state stays readable under the banner"

        await proxy.cut()
        text = await page.until("Ingen kontakt med lägestavlan. Försöker igen … Tavlan är inte uppdaterad sedan")
        assert "Vakthavande, SOS Alarm" in text and "Failed to fetch" not in text, "cut off: the last state, marked"
        await proxy.start()
        assert await wait_for(lambda: _hidden(page, "#banner"), 10), "back in contact: the banner goes"
        assert "Vakthavande, SOS Alarm" in await page.text()

        await world.stop_bots()
        text = await page.until("Ingen kontakt med lägestavlan. Försöker igen …")
        assert "Failed to fetch" not in text and "snöoväder" not in text, "what was shown goes with the stream"
        await page.close()
    finally:
        await world.stop_bots()
        await proxy.cut()


WATCH = """window.seen = [];
new MutationObserver(() => {
  const text = document.body.innerText;
  if (!text.includes("Regionalt samordnande forum")) window.seen.push(text);
}).observe(document.body, { subtree: true, childList: true, characterData: true });"""


@pytest.mark.timeout(180)
async def test_a_silent_dead_stream_is_dropped_and_the_board_comes_back(world: World, chromium: Chromium,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A wall screen whose stream goes silent without ever closing (a connection dead somewhere on the way) says
    so after 30 s, gives the stream up, opens a new one (on a new session, since the dead stream still holds the
    session's only one at the bot), and shows what happened meanwhile: an activation made while the screen was cut
    off appears within a minute."""
    board = f"http://127.0.0.1:{free_port()}"
    app = await world.start_bot(world.settings(lambda d: d.update(board={  # the dead stream holds the only one
        "listen": board.removeprefix("http://"), "public_url": board, "streams_per_session": 1})),
        FakeClock(datetime.now(UTC)))
    relay = Blackhole(int(board.rsplit(":", 1)[1]))
    await relay.start()
    try:
        await command(world, "tib", "samordnande", "!tavla länk 1d")

        async def link() -> str | None:
            found = [re.search(r"(http\S+#link=\S+)", b) for b in await direct_bodies(world, app, "tib")]
            return next((m.group(1) for m in found if m), None)

        page = await chromium.open((await wait_for(link)).replace(board, f"http://127.0.0.1:{relay.port}"))
        await page.until("ordinarie läge")
        await page.call("Runtime.evaluate", expression=WATCH)
        relay.swallow()
        await page.until("Tavlan är inte uppdaterad sedan", timeout=45)
        await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
        text = await page.until("AKTIVERAT: snöoväder", timeout=60)
        assert "inte uppdaterad" not in text, "back in contact: the banner goes"
        assert any("streams_per_session reached" in r.getMessage() for r in caplog.records), "a new session was needed"
        seen = await page.call("Runtime.evaluate", expression="window.seen", returnByValue=True)
        assert seen["result"]["value"] == [], "the board stayed on the screen, never a refusal or a blank"
        await page.close()
    finally:
        await world.stop_bots()
        relay.close()


class Blackhole:
    """A TCP relay to the board whose open connections can be silenced, as a network that drops them without a
    word does: nothing passes either way and nothing closes, while new connections pass."""

    def __init__(self, target: int) -> None:
        self.target, self.port = target, free_port()
        self.silent: set[asyncio.StreamWriter] = set()
        self.open: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    def swallow(self) -> None:
        self.silent |= self.open

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in self.open:
            writer.transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up = await asyncio.open_connection("127.0.0.1", self.target)
        self.open.add(writer)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    if writer in self.silent:
                        continue
                    sink.write(data)
                    await sink.drain()
            if writer not in self.silent:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, up), pipe(up_reader, writer))


class Cable:
    """A TCP relay to the board that the test can cut, as a network does: open connections die, new ones are
    refused, until it is plugged in again."""

    def __init__(self, target: int) -> None:
        self.target, self.port = target, free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target)
        self._open.update((writer, upstream))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream), pipe(upstream_reader, writer))
        self._open.difference_update((writer, upstream))


async def _hidden(page: Page, selector: str) -> bool:
    found = await page.call("Runtime.evaluate", expression=f"document.querySelector({selector!r}).hidden",
                            returnByValue=True)
    return bool(found["result"]["value"])


async def _text(page: Page, selector: str) -> str:
    found = await page.call("Runtime.evaluate", expression=f"document.querySelector({selector!r}).textContent",
                            returnByValue=True)
    return str(found["result"]["value"])


async def _count(page: Page, selector: str) -> int:
    found = await page.call("Runtime.evaluate", expression=f"document.querySelectorAll({selector!r}).length",
                            returnByValue=True)
    return int(found["result"]["value"])
