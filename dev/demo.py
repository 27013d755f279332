"""`make demo`: a local homeserver, demo users and rooms from config/dev.toml, the bot, and a
scripted conversation printed as a transcript. Later features add steps to SCENARIO.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, RoomMessagesResponse, RoomSendResponse

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


def localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0]


def people(data: dict[str, Any]) -> list[str]:
    ids = {h for f in data["function"] for h in f.get("holders", [])} | set(data["bot"]["admins"])
    return sorted(localpart(i) for i in ids)


def rooms(data: dict[str, Any]) -> list[str]:
    aliases = [f["room"] for f in data["forum"]] + [o["home_room"] for o in data["organisation"] if "home_room" in o]
    aliases.append(data["bot"]["log_room"])
    return [a[1:].split(":", 1)[0] for a in dict.fromkeys(aliases)]


async def reply_to(client: AsyncClient, room_id: str, event_id: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = await client.room_messages(room_id, start="", limit=30)
        if isinstance(answer, RoomMessagesResponse):
            for event in answer.chunk:
                relates = event.source.get("content", {}).get("m.relates_to", {})
                if relates.get("m.in_reply_to", {}).get("event_id") == event_id:
                    return str(event.source["content"].get("body", ""))
        await asyncio.sleep(0.2)
    return "(no answer)"


def indented(text: str, who: str = "bot") -> str:
    return "\n".join(f"    {who}: {line}" for line in text.splitlines())


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
        await self.app.outbox.idle.wait()
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
        raise RuntimeError(f"no direct room with {user_id}")

    async def step(self, who: str, where: str, what: str) -> None:
        if who == "clock":
            self.app.clock.advance(parse_duration(what))  # type: ignore[attr-defined]
            print(f"[{what} later, nobody else has answered]")
            await self.app.timers.fire_due()
            for event in await self.new_messages(self.clients["anna"], self.room_ids["samordnande"]):
                print(indented(event["content"]["body"], "bot (ping)"))
            return
        client = self.clients[who]
        room_id = await self.direct_room(who) if where == "dm" else self.room_ids[where]
        if what == "✅":
            await self.new_messages(client, room_id)  # only what the reaction brings is shown
            target = (await self.bot_messages(client, room_id))[-1]
            print(f"[{where}] {who} reacts ✅ to: {target['content']['body'].splitlines()[0]}")
            await client.room_send(room_id, "m.reaction", {"m.relates_to": {
                "rel_type": "m.annotation", "event_id": target["event_id"], "key": "✅"}})
            await asyncio.sleep(0.5)
            for event in await self.new_messages(client, await self.direct_room(who)):
                print(indented(event["content"]["body"], "bot (direct)"))
            return
        sent = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": what})
        assert isinstance(sent, RoomSendResponse), sent
        print(f"[{where}] {who}: {what}")
        print(indented(await reply_to(client, room_id, sent.event_id)))
        for event in await self.new_messages(client, room_id):
            if event["content"].get("msgtype") == "m.text":  # pings, as opposed to the quiet reply
                print(indented(event["content"]["body"], "bot (ping)"))
        if what.startswith("!möte slut"):
            for event in await self.new_messages(self.clients["anna"], self.room_ids["samverkan-logg"]):
                if event["content"].get("msgtype") != "m.file":
                    print("    in the log room:")
                    print(indented(event["content"]["body"]))
        if what.startswith("!aktivera samordnande"):
            for event in await self.new_messages(self.clients["bengt"], await self.direct_room("bengt")):
                print("    direct message to bengt:")
                print(indented(event["content"]["body"], "bot (direct)"))


async def run_demo(keep_running: bool, after: Callable[[Player], Awaitable[None]] | None = None) -> int:
    """Play the scenario on a scratch homeserver; `after` sees the result before everything stops."""
    shutil.rmtree(WORKDIR, ignore_errors=True)
    port = 8008
    try:
        hs = Homeserver(WORKDIR / "synapse", port=port)
        await hs.start_async()
    except RuntimeError:
        hs = Homeserver(WORKDIR / "synapse", port=free_port())
        await hs.start_async()
    data = tomllib.loads(DEV_CONFIG.read_text(encoding="utf-8"))
    data["matrix"]["homeserver"] = hs.url
    data["database"]["url"] = f"sqlite+aiosqlite:///{WORKDIR / 'samverkan.db'}"
    board = free_port()  # the live board, on loopback (README: "The live board")
    data["board"] = {"listen": f"127.0.0.1:{board}", "public_url": f"http://127.0.0.1:{board}"}
    settings = parse_settings(data)
    try:
        password = secrets.token_urlsafe(9)
        users: dict[str, RegisteredUser] = {
            name: hs.register(name, password, admin=(name == "admin")) for name in people(data)
        }
        bot_user = hs.register(localpart(settings.matrix.user_id))
        clients: dict[str, AsyncClient] = {}
        for name, user in users.items():
            client = AsyncClient(hs.url, user.user_id, config=AsyncClientConfig(max_timeouts=2))
            client.restore_login(user.user_id, user.device_id, user.access_token)
            clients[name] = client
        everyone = [u.user_id for n, u in users.items() if n != "admin"] + [bot_user.user_id]
        room_ids: dict[str, str] = {}
        for alias in rooms(data):
            created = await clients["admin"].room_create(
                alias=alias, name=alias, invite=everyone,
                power_level_override={"users": {bot_user.user_id: 50}})  # the bot may set the topic
            room_ids[alias] = created.room_id
        for name, client in clients.items():
            if name != "admin":
                for room_id in room_ids.values():
                    await client.join(room_id)
        app = App(settings, clock=OffsetClock(), env={"SAMVERKAN_PASSWORD": bot_user.password})
        await app.start()
        await app.wait_ready()

        print(f"\nHomeserver: {hs.url}  (log in with any Matrix client, e.g. Element, as a user below)")
        print(f"Users: {', '.join(f'@{n}:{hs.server_name}' for n in users)}; password for all: {password}")
        print(f"Rooms: {', '.join(f'#{a}:{hs.server_name}' for a in room_ids)}\n")
        print("--- transcript ---")
        play = Player(app, clients, room_ids)
        for who, where, what in SCENARIO:
            await play.step(who, where, what)
        print("--- end of transcript ---")
        if after is not None:
            await after(play)
        if keep_running:
            print("\nThe bot keeps running; press Ctrl-C to stop.")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        await app.stop()
        for client in clients.values():
            await client.close()
    finally:
        hs.stop()
    return 0


def main() -> int:
    keep_running = sys.stdin.isatty() and "--once" not in sys.argv
    try:
        return asyncio.run(run_demo(keep_running))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
