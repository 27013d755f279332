"""Convocation speed on a local Synapse, next to a bare nio client sending the same events.

For 40, 200 and 1000 holders, with the bot exempt from rate limits (as the README's deployment
section sets it up): the time from the command event to the last ping accepted by the homeserver
(the room ping and one direct message per holder), for the first convocation (direct rooms are
created) and later ones (direct rooms are reused). The baseline is a bare nio client, also exempt,
creating the same rooms and sending the same number of events with full concurrency.

With Synapse's default limits (bot not exempt): the time until every member of the forum room
has the room ping in their notifications, and how many direct messages arrived within a cap.

    .venv/bin/python bench/convocation.py [--sizes 40 200 1000] [--repeats 3]

Writes bench/results/convocation.json.
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
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from nio import AsyncClient, AsyncClientConfig, RoomCreateResponse, RoomSendResponse
from sqlmodel import col, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import App  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.state.models import Convocation, OutboxMessage  # noqa: E402
from dev.devserver import Homeserver, RegisteredUser, one_forum  # noqa: E402

RESULTS = ROOT / "bench" / "results"
RELAX = ("rc_registration", "rc_login", "rc_joins", "rc_joins_per_room")  # setup only; the bot's own limits stay
BODY = "Kallelse till aktiverad samverkanskonferens. " * 8


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def client(hs: Homeserver, user: RegisteredUser) -> AsyncClient:
    c = AsyncClient(hs.url, user.user_id, device_id=user.device_id,
                    config=AsyncClientConfig(max_limit_exceeded=0, max_timeouts=2, request_timeout=120))
    c.restore_login(user.user_id, user.device_id, user.access_token)
    return c


def content(users: list[str]) -> dict[str, Any]:
    pills = ", ".join(f'<a href="https://matrix.to/#/{u}">{u}</a>' for u in users)
    return {"msgtype": "m.text", "body": BODY + " ".join(users), "format": "org.matrix.custom.html",
            "formatted_body": f"<b>{BODY}</b><br>{pills}", "m.mentions": {"user_ids": users}}


class Setup:
    """A forum of n holders, each holding one function; holder 0 may convene."""

    def __init__(self, hs: Homeserver, admin: RegisteredUser, n: int, tmp: Path, exempt: bool,
                 open_rooms: bool = False) -> None:
        self.hs, self.admin, self.n, self.tmp, self.exempt = hs, admin, n, tmp, exempt
        self.open_rooms = open_rooms

    async def build(self) -> None:
        hs = self.hs
        self.bot = hs.register(unique("bot"))
        if self.exempt:
            hs.exempt_from_rate_limits(self.admin.access_token, self.bot.user_id)
        self.holders = [hs.register(unique("h")) for _ in range(self.n)]
        admin = client(hs, self.admin)
        self.alias = unique("forum")
        answer = await admin.room_create(alias=self.alias, initial_state=[
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}}],
            power_level_override={"users": {self.bot.user_id: 50}})
        assert isinstance(answer, RoomCreateResponse), answer
        self.room_id = answer.room_id
        await admin.close()
        self.convener = client(hs, self.holders[0])
        await self.convener.join(self.room_id)
        db = self.tmp / f"{self.alias}.db"
        data = one_forum(hs, self.admin, self.bot, self.holders, db, room=f"#{self.alias}:{hs.server_name}",
                         activated=[f"f{i}" for i in range(self.n)])
        data["matrix"]["open_direct_rooms"] = self.open_rooms
        self.settings = parse_settings(data)
        self.app = App(self.settings, env={"SAMVERKAN_PASSWORD": self.bot.password})
        await self.app.start()
        await self.app.wait_ready()

    async def convene(self, text: str, timeout: float) -> dict[str, Any]:
        """Send a command; the seconds from its event to the last ping the homeserver accepted."""
        async with self.app.db.session() as session:
            before = (await session.exec(select(Convocation.id).order_by(col(Convocation.id).desc()))).first() or 0
        answer = await self.convener.room_send(self.room_id, "m.room.message", {"msgtype": "m.text", "body": text})
        assert isinstance(answer, RoomSendResponse), answer
        event = await self.convener.room_get_event(self.room_id, answer.event_id)
        started = event.event.server_timestamp / 1000  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with self.app.db.session() as session:
                conv = (await session.exec(select(Convocation.id).where(col(Convocation.id) > before))).first()
                rows = [] if conv is None else (await session.exec(
                    select(OutboxMessage).where(OutboxMessage.ref == f"conv:{conv}"))).all()
            pending = [r for r in rows if r.sent_at is None and not r.failed]
            if rows and not pending:
                last: datetime = max(r.sent_at for r in rows if r.sent_at)  # type: ignore[type-var, assignment]
                return {"seconds": round(last.timestamp() - started, 3), "events": len(rows),
                        "failed": sum(1 for r in rows if r.failed)}
            await asyncio.sleep(0.05)
        return {"seconds": None, "events": len(rows), "delivered": len(rows) - len(pending), "timed_out": True}

    async def close(self) -> None:
        await self.app.stop()
        await self.convener.close()


async def baseline(hs: Homeserver, admin: RegisteredUser, setup: Setup, repeats: int) -> dict[str, Any]:
    """A bare nio client, exempt too: create n direct rooms and send n + 1 pings, all at once."""
    user = hs.register(unique("baseline"))
    hs.exempt_from_rate_limits(admin.access_token, user.user_id)
    c = client(hs, user)
    await c.join(setup.room_id)
    holders = [h.user_id for h in setup.holders]
    chunks = [holders[i:i + 150] for i in range(0, len(holders), 150)]

    async def first_dm(holder: str) -> str:
        answer = await c.room_create(is_direct=True, invite=[holder])
        assert isinstance(answer, RoomCreateResponse), answer
        await c.room_send(answer.room_id, "m.room.message", content([holder]))
        return str(answer.room_id)

    started = time.monotonic()
    pings = [c.room_send(setup.room_id, "m.room.message", content(chunk)) for chunk in chunks]
    results = await asyncio.gather(*pings, *(first_dm(h) for h in holders))
    first = time.monotonic() - started
    rooms = [r for r in results if isinstance(r, str)]
    later = []
    for _ in range(repeats):
        started = time.monotonic()
        await asyncio.gather(*(c.room_send(setup.room_id, "m.room.message", content(chunk)) for chunk in chunks),
                             *(c.room_send(room, "m.room.message", content([h])) for room, h in zip(rooms, holders,
                                                                                                 strict=True)))
        later.append(time.monotonic() - started)
    await c.close()
    return {"first": round(first, 3), "later_median": round(statistics.median(later), 3),
            "later": [round(x, 3) for x in later]}


async def exempt_run(hs: Homeserver, admin: RegisteredUser, n: int, repeats: int, tmp: Path) -> dict[str, Any]:
    setup = Setup(hs, admin, n, tmp, exempt=True)
    await setup.build()
    first = await setup.convene("!aktivera forum storm", timeout=600)
    later = [await setup.convene("!kalla forum", timeout=600) for _ in range(repeats)]
    base = await baseline(hs, admin, setup, repeats)
    await setup.close()
    later_median = statistics.median(x["seconds"] for x in later)
    row = {
        "holders": n,
        "bot_first_s": first["seconds"], "baseline_first_s": base["first"],
        "ratio_first": round(first["seconds"] / base["first"], 2),
        "bot_later_median_s": later_median, "baseline_later_median_s": base["later_median"],
        "ratio_later": round(later_median / base["later_median"], 2),
        "bot_later_s": [x["seconds"] for x in later], "baseline_later_s": base["later"],
        "events_per_convocation": first["events"], "failed": first["failed"] + sum(x["failed"] for x in later),
    }
    print(f"{n:5d} holders  first: bot {row['bot_first_s']:7.2f} s  bare {row['baseline_first_s']:7.2f} s  "
          f"ratio {row['ratio_first']:.2f}   later (median): bot {later_median:6.2f} s  "
          f"bare {base['later_median']:6.2f} s  ratio {row['ratio_later']:.2f}", flush=True)
    return row


async def highlighted(hs: Homeserver, user: RegisteredUser, room_id: str, http: aiohttp.ClientSession) -> bool:
    async with http.get(f"{hs.url}/_matrix/client/v3/notifications", params={"only": "highlight"},
                        headers={"Authorization": f"Bearer {user.access_token}"}) as answer:
        body = await answer.json()
    return any(n["room_id"] == room_id for n in body.get("notifications", []))


async def limited_run(hs: Homeserver, admin: RegisteredUser, n: int, cap: float, tmp: Path,
                      warm: bool) -> dict[str, Any]:
    """Default limits, bot not exempt: when has every member the room ping; when every DM (within `cap`).

    Cold: the bot has just started and opens no direct rooms ahead, the worst case. Warm: the bot
    has opened its direct rooms at start (the default), as it has once it has run for a while.
    """
    setup = Setup(hs, admin, n, tmp, exempt=False, open_rooms=warm)
    await setup.build()
    opening = time.monotonic()
    for _ in range(4 * 3600 if warm else 0):
        if len(setup.app.matrix.rooms.direct_rooms) >= n:
            break
        await asyncio.sleep(1)
    opened_s = round(time.monotonic() - opening, 1) if warm else None
    members = setup.holders
    for holder in members[1:]:
        c = client(hs, holder)
        await c.join(setup.room_id)
        await c.close()
    started = time.monotonic()
    answer = await setup.convener.room_send(setup.room_id, "m.room.message",
                                            {"msgtype": "m.text", "body": "!aktivera forum storm"})
    assert isinstance(answer, RoomSendResponse), answer
    ping_s = None
    async with aiohttp.ClientSession() as http:
        waiting = list(members)
        while waiting and time.monotonic() - started < cap:
            found = await asyncio.gather(*(highlighted(hs, m, setup.room_id, http) for m in waiting))
            waiting = [m for m, ok in zip(waiting, found, strict=True) if not ok]
            if not waiting:
                ping_s = time.monotonic() - started
            await asyncio.sleep(0.1)
    all_dms_s = None
    while time.monotonic() - started < cap:
        async with setup.app.db.session() as session:
            rows = (await session.exec(select(OutboxMessage).where(col(OutboxMessage.target).startswith("user:"),
                                                                   col(OutboxMessage.ref).startswith("conv:")))).all()
        delivered = sum(1 for r in rows if r.sent_at)
        if rows and delivered == len(rows):
            all_dms_s = time.monotonic() - started
            break
        await asyncio.sleep(0.5)
    await setup.close()
    row = {"holders": n, "warm": warm, "rooms_opened_at_start_s": opened_s,
           "room_ping_all_members_s": round(ping_s, 3) if ping_s else None,
           "dms_delivered": delivered, "dms_total": len(rows), "all_dms_s": round(all_dms_s, 1) if all_dms_s else None,
           "cap_s": cap}
    print(f"default limits, {n} holders, {'warm' if warm else 'cold'}: every member has the room ping after "
          f"{row['room_ping_all_members_s']} s; "
          f"direct messages {delivered}/{len(rows)}, all after {row['all_dms_s']} s (cap {cap:.0f} s)", flush=True)
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[40, 200, 1000], help="exempt runs (none: skip)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limited", type=int, default=40, help="holders for the default-limits run (0: skip)")
    parser.add_argument("--cap", type=float, default=120.0, help="seconds to wait in the default-limits run")
    parser.add_argument("--warm", action="store_true", help="default-limits run after the bot opened its direct rooms")
    parser.add_argument("--out", default="convocation.json", help="file name in bench/results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        hs = Homeserver(tmp / "synapse", default_limits=True, relax=RELAX)
        hs.start()
        try:
            admin = hs.register(unique("admin"), admin=True)
            exempt = [await exempt_run(hs, admin, n, args.repeats, tmp) for n in args.sizes]
            limited = await limited_run(hs, admin, args.limited, args.cap, tmp, args.warm) if args.limited else None
        finally:
            hs.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / args.out
    out.write_text(json.dumps({"when": datetime.now().isoformat(timespec="seconds"), "exempt": exempt,
                               "default_limits": limited}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
