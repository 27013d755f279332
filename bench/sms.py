"""SMS through a real Kannel (bearerbox + smsbox, fakesmsc as the operator), next to a bare sendsms loop.

40 holders of an activated forum who have not acknowledged, at `sms_after`: the time from the SMS step
falling due to all 40 SMS accepted by Kannel and seen at fakesmsc. The baseline, in the same run, is a
bare loop of 40 sendsms calls with the same delivery-report mask (each call with one waits inside
Kannel), until fakesmsc has seen all 40. Then the time from a reply `1` leaving the phone to the
summons acknowledged in the bot's database, for 20 replies.

    .venv/bin/python bench/sms.py [--holders 40] [--rounds 3]

Writes bench/results/sms.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlmodel import col, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from kannel import NUMBER, Kannel  # noqa: E402
from pgserver import free_port  # noqa: E402

from bench.convocation import client, unique  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.domain.clock import FakeClock  # noqa: E402
from bot.sms.sender import DLR_MASK  # noqa: E402
from bot.state.models import Convocation, SmsMessage, Summons  # noqa: E402
from dev.devserver import Homeserver, one_forum  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret"


def number(i: int, series: int) -> str:
    return f"+4670{series}{i:05d}"


async def seen(kannel: Kannel, numbers: set[str], timeout: float = 60.0) -> float:
    """Until fakesmsc has received an SMS for every one of `numbers`; the monotonic time then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if numbers <= {t.to for t in kannel.received()}:
            return time.monotonic()
        await asyncio.sleep(0.01)
    raise TimeoutError(f"fakesmsc saw {len(numbers & {t.to for t in kannel.received()})} of {len(numbers)}")


async def bare_loop(kannel: Kannel, count: int, series: int) -> dict[str, float]:
    """40 sendsms calls one after another, as a script would: the floor Kannel sets."""
    numbers = {number(i, series) for i in range(count)}
    start = time.monotonic()
    async with aiohttp.ClientSession() as http:
        for to in sorted(numbers):
            params = {"username": kannel.user, "password": kannel.password, "from": NUMBER, "to": to,
                      "text": "AKTIVERAT snöoväder: Forum, konf 03:15. Ring 08-123 456 78 PIN 4711. Svara 1 = kvittera",
                      "charset": "UTF-8", "coding": "0", "dlr-mask": str(DLR_MASK),
                      "dlr-url": f"{kannel.callback}/sms/dlr?secret={SECRET}&id=0&type=%d"}
            async with http.get(kannel.gateway, params=params) as answer:
                assert answer.status == 202, await answer.text()
    accepted = time.monotonic()
    done = await seen(kannel, numbers)
    return {"accepted": round(accepted - start, 3), "seen": round(done - start, 3)}


async def bot_round(app: App, clock: FakeClock, kannel: Kannel, convener: Any, room_id: str, holders: int,
                    series: int, event: str) -> dict[str, float]:
    answer = await convener.room_send(room_id, "m.room.message",
                                      {"msgtype": "m.text", "body": f"!aktivera forum {event}"})
    assert hasattr(answer, "event_id"), answer
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the convocation is written
        async with app.db.session() as session:
            conv = (await session.exec(select(Convocation).where(Convocation.event == event))).first()
            count = 0 if conv is None else len((await session.exec(
                select(Summons).where(Summons.convocation_id == conv.id))).all())
        if count >= holders:
            break
        await asyncio.sleep(0.05)
    numbers = {number(i, series) for i in range(holders)}
    assert app.settings.sms is not None
    clock.advance(app.settings.sms.sms_after + timedelta(seconds=1))
    start = time.monotonic()
    await app.timers.fire_due()
    written = time.monotonic()
    while True:
        async with app.db.session() as session:
            key = f"activation:{conv.activation_id}" if conv else ""
            rows = (await session.exec(select(SmsMessage).where(SmsMessage.event_key == key))).all()
        if len(rows) >= holders and all(row.state not in ("queued", "sending") for row in rows):
            break
        await asyncio.sleep(0.01)
    accepted = time.monotonic()
    done = await seen(kannel, numbers)
    return {"written": round(written - start, 3), "accepted": round(accepted - start, 3),
            "seen": round(done - start, 3)}


