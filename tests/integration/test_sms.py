"""SMS as the second channel, through a real Kannel (bearerbox + smsbox) with fakesmsc playing the phones,
beside the real Synapse: the ladder, acknowledgement by reply, delivery reports, the gateway down, `!sms`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from kannel import NUMBER, UNREACHABLE, Kannel
from pgserver import free_port
from sqlmodel import col, select
from support import World, command, direct_room, send_text, settle, wait_for, wait_for_reply

from bot.app import App
from bot.config import Settings
from bot.domain.clock import FakeClock
from bot.domain.sms import gsm_length
from bot.ops.health import check
from bot.state.models import AuditEntry, OutboxMessage, PhoneNumber, SmsMessage

SECRET = "a-shared-secret-for-kannel"
PHONES = {"nacka": "+46701110001", "rsib": "+46701110002", "sos": "+46701110003"}  # fictitious
STRANGER = "+46701119999"


@dataclass
class Sms:
    world: World
    kannel: Kannel
    listen: str
    clock: FakeClock
    contacts: Path

    def settings(self, **sms: Any) -> Settings:
        def add(data: dict[str, Any]) -> None:
            data["sms"] = {"gateway": self.kannel.gateway, "user": self.kannel.user, "sender": NUMBER,
                           "listen": self.listen, "contacts": str(self.contacts), **sms}

        return self.world.settings(add)

    async def start(self, settings: Settings | None = None) -> App:
        env = {"SAMVERKAN_SMS_PASSWORD": self.kannel.password, "SAMVERKAN_SMS_SECRET": SECRET}
        return await self.world.start_bot(settings or self.settings(), self.clock, env)


def write_contacts(path: Path, world: World, phones: dict[str, str]) -> None:
    path.write_text("".join(f'[[contact]]\nuser = "{world.people[who].user_id}"\nnumber = "{number}"\n\n'
                            for who, number in phones.items()))


@pytest.fixture
async def sms(world: World, tmp_path: Path) -> AsyncIterator[Sms]:
    why = Kannel.find()
    if why:
        pytest.skip(why)
    port = free_port()
    folder = tmp_path / "kannel"
    folder.mkdir()
    kannel = Kannel(folder, f"http://127.0.0.1:{port}", SECRET)
    kannel.start()
    contacts = tmp_path / "contacts.toml"
    write_contacts(contacts, world, PHONES)
    yield Sms(world, kannel, f"127.0.0.1:{port}", FakeClock(datetime.now(UTC)), contacts)
    await world.stop_bots()
    kannel.stop()


async def texts(kannel: Kannel, number: str, count: int) -> list[str]:
    """The texts the phone with `number` has received, once there are at least `count`."""

    async def enough() -> list[str] | None:
        found = kannel.to(number)
        return found if len(found) >= count else None

    found: list[str] = await wait_for(enough, 20)
    return found


async def sms_rows(app: App) -> list[SmsMessage]:
    async with app.db.session() as session:
        return list((await session.exec(select(SmsMessage).order_by(col(SmsMessage.id)))).all())


async def quiet(app: App) -> None:
    """Until every SMS written has had its answer from the gateway (accepted, or refused)."""

    async def done() -> bool:
        return all(row.state not in ("queued", "sending") for row in await sms_rows(app))

    await wait_for(done, 20)


def conference_time(clock: FakeClock) -> str:
    return f"{clock.now().astimezone(ZoneInfo('Europe/Stockholm')):%H:%M}"


async def test_an_unanswered_holder_gets_one_sms_and_a_reply_acknowledges_only_theirs(
        sms: Sms, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    when = conference_time(sms.clock)
    assert "Kvitterat" in await command(world, "sos", "samordnande", "!kvittera")

    sms.clock.advance(timedelta(minutes=1, seconds=50))  # before sms_after: nobody is texted
    assert await app.timers.fire_due() == 0
    sms.clock.advance(timedelta(seconds=15))
    nacka = await texts(kannel, PHONES["nacka"], 1)
    rsib = await texts(kannel, PHONES["rsib"], 1)
    await quiet(app)
    expected = (f"AKTIVERAT snöoväder: Regionalt samordnande forum, konf {when}. Ring 08-123 456 78 PIN 4711. "
                "Svara 1 = kvittera /Länsstyrelsen Stockholm")
    assert nacka == [expected] and rsib == [expected]  # å, ä, ö as sent: one GSM message, not UCS-2
    assert gsm_length(expected) <= 160
    assert kannel.to(PHONES["sos"]) == [], "acknowledged first: no SMS"
    assert {t.to for t in kannel.received()} == {PHONES["nacka"], PHONES["rsib"]}, "nobody else is texted"
    assert all(t.sender == NUMBER for t in kannel.received())

    sms.clock.advance(timedelta(seconds=30))
    assert await app.timers.fire_due() == 0, "one SMS per step: the step does not come back"

    kannel.reply(PHONES["nacka"], "1")
    answer = await texts(kannel, PHONES["nacka"], 2)

    async def delivered() -> bool:  # the operator's delivery reports have come back
        return sum(row.state == "delivered" for row in await sms_rows(app)) >= 3

    await wait_for(delivered, 20)
    assert answer[1] == "Kvitterat: Regionalt samordnande forum (TiB, Nacka kommun). /Länsstyrelsen Stockholm"
    report = await command(world, "tib", "samordnande", "!kallelse")
    assert "✅ TiB, Nacka kommun" in report
    assert "⏳ Regional samverkanskoordinator" in report, "a reply acknowledges only the sender's functions"
    assert "SMS levererat" in report

    kannel.reply(STRANGER, "1")
    stranger = await texts(kannel, STRANGER, 1)
    assert stranger == ["Numret är inte registrerat. Inget har ändrats. /Samverkan"]
    kannel.reply(STRANGER, "1")  # a number that keeps writing is answered once a day
    await wait_for(lambda: _audited(app, kannel, "sms-reply", 2))
    await quiet(app)
    assert kannel.to(STRANGER) == stranger
    assert "⏳ Regional samverkanskoordinator" in await command(world, "tib", "samordnande", "!kallelse")
    assert len(kannel.to(PHONES["nacka"])) == 2 and len(kannel.to(PHONES["rsib"])) == 1

    for number in (*PHONES.values(), STRANGER):  # personal data: never in a log line
        assert number not in caplog.text and number[3:] not in caplog.text
    async with app.db.session() as session:
        stored = (await session.exec(select(PhoneNumber))).all()
    assert len(stored) == 3 and not any(p in row.number for row in stored for p in PHONES.values())


async def _audited(app: App, kannel: Kannel, action: str, count: int) -> bool:
    kannel.received()  # nudges fakesmsc, which reads the next reply between lines
    async with app.db.session() as session:
        rows = (await session.exec(select(AuditEntry).where(AuditEntry.action == action,
                                                            col(AuditEntry.allowed).is_(False)))).all()
    return len(rows) >= count


async def test_a_stale_convocation_is_not_acknowledged_by_a_late_reply(sms: Sms) -> None:
    world, kannel = sms.world, sms.kannel
    await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["nacka"], 1)
    sms.clock.advance(timedelta(hours=25))
    kannel.reply(PHONES["nacka"], "ok")
    late = await texts(kannel, PHONES["nacka"], 2)
    assert late[1] == "Ingen kallelse till dig det senaste dygnet. Inget har ändrats. /Samverkan"
    assert "⏳ TiB, Nacka kommun" in await command(world, "tib", "samordnande", "!kallelse")
    kannel.reply(PHONES["rsib"], "avaktivera samordnande")  # an SMS never changes a forum's state
    assert (await texts(kannel, PHONES["rsib"], 2))[1].startswith("Svara 1 = kvittera, 1 kommer 10:15")
    assert "AKTIVERAT" in await command(world, "tib", "samordnande", "!status samordnande")


async def test_a_failed_delivery_shows_in_the_convocation_and_the_chairs_reminder(sms: Sms) -> None:
    world, kannel = sms.world, sms.kannel
    write_contacts(sms.contacts, world, {**PHONES, "nacka": UNREACHABLE + "12345"})
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["rsib"], 1)
    await quiet(app)
    states = {row.user_id: row.state for row in await sms_rows(app)}
    assert states[world.people["nacka"].user_id] == "failed"
    report = await command(world, "tib", "samordnande", "!kallelse")
    nacka_line = next(line for line in report.splitlines() if "TiB, Nacka kommun" in line)
    assert "SMS kunde inte levereras" in nacka_line
    assert "SMS kunde inte levereras" not in next(line for line in report.splitlines() if "samverkanskoord" in line)

    sms.clock.advance(timedelta(minutes=3))  # the reminder, five minutes after the convocation
    assert await app.timers.fire_due() >= 1
    await settle(app)

    async def told() -> list[str]:
        events = await _room_bodies(world, "samordnande")
        return [b for b in events if "SMS kunde inte levereras till" in b]

    chair = await wait_for(told)
    assert len(chair) == 1 and world.people["nacka"].user_id in chair[0]
    assert world.people["rsib"].user_id not in chair[0]


async def _room_bodies(world: World, room: str) -> list[str]:
    from support import room_events

    return [e["content"].get("body", "") for e in await room_events(world.clients["tib"], world.rooms[room])
            if e["sender"] == world.bot.user_id]


async def test_the_gateway_down_while_sms_are_due_loses_and_doubles_nothing(sms: Sms) -> None:
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    kannel.stop_smsbox()
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    assert await app.timers.fire_due() >= 1

    async def down() -> bool:
        healthy, why = await check(app.settings)
        return not healthy and "sms gateway not answering" in why

    await wait_for(down, 20)
    assert [row.state for row in await sms_rows(app)] == ["queued"] * 3  # nacka, rsib, sos: none sent
    assert "svarar inte" in await command(world, "admin", "samordnande", "!sms status")
    kannel.start_smsbox()
    assert app.sms is not None
    app.sms.notify()
    await texts(kannel, PHONES["nacka"], 1)
    await texts(kannel, PHONES["rsib"], 1)
    await texts(kannel, PHONES["sos"], 1)
    await quiet(app)
    await world.stop_bots()  # and a restart sends nothing again
    app = await sms.start()
    assert await app.timers.fire_due() == 0
    await quiet(app)
    assert [len(kannel.to(number)) for number in PHONES.values()] == [1, 1, 1]
    assert "sms gateway" not in (await check(app.settings))[1]


async def _dm_command(world: World, app: App, who: str, text: str) -> str:
    room = await direct_room(app, world.people[who])
    client = world.clients[who]
    await client.join(room)
    event_id = await send_text(client, room, text)
    return str((await wait_for_reply(client, room, event_id))["content"]["body"])


async def test_a_number_is_registered_by_a_texted_code_and_shown_masked(sms: Sms) -> None:
    world, kannel = sms.world, sms.kannel
    write_contacts(sms.contacts, world, {})
    app = await sms.start()
    refused = await command(world, "sos", "samordnande", "!sms +46 70 123 45 67")
    assert "direktmeddelande" in refused and kannel.received() == []

    sent = await _dm_command(world, app, "sos", "!sms +46 70 123 45 67")
    assert "+46 70 *** ** 67" in sent and "123 45" not in sent
    code = (await texts(kannel, "+46701234567", 1))[0].split("Din kod är ")[1][:6]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert "2 försök kvar" in await _dm_command(world, app, "sos", f"!sms kod {wrong}")
    assert "1 försök kvar" in await _dm_command(world, app, "sos", f"!sms kod {wrong}")
    assert "avbruten" in await _dm_command(world, app, "sos", f"!sms kod {wrong}")
    assert "Ingen kod väntar" in await _dm_command(world, app, "sos", f"!sms kod {code}"), "three wrong ends it"
    assert "inget nummer" in await _dm_command(world, app, "sos", "!sms")

    await _dm_command(world, app, "sos", "!sms 070-123 45 67")
    second = (await texts(kannel, "+46701234567", 2))[1].split("Din kod är ")[1][:6]
    assert "är registrerat" in await _dm_command(world, app, "sos", f"!sms kod {second}")
    assert "+46 70 *** ** 67" in await _dm_command(world, app, "sos", "!sms")
    assert "inte ett mobilnummer" in await _dm_command(world, app, "sos", "!sms 12")
    assert "borttaget" in await _dm_command(world, app, "sos", "!sms av")
    assert "inget nummer" in await _dm_command(world, app, "sos", "!sms")
    assert len(kannel.received()) == 2, "one code each time, nothing else"


async def test_exercise_prefix_and_the_cost_cap(sms: Sms) -> None:
    world, kannel = sms.world, sms.kannel
    app = await sms.start(sms.settings(max_per_event=1))
    await command(world, "tib", "samordnande", "!övning på samordnande")
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))

    async def one() -> list[Any] | None:
        return kannel.received() or None

    first = await wait_for(one, 20)
    await quiet(app)
    assert len(first) == 1 and first[0].text.startswith("ÖVNING AKTIVERAT snöoväder: ")
    assert len(await sms_rows(app)) == 1, "the cap: one SMS for the event"

    async def capped() -> list[str]:
        return [b for b in await _room_bodies(world, "samordnande") if "Taket för SMS är nått" in b]

    assert len(await wait_for(capped)) == 1
    sms.clock.advance(timedelta(minutes=1))
    await app.timers.fire_due()
    await settle(app)
    assert len(await capped()) == 1, "the chair is told once"
    assert len(kannel.received()) == 1


async def test_calls_without_the_shared_secret_are_refused_and_change_nothing(
        sms: Sms, caplog: pytest.LogCaptureFixture) -> None:
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["nacka"], 1)
    await quiet(app)
    base = f"http://{sms.listen}/sms"
    async with aiohttp.ClientSession() as http:
        for url, params in ((f"{base}/incoming", {"from": PHONES["nacka"], "text": "1", "id": "forged"}),
                            (f"{base}/incoming", {"from": PHONES["nacka"], "text": "1", "secret": "wrong"}),
                            (f"{base}/dlr", {"id": "1", "type": "2"})):
            async with http.get(url, params=params) as answer:
                assert answer.status == 403
    assert "without the shared secret" in caplog.text
    assert "⏳ TiB, Nacka kommun" in await command(world, "tib", "samordnande", "!kallelse")
    assert all(row.state != "failed" for row in await sms_rows(app))
    assert len(kannel.to(PHONES["nacka"])) == 1, "no answer to a forged reply"


async def test_a_holder_without_matrix_is_texted_at_once_and_acknowledges_by_reply(sms: Sms) -> None:
    world, kannel = sms.world, sms.kannel
    kalle = "+46701110009"
    write_contacts(sms.contacts, world, PHONES)
    with sms.contacts.open("a") as contacts:
        contacts.write(f'[[contact]]\nname = "Kalle Karlsson"\nnumber = "{kalle}"\nfunctions = ["nacka-tib"]\n')
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    texted = await texts(kannel, kalle, 1)  # at once: no clock has moved
    assert texted[0].startswith("AKTIVERAT snöoväder: Regionalt samordnande forum, konf ")
    await settle(app)
    await quiet(app)
    assert {t.to for t in kannel.received()} == {kalle}, "the others are texted only after sms_after"
    async with app.db.session() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    assert not any("sms:" in row.target for row in rows), "nothing on Matrix for someone without Matrix"
    assert not any(row.failed for row in rows)
    pings = [row for row in rows if row.ref and row.target == world.aliases["samordnande"]]
    assert pings and not any("sms:" in json.dumps(json.loads(p.content)["message"]["mentions"]) for p in pings)
    report = await command(world, "tib", "samordnande", "!kallelse")
    line = next(line for line in report.splitlines() if "TiB, Nacka kommun" in line)
    assert "Kalle Karlsson (SMS)" in line and world.people["nacka"].user_id in line

    kannel.reply(kalle, "1")
    assert (await texts(kannel, kalle, 2))[1] == \
        "Kvitterat: Regionalt samordnande forum (TiB, Nacka kommun). /Länsstyrelsen Stockholm"
    report = await command(world, "tib", "samordnande", "!kallelse")
    assert "✅ TiB, Nacka kommun — Kalle Karlsson (SMS)" in report
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["rsib"], 1)
    await quiet(app)
    assert kannel.to(PHONES["nacka"]) == [], "the function is acknowledged: its other holder is not texted"
    assert len(kannel.to(kalle)) == 2


async def test_a_deputy_called_by_the_escalation_gets_the_sms_step_too(sms: Sms) -> None:
    """The ladder for a deputy: ping and DM when the escalation convenes them, one SMS sms_after later."""
    world, kannel = sms.world, sms.kannel

    def deputy(data: dict[str, Any]) -> None:
        data["sms"] = {"gateway": kannel.gateway, "user": kannel.user, "sender": NUMBER, "listen": sms.listen,
                       "contacts": str(sms.contacts)}
        data["forum"][0]["activated"] = ["lst-tib", "sos-vakthavande"]
        for function in data["function"]:
            if function["id"] == "sos-vakthavande":
                function["deputies"] = ["nacka-tib"]

    app = await sms.start(world.settings(deputy))
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    await command(world, "tib", "samordnande", "!kvittera")  # the TiB answers: its deputy is not convened
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["sos"], 1)
    sms.clock.advance(timedelta(minutes=3))  # ack_within: SOS Alarm's deputy, Nacka's TiB, is convened
    await wait_for(lambda: _bodies_with(world, app, "nacka", "ersättare för Vakthavande"), 20)
    await quiet(app)
    assert kannel.to(PHONES["nacka"]) == [], "the deputy's SMS waits its own sms_after"
    sms.clock.advance(timedelta(minutes=1, seconds=50))
    assert await app.timers.fire_due() == 0
    sms.clock.advance(timedelta(seconds=15))
    assert len(await texts(kannel, PHONES["nacka"], 1)) == 1
    await quiet(app)
    assert [len(kannel.to(n)) for n in (PHONES["sos"], PHONES["nacka"], PHONES["rsib"])] == [1, 1, 0]


async def _bodies_with(world: World, app: App, who: str, needle: str) -> list[str]:
    from support import direct_bodies

    return [b for b in await direct_bodies(world, app, who) if needle in b]
