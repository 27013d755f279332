"""Voice calls through the bot's own baresip to test phones on loopback, next to bare ctrl_tcp dials.

40 holders of an activated forum who have not acknowledged, at `call_after`, with `max_parallel_calls = 8`:
the time from the call step falling due until every phone has rung (each phone presses 1 once the audio
flows, so a line frees as soon as its person has acknowledged). The baseline, in the same run, is 40 bare
`dial` commands over ctrl_tcp to the same phones from a second baresip, one after another without a limit,
until every phone has answered. And key 1 -> acknowledged: from the phone's `sndcode` to the summons
acknowledged in the bot's database, p50.

    .venv/bin/python bench/voice.py [--holders 40] [--parallel 8]

Writes bench/results/voice.json.
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

from sqlmodel import col, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from voicephone import AUTO, Phones, port, silence, sip_port  # noqa: E402

from bench.convocation import client, unique  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.domain.clock import FakeClock  # noqa: E402
from bot.state.models import Convocation, Summons  # noqa: E402
from bot.voice.useragent import UserAgent  # noqa: E402
from dev.devserver import Homeserver, one_forum  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def number(i: int) -> str:
    return f"+46702{i:05d}"


async def until(check: Any, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        await asyncio.sleep(0.005)
    raise TimeoutError("not within the time")


async def bare_dials(phones: Phones, holders: int, tmp: Path) -> float:
    """40 `dial` commands to the phones from a bare baresip: seconds until each phone has answered."""
    agent = UserAgent(tmp / "bare", f"sip:bare@{phones.domain}", f"127.0.0.1:{sip_port()}", f"127.0.0.1:{port()}",
                      register=False, extra=f"audio_source aufile,{tmp / 'quiet.wav'}\n")
    await agent.start()
    before = set(phones.calls)
    try:
        start = time.monotonic()
        for i in range(holders):
            await agent.command("dial", f"sip:{number(i)}@{phones.domain}")
        done = await until(lambda: sum(1 for c, h in phones.calls.items() if c not in before
                                       and "CALL_ESTABLISHED" in h.events) >= holders)
        return round(done - start, 3)
    finally:
        await agent.stop()
        await until(lambda: all(not h.in_call for h in phones.calls.values()), 30)


async def press_when_answered(phones: Phones, pressed_at: dict[str, float], skip: set[str]) -> None:
    """Each phone presses 1 once the audio of the bot's call flows (the baseline's calls, `skip`, are over)."""
    while True:
        for heard in list(phones.calls.values()):
            if heard.call_id not in skip and "CALL_RTPESTAB" in heard.events and heard.number not in pressed_at:
                pressed_at[heard.number] = 0.0
                asyncio.get_running_loop().create_task(_press(phones, heard.call_id, heard.number, pressed_at))
        await asyncio.sleep(0.005)


async def _press(phones: Phones, call_id: str, who: str, pressed_at: dict[str, float]) -> None:
    await asyncio.sleep(0.3)  # the audio flows
    pressed_at[who] = time.monotonic()
    await phones.press(call_id, "1")


async def run(holders: int, parallel: int, tmp: Path) -> dict[str, Any]:
    hs = Homeserver(tmp / "synapse")
    hs.start()
    phones = Phones(tmp / "phones", {number(i): AUTO for i in range(holders)})
    await phones.start()
    silence(tmp / "quiet.wav", 120)
    app: App | None = None
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
        bare = await bare_dials(phones, holders, tmp)
        contacts = tmp / "contacts.toml"
        contacts.write_text("".join(f'[[contact]]\nuser = "{p.user_id}"\nnumber = "{number(i)}"\n'
                                    for i, p in enumerate(people)))
        data = one_forum(hs, admin, bot, people, tmp / "bot.db", room=f"#{alias}:{hs.server_name}",
                         activated=[f"f{i}" for i in range(holders)])
        data["sms"] = {"gateway": f"http://127.0.0.1:{port()}/cgi-bin/sendsms", "user": "u",
                       "sender": "+46700000001", "listen": f"127.0.0.1:{port()}", "contacts": str(contacts),
                       "sms_after": "1h"}
        data["voice"] = {"account": f"sip:samverkan@{phones.domain}", "registrar": False,
                         "listen": f"127.0.0.1:{sip_port()}", "control": f"127.0.0.1:{port()}",
                         "call_after": "5m", "max_parallel_calls": parallel, "folder": str(tmp / "voice")}
        clock = FakeClock(datetime.now(UTC))
        app = App(parse_settings(data), clock=clock, env={
            "SAMVERKAN_PASSWORD": bot.password, "SAMVERKAN_SMS_PASSWORD": "p", "SAMVERKAN_SMS_SECRET": "s",
            "SAMVERKAN_STORE_KEY": uuid.uuid4().hex})
        await app.start()
        await app.wait_ready()
        answer = await convener.room_send(room_id, "m.room.message",
                                          {"msgtype": "m.text", "body": "!aktivera forum storm"})
        assert hasattr(answer, "event_id"), answer

        async def summoned() -> int:
            async with app.db.session() as session:
                conv = (await session.exec(select(Convocation).where(Convocation.event == "storm"))).first()
                return 0 if conv is None else len((await session.exec(
                    select(Summons).where(Summons.convocation_id == conv.id))).all())

        while True:  # the convocation is written
            if await summoned() >= holders:
                break
            await asyncio.sleep(0.05)
        before = set(phones.calls)
        pressed_at: dict[str, float] = {}
        acked_at: dict[str, float] = {}
        phones.most_at_once = 0
        pressing = asyncio.create_task(press_when_answered(phones, pressed_at, before))

        async def watch_acks() -> None:
            while True:
                async with app.db.session() as session:
                    rows = (await session.exec(select(Summons.function_id).where(col(Summons.ack_at).is_not(None)))
                            ).all()
                now = time.monotonic()
                for function in rows:
                    acked_at.setdefault(number(int(function[1:])), now)
                await asyncio.sleep(0.005)

        watching = asyncio.create_task(watch_acks())
        clock.advance(timedelta(minutes=5, seconds=1))
        start = time.monotonic()
        await app.timers.fire_due()
        rung = await until(lambda: len({h.number for c, h in phones.calls.items() if c not in before
                                        and "CALL_ESTABLISHED" in h.events}) >= holders)
        await until(lambda: len(acked_at) >= holders)
        pressing.cancel()
        watching.cancel()
        most = phones.most_at_once
        latencies = sorted(acked_at[n] - pressed_at[n] for n in acked_at if pressed_at.get(n))
        await convener.close()
    finally:
        if app is not None:
            await app.stop()
        await phones.stop()
        hs.stop()
    bot_rung = round(rung - start, 3)
    return {"holders": holders, "max_parallel_calls": parallel,
            "seconds_until_every_phone_rang": {"bot": bot_rung, "bare_ctrl_tcp_dials": bare},
            "ratio": round(bot_rung / bare, 2), "most_calls_at_once_seen_by_the_phones": most,
            "key_1_to_acknowledged": {"p50": round(statistics.median(latencies), 3),
                                      "p90": round(latencies[int(len(latencies) * 0.9)], 3),
                                      "max": round(latencies[-1], 3), "n": len(latencies)}}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holders", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--out", default="voice.json", help="file name in bench/results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp_name:
        result = await run(args.holders, args.parallel, Path(tmp_name))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / args.out
    out.write_text(json.dumps({"when": datetime.now().isoformat(timespec="seconds"), **result}, indent=2) + "\n")
    print(json.dumps(result["seconds_until_every_phone_rang"]), "ratio", result["ratio"], "key 1 p50",
          result["key_1_to_acknowledged"]["p50"])
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
