"""`make demo`: a local homeserver, demo users and rooms from config/dev.toml, the bot, and a
scripted conversation printed as a transcript. Later features add steps to SCENARIO.

The scenario plays the same on any day at any hour: the demo makes the choices that depend on the
calendar from its start instant (who is on call, the day of the weekly meeting), and `--at` starts
the bot's clock at a chosen instant. A step that does not get what it waits for stops the demo with
one sentence naming the step; everything the demo started is stopped either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import sys
import time
import tomllib
import urllib.error
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from dateutil.parser import isoparse
from nio import AsyncClient, AsyncClientConfig, RoomCreateResponse, RoomMessagesResponse, RoomSendResponse

from bot.app import App
from bot.config import parse_settings
from bot.domain.clock import OffsetClock
from bot.domain.timeparse import parse_duration
from bot.state import repo
from dev.devserver import Homeserver, RegisteredUser, free_port

ROOT = Path(__file__).resolve().parent.parent
DEV_CONFIG = ROOT / "config" / "dev.toml"
WORKDIR = ROOT / ".demo"

# (who, where, what): where is a room alias localpart or "dm" (the person's direct room with the
# bot); what is a command, or "✅" to react to the bot's latest message there. ("clock", "", "6m")
# moves the bot's clock ahead and runs what fell due. The transcript shows the bot's answers.
SCENARIO: list[tuple[str, str, str]] = [
    ("anna", "samordnande", "!status"),
    ("nils", "samordnande", "!stauts"),
    ("sara", "samordnande", "!vem tib"),
    ("anna", "samordnande", "!aktivera samordnande snöoväder röd varning för snö, hela länet"),
    ("sara", "dm", "✅"),
    ("bengt", "dm", "✅"),
    ("nils", "samordnande", "!kvittera ersättare"),
    ("clock", "", "6m"),
    ("anna", "samordnande", "!kallelse"),
    ("anna", "samordnande", "!möte start"),
    ("anna", "samordnande", "!upprop"),
    ("sara", "samordnande", "!här"),
    ("nils", "samordnande", "!här"),
    ("anna", "samordnande", "!beslut Nästa konferens kl 08:00 i morgon"),
    ("anna", "samordnande", "!kalla samordnande igen i morgon 08:00 lägesgenomgång"),
    ("anna", "samordnande", "!åtgärd tlc lägesbild för E4 och E18 senast om 3h"),
    # Scene 3 (seed 000): a joint message, answered by each organisation, revised and fixed.
    ("anna", "samordnande", "!budskap samordnande Undvik onödiga resor i hela länet i kväll. senast om 1h"),
    ("sara", "samordnande", "!budskap ok 1"),
    ("tove", "samordnande", "!budskap invänd 1 Skriv att E4 och E18 plogas hela natten"),
    ("anna", "samordnande", "!budskap ändra 1 Undvik onödiga resor i hela länet i kväll. E4 och E18 plogas "
                            "hela natten; följ trafikinformationen."),
    ("sara", "samordnande", "!budskap ok 1"),
    ("tove", "samordnande", "!budskap ok 1"),
    ("nils", "samordnande", "!budskap ok 1"),
    ("rasmus", "samordnande", "!budskap ok 1"),
    ("anna", "samordnande", "!budskap fastställ 1"),
    ("anna", "samordnande", "!möte slut"),
    ("anna", "inriktande", "!aktivera inriktande snöoväder om 2h"),  # "två timmar senare" (scene 3)
    ("tove", "samordnande", "!klar 2 lägesbilden för E4 och E18 är skickad"),
    ("anna", "samordnande", "!bilda Vägar trv nacka-tib"),  # a verkställande forum "bildas vid behov" (seed 000)
    ("sara", "samordnande", "!rapport konsekvenser: högt tryck på 112 ; behov: inga"),
    ("nils", "samordnande", "!rapport konsekvenser: elavbrott i Boo, 800 hushåll\n"
                            "samordning: gemensamt budskap om värmestugor"),
    ("tove", "samordnande", "!rapport åtgärder: E4 och E18 plogas kontinuerligt; bedömning: bättre i natt"),
    ("anna", "samordnande", "!avaktivera samordnande"),
    ("anna", "samordnande", "!lägesbild"),
    ("anna", "samordnande", "!export snöoväder"),
]


# The demo's people as a client and the board show them.
DISPLAY_NAMES = {"anna": "Anna Lind", "bengt": "Bengt Sjöberg", "nils": "Nils Ek", "rasmus": "Rasmus Holm",
                 "sara": "Sara Nyström", "tor": "Tor Berg", "tove": "Tove Ahl", "admin": "Administratör"}


def localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0]


def people(data: dict[str, Any]) -> list[str]:
    ids = {h for f in data["function"] for h in f.get("holders", [])} | set(data["bot"]["admins"])
    return sorted(localpart(i) for i in ids)


def rooms(data: dict[str, Any]) -> list[str]:
    aliases = [f["room"] for f in data["forum"]] + [o["home_room"] for o in data["organisation"] if "home_room" in o]
    aliases.append(data["bot"]["log_room"])
    return [a[1:].split(":", 1)[0] for a in dict.fromkeys(aliases)]


class DemoFailed(Exception):
    """A step did not get what it waits for; the message is one sentence a reader can act on."""


async def reply_to(client: AsyncClient, room_id: str, event_id: str, timeout: float = 20) -> str | None:
    """The bot's answer to one message, or None when none came within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = await client.room_messages(room_id, start="", limit=30)
        if isinstance(answer, RoomMessagesResponse):
            for event in answer.chunk:
                relates = event.source.get("content", {}).get("m.relates_to", {})
                if relates.get("m.in_reply_to", {}).get("event_id") == event_id:
                    return str(event.source["content"].get("body", ""))
        await asyncio.sleep(0.2)
    return None


