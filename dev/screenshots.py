"""`make screenshots`: what a duty officer's phone shows, drawn from a real demo run.

Plays the demo's scenario on a scratch homeserver, takes the bot's key messages as the homeserver
has them (the activation ping, the convocation by direct message, `!kallelse`, the minutes, the
lägesbild), and draws each as a 360 px message bubble, and the ringing ones as a lock-screen
notification, with Debian's Chromium (headless) into docs/phone/.
"""

from __future__ import annotations

import asyncio
import html
import secrets
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from nio import RoomMessagesResponse

from bot.state import board as board_store
from bot.state.models import BoardLink
from dev.demo import ROOT, Player, run_demo

OUT = ROOT / "docs" / "phone"
BOARD_OUT = ROOT / "docs" / "board"
WIDTH = 360
STYLE = """
body { margin: 0; width: 360px; font-family: "DejaVu Sans", sans-serif; }
.room { background: #fff; padding: 12px 14px 18px; }
.head { color: #737d8c; font-size: 12px; margin-bottom: 6px; }
.sender { color: #0dbd8b; font-weight: bold; font-size: 14px; margin-bottom: 4px; }
.bubble { font-size: 14px; line-height: 1.45; color: #17191c; overflow-wrap: anywhere; }
.bubble a { color: #0086e6; text-decoration: none; }
.lock { background: linear-gradient(160deg, #1f2a44, #3b2f4f); color: #fff; padding: 28px 12px 40px; }
.clock { text-align: center; font-size: 56px; font-weight: 300; margin: 6px 0 2px; }
.date { text-align: center; font-size: 14px; opacity: .85; margin-bottom: 22px; }
.card { background: rgba(255,255,255,.16); border-radius: 18px; padding: 10px 14px; }
.app { font-size: 12px; opacity: .8; margin-bottom: 3px; }
.title { font-weight: bold; font-size: 14px; }
.text { font-size: 14px; line-height: 1.35; white-space: pre-line; display: -webkit-box;
        -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
"""


def page(body: str) -> str:
    return f'<!doctype html><html><head><meta charset="utf-8"><style>{STYLE}</style></head><body>{body}</body></html>'


def bubble(event: dict[str, Any], where: str) -> str:
    content = event["content"]
    shown = content.get("formatted_body") or html.escape(content["body"]).replace("\n", "<br>")
    return page(f'<div class="room"><div class="head">{html.escape(where)}</div><div class="sender">Samverkan bot'
                f'</div><div class="bubble">{shown}</div></div>')


def lock_screen(event: dict[str, Any], where: str) -> str:
    lines = "\n".join(event["content"]["body"].splitlines()[:2])
    return page(f'<div class="lock"><div class="clock">03:02</div><div class="date">onsdag 2 december</div>'
                f'<div class="card"><div class="app">Element · nu</div><div class="title">Samverkan bot · '
                f'{html.escape(where)}</div><div class="text">{html.escape(lines)}</div></div></div>')


def shoot(chromium: str, markup: str, out: Path, height: int) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".html", encoding="utf-8", delete=False) as handle:
        handle.write(markup)
    try:
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--force-device-scale-factor=2", f"--window-size={WIDTH},{height}",
                        f"--screenshot={out}", f"file://{handle.name}"],
                       check=True, capture_output=True, timeout=120)
    finally:
        Path(handle.name).unlink()


def height_of(event: dict[str, Any]) -> int:
    """Tall enough for the message at 360 px, at most a long phone screen."""
    body = event["content"]["body"]
    lines = sum(1 + len(line) // 42 for line in body.splitlines())
    return min(90 + 21 * lines, 1600)


async def bot_events(play: Player, who: str, room_id: str) -> list[dict[str, Any]]:
    answer = await play.clients[who].room_messages(room_id, start="", limit=200)
    assert isinstance(answer, RoomMessagesResponse), answer
    return [e.source for e in reversed(answer.chunk) if e.sender == play.app.settings.matrix.user_id
            and e.source.get("type") == "m.room.message"]


def first(events: list[dict[str, Any]], *needles: str) -> dict[str, Any]:
    found = [e for e in events if all(n in e["content"].get("body", "") for n in needles)]
    if not found:
        raise SystemExit(f"the demo sent no message with {needles}")
    return found[0]


async def pictures(play: Player, chromium: str) -> None:
    forum = await bot_events(play, "sara", play.room_ids["samordnande"])
    direct = await bot_events(play, "sara", await play.direct_room("sara"))
    log = await bot_events(play, "anna", play.room_ids["samverkan-logg"])
    chosen = {
        "1-ping": (first(forum, "AKTIVERAT snöoväder", "kvittera med ✅"), "#samordnande", True),
        "2-kallelse-dm": (first(direct, "Du kallas"), "direktmeddelande", True),
        "3-kallelse-status": (first(forum, "Kvitterat ", "direktmeddelanden"), "#samordnande", False),
        "4-minnesanteckningar": (first(log, "Minnesanteckningar: "), "#samverkan-logg", False),
        "5-lagesbild": ([e for e in forum if "Regional lägesbild vecka" in e["content"].get("body", "")
                         and e["content"].get("msgtype") == "m.notice"] or [first(forum, "lägesbild")])[-1],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for name, item in chosen.items():
        event, where, rings = item if isinstance(item, tuple) else (item, "#samordnande", False)
        shoot(chromium, bubble(event, where), OUT / f"{name}.png", height_of(event))
        if rings:
            shoot(chromium, lock_screen(event, where), OUT / f"{name}-lock.png", 272)
        print(f"{OUT.relative_to(ROOT)}/{name}.png")


async def board_pictures(play: Player, chromium: str) -> None:
    """The samordnande forum's live board as a wall screen shows it (1920 by 1080) and on a phone (360 px), through
    a link made for the purpose, at the bot's own time."""
    settings = play.app.settings.board
    assert settings is not None
    secret = secrets.token_urlsafe(24)
    now = play.app.clock.now()
    await play.app.db.write(lambda session: board_store.add_link(session, BoardLink(
        forum_id="samordnande", secret_hash=board_store.digest(secret), created_by="screenshots", created_at=now,
        expires_at=now + timedelta(minutes=10))))
    url = f"{settings.public_url}/board/#link={secret}&lang=sv"
    BOARD_OUT.mkdir(parents=True, exist_ok=True)
    for name, size in (("board-wall", "1920,1080"), ("board-phone", "360,800")):
        out = BOARD_OUT / f"{name}.png"
        await asyncio.to_thread(subprocess.run, [
            chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--window-size={size}", "--virtual-time-budget=5000", f"--screenshot={out}", url],
            check=True, capture_output=True, timeout=120)
        print(f"{out.relative_to(ROOT)}")


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("make screenshots needs Chromium: apt-get install chromium fonts-noto-color-emoji", file=sys.stderr)
        return 1

    async def after(play: Player) -> None:
        await pictures(play, chromium)

    async def board(play: Player) -> None:
        await board_pictures(play, chromium)

    # The board as a crisis room sees it: during the activation, once the first answers and the escalation are in.
    return asyncio.run(run_demo(False, after, moments={"!kallelse": board}))


if __name__ == "__main__":
    sys.exit(main())
