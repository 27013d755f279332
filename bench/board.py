"""The live board under load: 50 open boards on one activated forum while 40 acknowledgements arrive.

The bot runs in this process against a scratch Synapse; the 50 boards read the server-sent events exactly as the
page does (fetch with the session in the Authorization header) in a child process, so that this process's CPU
time is the bot's (and the 40 holders' clients', the same in both runs). Measured:

- from each ✅ (the reaction sent) to every board showing it: p50, p99, max over all 40 by 50;
- the bot's CPU seconds over the 40 acknowledgements, with the 50 boards and in the same run without any board.

    .venv/bin/python bench/board.py [--boards 50] [--holders 40]

Writes bench/results/board.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from nio import RoomSendResponse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import free_port  # noqa: E402

from bench.convocation import client, unique  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.state import board as board_store  # noqa: E402
from bot.state.models import BoardLink  # noqa: E402
from dev.devserver import Homeserver, one_forum  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def watch(url: str, secret: str, boards: int) -> None:
    """The child: open `boards` boards by a link and print, for each state, the board, the time and who has
    acknowledged, as JSON lines."""
    async with aiohttp.ClientSession() as http:
        async def one(number: int) -> None:
            async with http.post(f"{url}/board/api/session", json={"link": secret}) as answer:
                token = (await answer.json())["token"]
            async with http.get(f"{url}/board/api/events", headers={"Authorization": f"Bearer {token}"},
                                timeout=aiohttp.ClientTimeout(total=None)) as stream:
                buffer = ""
                async for chunk in stream.content.iter_any():
                    buffer += chunk.decode()
                    while "\n\n" in buffer:
                        block, buffer = buffer.split("\n\n", 1)
                        data = "".join(line[6:] for line in block.splitlines() if line.startswith("data: "))
                        if not data:
                            continue
                        state = json.loads(data)
                        people = (state.get("convocation") or {}).get("people", [])
                        acked = sorted(p["function"] for p in people if p["state"] == "acknowledged")
                        print(json.dumps({"board": number, "at": time.time(), "total": len(people), "acked": acked}),
                              flush=True)

        await asyncio.gather(*(one(n) for n in range(boards)))


async def run(hs: Homeserver, admin: Any, holders: int, boards: int, tmp: Path) -> dict[str, Any]:
    bot = hs.register(unique("bot"))
    people = [hs.register(unique("h")) for _ in range(holders)]
    for user in (bot, *people):
        hs.exempt_from_rate_limits(admin.access_token, user.user_id)
    owner = client(hs, admin)
    alias = unique("forum")
    created = await owner.room_create(alias=alias, initial_state=[
        {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}}],
        power_level_override={"users": {bot.user_id: 50}})
    await owner.close()
    clients = [client(hs, p) for p in people]
    for c in clients:
        await c.join(created.room_id)  # type: ignore[union-attr]
    room = created.room_id  # type: ignore[union-attr]
    port = free_port()
    data = one_forum(hs, admin, bot, people, tmp / f"{alias}.db", room=f"#{alias}:{hs.server_name}",
                     activated=[f"f{i}" for i in range(holders)])
    # All the boards on one link, opened at once: the limits are raised to let them in.
    data["board"] = {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}",
                     "sessions_per_link": boards + 1, "checks_per_minute": 10 * boards + 10}
    data["bot"]["commands_per_minute"] = 1_000_000
    app = App(parse_settings(data), env={"SAMVERKAN_PASSWORD": bot.password})
    reads: list[float] = []
    if app.board is not None:  # how long each read of the forum's state takes, and how many there are
        read = app.board.data.snapshot

        async def timed(forum_id: str) -> dict[str, Any]:
            began = time.perf_counter()
            try:
                return await read(forum_id)
            finally:
                reads.append(time.perf_counter() - began)

        app.board.data.snapshot = timed  # type: ignore[method-assign]
    await app.start()
    await app.wait_ready()
    watcher = None
    lines: list[dict[str, Any]] = []
    try:
        if boards:
            secret = secrets.token_urlsafe(24)
            now = datetime.now(UTC)
            await app.db.write(lambda s: board_store.add_link(s, BoardLink(
                forum_id="forum", secret_hash=board_store.digest(secret), created_by="bench", created_at=now,
                expires_at=now + timedelta(hours=1))))
            watcher = start_watcher(f"http://127.0.0.1:{port}", secret, boards)
            reader = asyncio.create_task(_read(watcher, lines))
        await clients[0].room_send(room, "m.room.message", {"msgtype": "m.text", "body": "!aktivera forum storm"})
        pings: dict[int, str] = {}
        while len(pings) < holders:  # each holder's ping in the room (the one mention message)
            events = await clients[0].room_messages(room, start="", limit=50)
            for event in getattr(events, "chunk", []):
                mentioned = event.source.get("content", {}).get("m.mentions", {}).get("user_ids", [])
                if event.sender == bot.user_id and mentioned:
                    for i, p in enumerate(people):
                        if p.user_id in mentioned:
                            pings[i] = event.event_id
            await asyncio.sleep(0.2)
        if boards:
            await _until(lambda: len({x["board"] for x in lines if x["total"] == holders}) == boards, 60)
        await asyncio.sleep(1.0)
        sent: dict[str, float] = {}
        began = cpu()
        for i, c in enumerate(clients):
            sent[f"Funktion {i}"] = time.time()
            answer = await c.room_send(room, "m.reaction", {"m.relates_to": {
                "rel_type": "m.annotation", "event_id": pings[i], "key": "✅"}})
            assert isinstance(answer, RoomSendResponse), answer
            await asyncio.sleep(0.05)

        async def all_acknowledged() -> bool:
            async with app.db.session() as session:
                from sqlmodel import col, select

                from bot.state.models import Summons
                rows = (await session.exec(select(Summons).where(col(Summons.ack_at).is_not(None)))).all()
            return len(rows) >= holders

        await _until_async(all_acknowledged, 60)
        if boards:
            await _until(lambda: sum(1 for x in lines if len(x["acked"]) == holders) >= boards, 60)
        spent = cpu() - began
        async with app.db.session() as session:
            from sqlmodel import select

            from bot.state.models import Summons
            summonses = (await session.exec(select(Summons))).all()
        recorded = sorted(s.ack_at.timestamp() - sent[f"Funktion {int(s.function_id[1:])}"]
                          for s in summonses if s.ack_at is not None)
        latencies = []
        for function, at in sent.items():
            for board in range(boards):
                shown = min((x["at"] for x in lines if x["board"] == board and function in x["acked"]), default=None)
                if shown is not None:
                    latencies.append(shown - at)
        result: dict[str, Any] = {"boards": boards, "acknowledgements": holders, "bot_cpu_s": round(spent, 3),
                                  "ack_to_recorded_s": {"p50": round(statistics.median(recorded), 3),
                                                        "max": round(recorded[-1], 3)}}
        if app.board is not None:  # the same read with nothing else going on
            quiet = []
            for _ in range(20):
                began = time.perf_counter()
                await read("forum")
                quiet.append(time.perf_counter() - began)
            result["state_read_idle_ms"] = round(statistics.median(quiet) * 1000, 1)
        if reads:
            result["state_reads"] = {"count": len(reads), "median_ms": round(statistics.median(reads) * 1000, 1),
                                     "max_ms": round(max(reads) * 1000, 1)}
        if latencies:
            latencies.sort()
            result.update({"ack_to_every_board_s": {
                "p50": round(statistics.median(latencies), 3),
                "p99": round(latencies[int(len(latencies) * 0.99) - 1], 3), "max": round(latencies[-1], 3),
                "samples": len(latencies)}})
        return result
    finally:
        if watcher is not None:
            watcher.terminate()
            reader.cancel()
        await app.stop()
        for c in clients:
            await c.close()


def start_watcher(url: str, secret: str, boards: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--watch", url, secret, str(boards)], stdout=subprocess.PIPE,
                            text=True)


async def _read(process: subprocess.Popen[str], lines: list[dict[str, Any]]) -> None:
    assert process.stdout is not None
    while True:
        line = await asyncio.to_thread(process.stdout.readline)
        if not line:
            return
        lines.append(json.loads(line))


async def _until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the boards did not show it in time")
        await asyncio.sleep(0.05)


async def _until_async(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("not all acknowledged in time")
        await asyncio.sleep(0.05)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--holders", type=int, default=40)
    parser.add_argument("--watch", nargs=3, metavar=("URL", "SECRET", "BOARDS"))
    args = parser.parse_args()
    if args.watch:
        await watch(args.watch[0], args.watch[1], int(args.watch[2]))
        return
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        hs = Homeserver(tmp / "synapse")
        hs.start()
        try:
            admin = hs.register(unique("admin"), admin=True)
            without = await run(hs, admin, args.holders, 0, tmp)
            with_boards = await run(hs, admin, args.holders, args.boards, tmp)
        finally:
            hs.stop()
    result = {"with_boards": with_boards, "without_boards": without,
              "cpu_ratio": round(with_boards["bot_cpu_s"] / without["bot_cpu_s"], 2)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "board.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