def indented(text: str, who: str = "bot") -> str:
    return "\n".join(f"    {who}: {line}" for line in text.splitlines())


def anchored(data: dict[str, Any], start: datetime) -> None:
    """The choices the scenario needs, made from its start instant rather than the reader's calendar.

    bengt is the Länsstyrelsen TiB on call (anna is his colleague who types the activation): the weekly
    rotation hands over at 12:00, eight days before the start day, so bengt's week began the day before and
    runs six more days. The weekly meeting falls three days after the start, so nothing planned falls due
    while the scenario plays.
    """
    tz = ZoneInfo(data["bot"]["timezone"])
    local = start.astimezone(tz)
    handover = (local - timedelta(days=8)).replace(hour=12, minute=0, second=0, microsecond=0)
    meeting_day = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[(local + timedelta(days=3)).weekday()]
    for function in data["function"]:
        if "rotation" in function:
            function["rotation"]["handover"] = handover.strftime("%Y-%m-%dT%H:%M")
    for forum in data["forum"]:
        for meeting in forum.get("meeting", []):
            meeting["rrule"] = ";".join(f"BYDAY={meeting_day}" if part.startswith("BYDAY=") else part
                                        for part in meeting["rrule"].split(";"))


class Player:
    """Plays the scenario as the demo users and prints what the bot answers."""

    def __init__(self, app: App, clients: dict[str, AsyncClient], room_ids: dict[str, str]) -> None:
        self.app, self.clients, self.room_ids = app, clients, room_ids
        self.seen: set[str] = set()

    async def bot_messages(self, client: AsyncClient, room_id: str) -> list[dict[str, Any]]:
        answer = await client.room_messages(room_id, start="", limit=50)
        if not isinstance(answer, RoomMessagesResponse):
            return []
        return [e.source for e in reversed(answer.chunk)
                if e.sender == self.app.settings.matrix.user_id and e.source.get("type") == "m.room.message"]

    async def new_messages(self, client: AsyncClient, room_id: str) -> list[dict[str, Any]]:
        """The bot's messages in a room not printed yet, once the outbox is idle."""
        await asyncio.sleep(0.3)
        try:
            await asyncio.wait_for(self.app.outbox.idle.wait(), 30)
        except TimeoutError:
            raise DemoFailed("the bot's messages were not delivered within 30 seconds") from None
        fresh = [e for e in await self.bot_messages(client, room_id) if e["event_id"] not in self.seen]
        self.seen.update(e["event_id"] for e in fresh)
        return fresh

    async def direct_room(self, who: str) -> str:
        user_id = self.clients[who].user_id
        for _ in range(100):
            async with self.app.db.session() as session:
                room_id = await repo.get_value(session, f"dm:{user_id}")
            if room_id:
                await self.clients[who].join(room_id)
                return room_id
            await asyncio.sleep(0.1)
        raise DemoFailed(f"the bot opened no direct room with {who}")

    async def step(self, who: str, where: str, what: str) -> None:
        if who == "clock":
            self.app.clock.advance(parse_duration(what))  # type: ignore[attr-defined]
            print(f"[{what} later, nobody else has answered]")
            await self.app.timers.fire_due()
            pings = await self.new_messages(self.clients["anna"], self.room_ids["samordnande"])
            if not pings:
                raise DemoFailed("the bot sent no reminder to those who had not acknowledged")
            for event in pings:
                print(indented(event["content"]["body"], "bot (ping)"))
            return
        client = self.clients[who]
        room_id = await self.direct_room(who) if where == "dm" else self.room_ids[where]
        if what == "✅":
            await self.new_messages(client, room_id)  # only what the reaction brings is shown
            sent = await self.bot_messages(client, room_id)
            if not sent:
                raise DemoFailed("the bot has sent nothing there to react to")
            target = sent[-1]
            print(f"[{where}] {who} reacts ✅ to: {target['content']['body'].splitlines()[0]}")
            await client.room_send(room_id, "m.reaction", {"m.relates_to": {
                "rel_type": "m.annotation", "event_id": target["event_id"], "key": "✅"}})
            await asyncio.sleep(0.5)
            answers = await self.new_messages(client, await self.direct_room(who))
            if not answers:
                raise DemoFailed("the bot did not answer the ✅ in the direct room")
            for event in answers:
                print(indented(event["content"]["body"], "bot (direct)"))
            return
        sent_event = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": what})
        if not isinstance(sent_event, RoomSendResponse):
            raise DemoFailed(f"the homeserver did not take the message ({sent_event})")
        print(f"[{where}] {who}: {what}")
        answer = await reply_to(client, room_id, sent_event.event_id)
        if answer is None:
            raise DemoFailed("the bot did not answer within 20 seconds")
        print(indented(answer))
        for event in await self.new_messages(client, room_id):
            if event["content"].get("msgtype") == "m.text":  # pings, as opposed to the quiet reply
                print(indented(event["content"]["body"], "bot (ping)"))
        if what.startswith("!möte slut"):
            for event in await self.new_messages(self.clients["anna"], self.room_ids["samverkan-logg"]):
                if event["content"].get("msgtype") != "m.file":
                    print("    in the log room:")
                    print(indented(event["content"]["body"]))
        if what.startswith("!aktivera samordnande"):
            summons = await self.new_messages(self.clients["bengt"], await self.direct_room("bengt"))
            if not summons:
                raise DemoFailed("bengt, the TiB on call, got no convocation by direct message")
            for event in summons:
                print("    direct message to bengt:")
                print(indented(event["content"]["body"], "bot (direct)"))