async def replies(app: App, kannel: Kannel, count: int, series: int) -> list[float]:
    """Seconds from a reply `1` written to the phone to the summons acknowledged, one reply at a time."""
    found = []
    for i in range(count):
        kannel.reply(number(i, series), "1")
        start = time.monotonic()
        while True:
            kannel.received()  # nudges fakesmsc, which reads the reply between lines
            async with app.db.session() as session:
                acked = (await session.exec(select(Summons).where(col(Summons.ack_at).is_not(None),
                                                                  col(Summons.function_id) == f"f{i}"))).all()
            if acked:
                found.append(time.monotonic() - start)
                break
            if time.monotonic() - start > 30:
                raise TimeoutError(f"reply {i} not acknowledged")
            await asyncio.sleep(0.005)
    return found


async def run(holders: int, rounds: int, tmp: Path) -> dict[str, Any]:
    hs = Homeserver(tmp / "synapse")
    hs.start()
    port = free_port()
    (tmp / "kannel").mkdir()
    kannel = Kannel(tmp / "kannel", f"http://127.0.0.1:{port}", SECRET)
    kannel.start()
    apps: list[App] = []
    try:
        admin = hs.register(unique("admin"), admin=True)
        bot = hs.register(unique("bot"))
        hs.exempt_from_rate_limits(admin.access_token, bot.user_id)
        people = [hs.register(unique("h")) for _ in range(holders)]
        admin_client = client(hs, admin)
        alias = unique("forum")
        created = await admin_client.room_create(alias=alias, initial_state=[
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}}],
            power_level_override={"users": {bot.user_id: 50}})
        room_id = created.room_id
        await admin_client.close()
        convener = client(hs, people[0])
        await convener.join(room_id)
        bot_rounds, bare_rounds, reply_times = [], [], []
        for r in range(rounds):
            series = 10 + 2 * r
            contacts = tmp / f"contacts{r}.toml"
            contacts.write_text("".join(f'[[contact]]\nuser = "{p.user_id}"\nnumber = "{number(i, series)}"\n'
                                        for i, p in enumerate(people)))
            data = one_forum(hs, admin, bot, people, tmp / f"bot{r}.db", room=f"#{alias}:{hs.server_name}",
                             activated=[f"f{i}" for i in range(holders)])
            data["sms"] = {"gateway": kannel.gateway, "user": kannel.user, "sender": NUMBER,
                           "listen": f"127.0.0.1:{port}", "contacts": str(contacts), "max_per_event": 1000}
            clock = FakeClock(datetime.now(UTC))
            app = App(parse_settings(data), clock=clock, env={
                "SAMVERKAN_PASSWORD": bot.password, "SAMVERKAN_SMS_PASSWORD": kannel.password,
                "SAMVERKAN_SMS_SECRET": SECRET, "SAMVERKAN_STORE_KEY": uuid.uuid4().hex})
            apps.append(app)
            await app.start()
            await app.wait_ready()
            first, second = (bare_loop, bot_round) if r % 2 else (bot_round, bare_loop)  # each goes first in turn
            for which in (first, second):
                if which is bare_loop:
                    bare_rounds.append(await bare_loop(kannel, holders, series + 1))
                else:
                    bot_rounds.append(await bot_round(app, clock, kannel, convener, room_id, holders, series,
                                                      f"storm{r}"))
            reply_times += await replies(app, kannel, min(20, holders), series)
            await app.stop()
            apps.remove(app)
        await convener.close()
    finally:
        for app in apps:
            await app.stop()
        kannel.stop()
        hs.stop()
    bot_seen = statistics.median(r["seen"] for r in bot_rounds)
    bare_seen = statistics.median(r["seen"] for r in bare_rounds)
    reply_times.sort()
    return {"holders": holders, "rounds": rounds, "bot": bot_rounds, "bare_sendsms_loop": bare_rounds,
            "median_seconds": {"bot": bot_seen, "bare_loop": bare_seen}, "ratio": round(bot_seen / bare_seen, 2),
            "reply_to_acknowledged": {"p50": round(statistics.median(reply_times), 3),
                                      "p90": round(reply_times[int(len(reply_times) * 0.9)], 3),
                                      "max": round(reply_times[-1], 3), "n": len(reply_times)}}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holders", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="sms.json", help="file name in bench/results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp_name:
        result = await run(args.holders, args.rounds, Path(tmp_name))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / args.out
    out.write_text(json.dumps({"when": datetime.now().isoformat(timespec="seconds"), **result}, indent=2) + "\n")
    print(json.dumps(result["median_seconds"]), "ratio", result["ratio"], "reply p50",
          result["reply_to_acknowledged"]["p50"])
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
