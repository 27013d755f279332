"""The live board in a real browser (Debian's Chromium, headless): inside a host page that runs the Widget API's
client side as Element does, a member's OpenID token from the real Synapse opens the forum's board, and an ✅
given on Synapse appears on it without a reload; a stranger, a forged token, and an expired or revoked wall-screen
link see one sentence and nothing of the forum."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from browser import Chromium
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
        assert "⏳ Vakthavande, SOS Alarm · SOS Alarm\nVäntar på kvittens" in text, "the state in words, not only colour"
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
        await narrow.close()

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