def described(number: int, who: str, where: str, what: str) -> str:
    """'step 6, bengt reacts ✅ in the direct room': a step as the transcript shows it."""
    if who == "clock":
        return f"step {number}, the clock moved {what} ahead"
    place = "the direct room" if where == "dm" else f"#{where}"
    action = "reacts ✅" if what == "✅" else f"types {what.splitlines()[0]!r}"
    return f"step {number}, {who} {action} in {place}"


@contextlib.contextmanager
def only_demo_in(workdir: Path) -> Iterator[None]:
    """Hold `workdir` for this demo alone, and stop a homeserver a killed demo left running there."""
    workdir.parent.mkdir(parents=True, exist_ok=True)
    with open(workdir.with_name(workdir.name + ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoFailed(f"while starting: another demo is playing in {workdir.name}; stop it, or give this one a "
                             "folder of its own with --workdir") from None
        left = workdir / "synapse" / "homeserver.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(left.read_text())
            if str(workdir) in Path(f"/proc/{pid}/cmdline").read_text(errors="ignore"):
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):  # its port is free again when it has gone
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)
        yield


async def started_homeserver(folder: Path, port: int | None) -> Homeserver:
    """A scratch Synapse on `port`, or on 8008 (Element's usual port) or else any free port when none is given."""
    for attempt in range(3):
        hs = Homeserver(folder, port=port or free_port(8008 if attempt == 0 else 0))
        try:
            await hs.start_async()
            return hs
        except RuntimeError as error:
            hs.stop()
            if port is not None or attempt == 2:
                raise DemoFailed(f"while starting: the homeserver did not start on port {hs.port} ({error})") from None
    raise AssertionError("unreachable")


