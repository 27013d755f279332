"""Command round trip under load: many users sending commands at once, next to a minimal echo bot.

N users (default 50) in one forum room each send a command, wait for the bot's reply (seen
through their own sync), and send the next, for D seconds (default 60). The same is done against
a minimal nio echo bot on the same homeserver in the same run. Reports throughput and p50/p99
round trip for both, and errors (commands without a reply within 30 s).

    .venv/bin/python bench/load.py [--users 50] [--seconds 60]

Writes bench/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, RoomCreateResponse, RoomMessageNotice, RoomMessageText

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import App  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from dev.devserver import Homeserver, RegisteredUser, one_forum, register_many, scratch_homeserver  # noqa: E402

RESULTS = ROOT / "bench" / "results"
COMMANDS = ("!status", "!vem f0", "!schema", "!kallelse", "!hjälp kalla")
REPLY_TIMEOUT = 30.0


def client(hs: Homeserver, user: RegisteredUser) -> AsyncClient:
    c = AsyncClient(hs.url, user.user_id, device_id=user.device_id,
                    config=AsyncClientConfig(max_limit_exceeded=0, max_timeouts=2, request_timeout=60))
    c.restore_login(user.user_id, user.device_id, user.access_token)
    return c


class Sender:
    """One user: sends a command, waits for the reply addressed to it, repeats."""

    def __init__(self, c: AsyncClient, room_id: str, responder: str) -> None:
        self.c, self.room_id, self.responder = c, room_id, responder
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.c.add_event_callback(self._on_event, (RoomMessageText, RoomMessageNotice))

    async def _on_event(self, room: Any, event: Any) -> None:
        if event.sender != self.responder:
            return
        relates = event.source.get("content", {}).get("m.relates_to", {})
        target = relates.get("m.in_reply_to", {}).get("event_id")
        future = self.waiting.pop(target, None)
        if future is not None and not future.done():
            future.set_result(time.monotonic())

    async def run(self, until: float, times: list[float], errors: list[str]) -> None:
        sync = asyncio.create_task(self.c.sync_forever(timeout=30000, full_state=False))
        n = 0
        try:
            while time.monotonic() < until:
                body = COMMANDS[n % len(COMMANDS)]
                n += 1
                started = time.monotonic()
                future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                answer = await self.c.room_send(self.room_id, "m.room.message", {"msgtype": "m.text", "body": body})
                event_id = getattr(answer, "event_id", None)
                if event_id is None:
                    errors.append(f"send failed: {answer}")
                    continue
                self.waiting[event_id] = future
                try:
                    times.append(await asyncio.wait_for(future, REPLY_TIMEOUT) - started)
                except TimeoutError:
                    errors.append(f"no reply to {body}")
        finally:
            sync.cancel()


async def echo_bot(hs: Homeserver, user: RegisteredUser, room_id: str) -> tuple[AsyncClient, asyncio.Task[None]]:
    """The baseline: answers every '!' message with a notice in reply, nothing else."""
    c = client(hs, user)
    await c.join(room_id)
    first = await c.sync(timeout=0)
    since = getattr(first, "next_batch", None)

    async def on_message(room: Any, event: Any) -> None:
        if event.sender == c.user_id or not event.body.startswith("!"):
            return
        await c.room_send(room.room_id, "m.room.message", {
            "msgtype": "m.notice", "body": "ok", "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}}})

    c.add_event_callback(on_message, RoomMessageText)
    return c, asyncio.create_task(c.sync_forever(timeout=30000, since=since))


async def measure(hs: Homeserver, people: list[RegisteredUser], room_id: str, responder: str,
                seconds: float) -> dict[str, Any]:
    clients = [client(hs, p) for p in people]
    for c in clients:
        first = await c.sync(timeout=0)
        c.next_batch = getattr(first, "next_batch", None)
    senders = [Sender(c, room_id, responder) for c in clients]
    times: list[float] = []
    errors: list[str] = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(s.run(until, times, errors) for s in senders))
    for c in clients:
        await c.close()
    times.sort()
    return {"commands": len(times), "per_second": round_(len(times) / seconds, 2),
            "p50_ms": round_(statistics.median(times) * 1000, 1) if times else None,
            "p99_ms": round_(times[int(len(times) * 0.99) - 1] * 1000, 1) if times else None,
            "errors": len(errors), "first_errors": errors[:3]}


def round_(value: float, digits: int) -> float:
    return float(f"{value:.{digits}f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with scratch_homeserver() as (tmp, hs):
        admin = hs.register(f"admin{uuid.uuid4().hex[:6]}", admin=True)
        bot, echo = hs.register("samverkan"), hs.register("echo")
        people = register_many(hs, "u", args.users)
        admin_client = client(hs, admin)
        created = await admin_client.room_create(alias="forum", initial_state=[
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}}])
        assert isinstance(created, RoomCreateResponse), created
        room_id = created.room_id
        await admin_client.close()
        for p in people:
            c = client(hs, p)
            await c.join(room_id)
            await c.close()
        settings = parse_settings(one_forum(
            hs, admin, bot, people, tmp / "bot.db", ordinary=[f"f{i}" for i in range(len(people))],
            meeting=[{"name": "Veckomöte", "rrule": "FREQ=WEEKLY;BYDAY=TH;BYHOUR=10;BYMINUTE=0"}]))
        app = App(settings, env={"SAMVERKAN_PASSWORD": bot.password})
        await app.start()
        await app.wait_ready()
        bot_figures = await measure(hs, people, room_id, bot.user_id, args.seconds)
        await app.stop()
        echo_client, echo_task = await echo_bot(hs, echo, room_id)
        echo_figures = await measure(hs, people, room_id, echo.user_id, args.seconds)
        echo_task.cancel()
        await echo_client.close()
    result = {"when": datetime.now().isoformat(timespec="seconds"), "users": args.users, "seconds": args.seconds,
              "bot": bot_figures, "echo_bot": echo_figures,
              "p50_ratio": round_(bot_figures["p50_ms"] / echo_figures["p50_ms"], 2)
              if bot_figures["p50_ms"] and echo_figures["p50_ms"] else None,
              "throughput_ratio": round_(bot_figures["per_second"] / echo_figures["per_second"], 2)
              if echo_figures["per_second"] else None}
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
