"""The load a crisis brings: forty holders acknowledge a convocation within ten seconds while ten
duty officers keep asking the bot things, next to a minimal echo bot under the same traffic.

For the bot (started before, so its direct rooms are open, as in service): one officer activates the
forum (`!aktivera`), which convenes the forty holders (the room ping and a direct message each).
Then, at once, each holder acknowledges at a random moment within
`--ack-within` seconds, half with ✅ on the room ping and half with `!kvittera`, while ten officers
send commands one after the other (`!status`, `!vem`, `!kallelse`, `!hjälp`, `!lägesbild`) for
`--seconds`, reading each answer for `--pause` seconds. The echo bot gets the same traffic: the same
reactions on a message of its own, the same `!kvittera` and commands. Both run as processes, so CPU
comes from /proc. An answer that does not come within 30 s counts as unanswered; for the bot, the
acknowledgements it recorded are counted in its database afterwards. One client syncs for all
senders, so the homeserver carries the bots' traffic rather than fifty syncs.

    .venv/bin/python bench/load.py [--holders 40] [--officers 10] [--seconds 30] [--ack-within 10] [--pause 2]

Writes bench/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sqlite3
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import tomli_w
from nio import AsyncClient, RoomMessageText

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.roundtrip import REPLY_TIMEOUT, Bot, Person, both_bots, cpu_seconds, percentile, public_room  # noqa: E402
from dev.devserver import Homeserver, RegisteredUser, register_many, scratch_homeserver  # noqa: E402

RESULTS = ROOT / "bench" / "results"
COMMANDS = ("!status", "!vem f0", "!kallelse", "!hjälp", "!lägesbild")


def configuration(hs: Homeserver, admin: RegisteredUser, bot: RegisteredUser, holders: list[RegisteredUser],
                  officers: list[RegisteredUser], data: Path) -> dict[str, Any]:
    """The forum's forty functions, one holder each, and ten officers' functions outside it; the
    first officer convenes and chairs."""
    functions: list[dict[str, Any]] = [{"id": f"f{i}", "organisation": f"org{i}", "name": f"Tjänsteman i beredskap {i}",
                  "holders": [h.user_id]} for i, h in enumerate(holders)]
    functions += [{"id": f"c{i}", "organisation": "org0", "name": f"Vakthavande {i}", "holders": [o.user_id],
                   "may_convene": i == 0} for i, o in enumerate(officers)]
    return {
        "bot": {"admins": [admin.user_id], "commands_per_minute": 1_000_000},  # one sender sends them all
        "matrix": {"homeserver": hs.url, "user_id": bot.user_id},
        "database": {"url": f"sqlite+aiosqlite:///{data / 'samverkan.db'}"},
        "organisation": [{"id": f"org{i}", "name": f"Organisation {i}"} for i in range(len(holders))],
        "function": functions,
        "forum": [{"id": "forum", "name": "Forum", "level": "samordnande", "room": f"#forum:{hs.server_name}",
                   "chair": "c0", "ordinary": [f"f{i}" for i in range(len(holders))],
                   "activated": [f"f{i}" for i in range(len(holders))]}],
    }


async def ping_of(person: Person, sender: str, timeout: float = 30.0) -> str:
    """The event id of the first message `sender` posts in the room that is not a reply (the room ping)."""
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_message(room: Any, event: RoomMessageText) -> None:
        relates = event.source.get("content", {}).get("m.relates_to", {})
        if event.sender == sender and "m.in_reply_to" not in relates and not found.done():
            found.set_result(event.event_id)

    person.client.add_event_callback(on_message, RoomMessageText)  # nio cannot remove it: it stays, done
    return await asyncio.wait_for(found, timeout)


async def crisis(holders: list[Person], officers: list[Person], ping: str, seconds: float,
                 ack_within: float, pause: float) -> dict[str, Any]:
    rng = random.Random(17)
    times: list[float] = []
    ack_times: list[float] = []
    by_command: dict[str, list[float]] = {}
    slowest: list[tuple[float, float]] = []  # (round trip, seconds into the crisis it was sent)
    started = time.monotonic()
    unanswered: list[str] = []

    async def acknowledge(n: int, person: Person) -> None:
        await asyncio.sleep(rng.uniform(0, ack_within))
        if n % 2 == 0:
            await person.client.room_send(person.room_id, "m.reaction", {
                "m.relates_to": {"rel_type": "m.annotation", "event_id": ping, "key": "✅"}})
            return
        try:
            ack_times.append(await person.round_trip("!kvittera"))
        except TimeoutError:
            unanswered.append("!kvittera")

    async def ask(n: int, person: Person, until: float) -> None:
        while time.monotonic() < until:
            body = COMMANDS[n % len(COMMANDS)]
            n += 1
            try:
                sent = time.monotonic() - started
                times.append(await person.round_trip(body))
                by_command.setdefault(body, []).append(times[-1])
                slowest.append((times[-1], sent))
            except TimeoutError:
                unanswered.append(body)
            await asyncio.sleep(pause)

    until = time.monotonic() + seconds
    await asyncio.gather(*(acknowledge(n, p) for n, p in enumerate(holders)),
                         *(ask(n, p, until) for n, p in enumerate(officers)))
    every = sorted(times + ack_times)
    return {"answers": len(every), "unanswered": len(unanswered), "unanswered_examples": unanswered[:5],
            "p50_ms": round(statistics.median(every) * 1000, 1) if every else None,
            "p99_ms": round(percentile(every, 99) * 1000, 1) if every else None,
            "kvittera_p50_ms": round(statistics.median(ack_times) * 1000, 1) if ack_times else None,
            "kvittera_max_ms": round(max(ack_times) * 1000, 1) if ack_times else None,
            "by_command_ms": {body: {"p50": round(statistics.median(t) * 1000, 1), "max": round(max(t) * 1000, 1)}
                              for body, t in sorted(by_command.items())},
            "slowest_ms_at_s": [(round(t * 1000), round(at, 1)) for t, at in sorted(slowest, reverse=True)[:5]]}


async def run_one(name: str, bot: Bot, sender: str, hs: Homeserver, admin: RegisteredUser, observer: Person,
                  holders: list[Person], officers: list[Person], args: argparse.Namespace) -> dict[str, Any]:
    for person in (*holders, *officers):
        person.room_id = bot.room_id
    bot.start()
    try:
        await officers[0].first_answer(time.monotonic(), timeout=120)
        await observer.settle()
        cpu_before = cpu_seconds(bot.pid)
        # The echo bot has no room ping: a message of the room's administrator stands in for it.
        pinged = asyncio.create_task(ping_of(observer, sender if name == "bot" else admin.user_id))
        await officers[0].round_trip("!aktivera forum snöoväder")
        if name != "bot":
            await admin_says(hs, admin, bot.room_id)
        ping = await pinged
        figures = await crisis(holders, officers, ping, args.seconds, args.ack_within, args.pause)
        await observer.settle()
        figures["cpu_s"] = round(cpu_seconds(bot.pid) - cpu_before, 2)
    finally:
        bot.stop()
    return figures


async def admin_says(hs: Homeserver, admin: RegisteredUser, room_id: str) -> None:
    client = AsyncClient(hs.url, admin.user_id, device_id=admin.device_id)
    client.restore_login(admin.user_id, admin.device_id, admin.access_token)
    await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "AKTIVERAT övning"})
    await client.close()


async def wait_for_direct_rooms(database: Path, count: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = sqlite3.connect(database)
        try:
            opened = conn.execute("SELECT count(*) FROM bot_state WHERE key LIKE 'dm:%'").fetchone()[0]
        finally:
            conn.close()
        if opened >= count:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"the bot opened {opened} of {count} direct rooms")


def acknowledged(database: Path) -> int:
    conn = sqlite3.connect(database)
    try:
        return int(conn.execute("SELECT count(*) FROM summons WHERE ack_at IS NOT NULL AND convocation_id = "
                                "(SELECT max(id) FROM convocation)").fetchone()[0])
    finally:
        conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holders", type=int, default=40)
    parser.add_argument("--officers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--ack-within", type=float, default=10.0)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds an officer reads an answer")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with scratch_homeserver() as (tmp, hs):
        admin = hs.register("admin", admin=True)
        bot_user, echo_user = hs.register("samverkan"), hs.register("echo")
        holder_users = register_many(hs, "h", args.holders)
        officer_users = register_many(hs, "c", args.officers)
        room_id, echo_room = await public_room(hs, admin, "forum"), await public_room(hs, admin, "echo")
        data = tmp / "data"
        data.mkdir()
        config = tmp / "config.toml"
        config.write_text(tomli_w.dumps(configuration(hs, admin, bot_user, holder_users, officer_users, data)),
                          encoding="utf-8")
        # One sync sees every answer: a sync per sender would load the homeserver more than the bots.
        observer = Person(hs, admin, room_id)
        holders = [Person(hs, u, room_id, observer) for u in holder_users]
        officers = [Person(hs, u, room_id, observer) for u in officer_users]
        for person in (*holders, *officers):
            await person.client.join(room_id)
            await person.client.join(echo_room)
        await observer.client.join(echo_room)
        sync = await observer.start()
        bots = await both_bots(hs, bot_user, echo_user, config, room_id, echo_room, tmp)
        # As in service, the bot has run before and opened its direct rooms: the crisis finds them open.
        bots["bot"].start()
        await officers[0].first_answer(time.monotonic(), timeout=120)
        await wait_for_direct_rooms(data / "samverkan.db", args.holders + args.officers)
        await observer.settle()
        bots["bot"].stop()
        results: dict[str, dict[str, Any]] = {}
        senders = {"bot": bot_user.user_id, "echo_bot": echo_user.user_id}
        for name in ("echo_bot", "bot"):
            results[name] = await run_one(name, bots[name], senders[name], hs, admin, observer, holders,
                                          officers, args)
            print(name, json.dumps(results[name], ensure_ascii=False), flush=True)
        results["bot"]["acknowledgements_recorded"] = acknowledged(data / "samverkan.db")
        sync.cancel()
        for person in (observer, *holders, *officers):
            await person.client.close()
    bot, echo = results["bot"], results["echo_bot"]
    result = {"when": datetime.now().isoformat(timespec="seconds"), "holders": args.holders,
              "officers": args.officers, "seconds": args.seconds, "ack_within": args.ack_within, "pause": args.pause,
              "reply_timeout_s": REPLY_TIMEOUT, "bot": bot, "echo_bot": echo,
              "p50_ratio": round(bot["p50_ms"] / echo["p50_ms"], 2) if bot["p50_ms"] and echo["p50_ms"] else None,
              "p99_ratio": round(bot["p99_ms"] / echo["p99_ms"], 2) if bot["p99_ms"] and echo["p99_ms"] else None}
    print(json.dumps(result, indent=2, ensure_ascii=False))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