async def run_demo(keep_running: bool, after: Callable[[Player], Awaitable[None]] | None = None, *,
                   start: datetime | None = None, workdir: Path = WORKDIR, port: int | None = None,
                   scenario: Sequence[tuple[str, str, str]] = SCENARIO,
                   moments: Mapping[str, Callable[[Player], Awaitable[None]]] | None = None) -> int:
    """Play the scenario on a scratch homeserver; `after` sees the result before everything stops, and
    `moments` what the scenario looks like right after the step with that text (e.g. "!kallelse").

    `start` is the instant the bot's clock starts at (now when None). Raises DemoFailed when the homeserver
    does not start or a step does not get what it waits for; the bot, the clients and the homeserver are stopped
    in every case.
    """
    with only_demo_in(workdir):
        shutil.rmtree(workdir, ignore_errors=True)
        hs = await started_homeserver(workdir / "synapse", port)
        try:
            return await play_on(hs, keep_running, after, start or datetime.now(UTC), workdir, scenario, moments or {})
        finally:
            hs.stop()


async def play_on(hs: Homeserver, keep_running: bool, after: Callable[[Player], Awaitable[None]] | None,
                  start: datetime, workdir: Path, scenario: Sequence[tuple[str, str, str]],
                  moments: Mapping[str, Callable[[Player], Awaitable[None]]]) -> int:
    """The demo on a homeserver that answers: users, rooms, the bot, then the scenario step by step."""
    data = tomllib.loads(DEV_CONFIG.read_text(encoding="utf-8"))
    anchored(data, start)
    data["matrix"]["homeserver"] = hs.url
    data["database"]["url"] = f"sqlite+aiosqlite:///{workdir / 'samverkan.db'}"
    board = free_port()  # the live board, on loopback (README: "The live board")
    data["board"] = {"listen": f"127.0.0.1:{board}", "public_url": f"http://127.0.0.1:{board}"}
    settings = parse_settings(data)
    clients: dict[str, AsyncClient] = {}
    app: App | None = None
    try:
        password = secrets.token_urlsafe(9)
        try:
            users: dict[str, RegisteredUser] = {
                name: hs.register(name, password, admin=(name == "admin")) for name in people(data)
            }
            bot_user = hs.register(localpart(settings.matrix.user_id))
        except urllib.error.URLError as error:
            raise DemoFailed(f"while starting: the homeserver did not register the demo's users ({error})") from None
        for name, user in users.items():
            client = AsyncClient(hs.url, user.user_id, config=AsyncClientConfig(max_timeouts=2))
            client.restore_login(user.user_id, user.device_id, user.access_token)
            clients[name] = client
            await client.set_displayname(DISPLAY_NAMES.get(name, name.capitalize()))
        everyone = [u.user_id for n, u in users.items() if n != "admin"] + [bot_user.user_id]
        room_ids: dict[str, str] = {}
        for alias in rooms(data):
            created = await clients["admin"].room_create(
                alias=alias, name=alias, invite=everyone,
                power_level_override={"users": {bot_user.user_id: 50}})  # the bot may set the topic
            if not isinstance(created, RoomCreateResponse):
                raise DemoFailed(f"while starting: the homeserver did not create #{alias} ({created})")
            room_ids[alias] = created.room_id
        for name, client in clients.items():
            if name != "admin":
                for room_id in room_ids.values():
                    await client.join(room_id)
        # A scratch homeserver lives as long as the demo: so does the key its store is sealed with.
        env = {"SAMVERKAN_PASSWORD": bot_user.password, "SAMVERKAN_STORE_KEY": secrets.token_urlsafe(32)}
        app = App(settings, clock=OffsetClock(start), env=env)
        await app.start()
        await app.wait_ready()

        print(f"\nHomeserver: {hs.url}  (log in with any Matrix client, e.g. Element, as a user below)")
        print(f"Users: {', '.join(f'@{n}:{hs.server_name}' for n in users)}; password for all: {password}")
        print(f"Rooms: {', '.join(f'#{a}:{hs.server_name}' for a in room_ids)}\n")
        print("--- transcript ---")
        play = Player(app, clients, room_ids)
        for number, (who, where, what) in enumerate(scenario, start=1):
            try:
                await play.step(who, where, what)
            except DemoFailed as failed:
                raise DemoFailed(f"at {described(number, who, where, what)}: {failed}") from None
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                raise DemoFailed(f"at {described(number, who, where, what)}: the homeserver did not answer "
                                 f"({type(error).__name__})") from None
            if what in moments:
                await moments[what](play)
        print("--- end of transcript ---")
        if after is not None:
            await after(play)
        if keep_running:
            print("\nThe bot keeps running; press Ctrl-C to stop.")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
    finally:
        if app is not None:
            await app.stop()
        for client in clients.values():
            await client.close()
    return 0


def instant(text: str) -> datetime:
    """An ISO 8601 instant between the years 2000 and 2999; without an offset it is Swedish local time."""
    try:
        parsed = isoparse(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not an instant: {text!r} (e.g. 2027-03-28T00:40Z)") from None
    if not 2000 <= parsed.year <= 2999:
        raise argparse.ArgumentTypeError(f"{text!r} is outside the years 2000–2999")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo("Europe/Stockholm"))


async def played(keep_running: bool, at: datetime | None, workdir: Path, port: int | None) -> int:
    """The demo, stopped as cleanly by SIGTERM (a CI job's timeout, `kill`) as by Ctrl-C."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run_demo(keep_running, start=at, workdir=workdir, port=port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.demo", description="A local homeserver, the bot and a "
                                     "scripted conversation, printed as a transcript (make demo DEMO='--at …').")
    parser.add_argument("--once", action="store_true",
                        help="stop after the transcript (the default without a terminal)")
    parser.add_argument("--at", type=instant, metavar="INSTANT",
                        help="start the bot's clock at this instant, e.g. 2027-03-28T00:40Z (default: now)")
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="scratch folder (default: .demo)")
    parser.add_argument("--port", type=int, help="the homeserver's port (default: 8008, or any free port)")
    args = parser.parse_args(argv)
    keep_running = sys.stdin.isatty() and not args.once
    try:
        return asyncio.run(played(keep_running, args.at, args.workdir.resolve(), args.port))
    except DemoFailed as failed:
        print(f"\nmake demo stopped {failed}.", file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        print("\nmake demo stopped: terminated.", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
