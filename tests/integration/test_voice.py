"""Voice calls with real SIP on loopback: the bot's own baresip calls test phones (baresip with an account per
number), which answer, listen (recorded, checked with sox) and press keys; a bridge user agent stands for a
conference. The clock is injected: `call_after` passes when the test moves it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from support import World, bot_said, command, wait_for
from voicephone import AUTO, BUSY, RING, Bridge, Phones, SippTrunk, find, port, sip_port, stats

from bot.app import App
from bot.config import Settings
from bot.domain.clock import FakeClock
from bot.ops.health import check
from bot.state.models import AuditEntry, Summons, VoiceCall
from bot.voice.speech import LISTEN

ROOT = Path(__file__).resolve().parents[2]
PHONES = {"nacka": "+46701110001", "rsib": "+46701110002", "sos": "+46701110003"}  # fictitious


@dataclass
class Voice:
    world: World
    phones: Phones
    bridge: Bridge
    clock: FakeClock
    tmp: Path

    def settings(self, *, conference: dict[str, Any] | None = None,
                 extra: Callable[[dict[str, Any]], None] | None = None, **voice: Any) -> Settings:
        contacts = self.tmp / "contacts.toml"
        contacts.write_text("".join(f'[[contact]]\nuser = "{self.world.people[who].user_id}"\nnumber = "{n}"\n\n'
                                    for who, n in PHONES.items()))

        def add(data: dict[str, Any]) -> None:
            data["sms"] = {"gateway": f"http://127.0.0.1:{port()}/cgi-bin/sendsms", "user": "u",
                           "sender": "+46700000001", "listen": f"127.0.0.1:{port()}",
                           "contacts": str(contacts), "sms_after": "1h"}
            data["voice"] = {"account": f"sip:samverkan@{self.phones.domain}", "registrar": False,
                             "listen": f"127.0.0.1:{sip_port()}", "control": f"127.0.0.1:{port()}",
                             "call_after": "5m", "ring_for": "2s", "folder": str(self.tmp / "voice"), **voice}
            forum = data["forum"][0]
            forum["conference"] = conference or {"phone": "+46812345678", "pin": "4711", "sip": self.bridge.address}
            if extra is not None:
                extra(data)

        return self.world.settings(add)

    async def start(self, settings: Settings | None = None) -> App:
        env = {"SAMVERKAN_SMS_PASSWORD": "p", "SAMVERKAN_SMS_SECRET": "s"}
        return await self.world.start_bot(settings or self.settings(), self.clock, env)


@pytest.fixture
async def voice(world: World, tmp_path: Path) -> AsyncIterator[Voice]:
    why = find()
    if why:
        pytest.skip(why)
    phones = Phones(tmp_path / "phones", {PHONES["nacka"]: AUTO, PHONES["rsib"]: AUTO, PHONES["sos"]: AUTO})
    bridge = Bridge(tmp_path / "bridge")
    try:
        await phones.start()
        await bridge.start()
        yield Voice(world, phones, bridge, FakeClock(datetime.now(UTC)), tmp_path)
    finally:
        await world.stop_bots()
        await phones.stop()
        await bridge.stop()


async def calls(app: App) -> list[VoiceCall]:
    async with app.db.session() as session:
        return list((await session.exec(select(VoiceCall).order_by(col(VoiceCall.id)))).all())


async def answered(phones: Phones, number: str, count: int = 1, timeout: float = 20) -> str:
    """The id of the `count`th call answered by `number`, once it is."""

    async def found() -> str | None:
        got = phones.answered(number)
        return got[count - 1].call_id if len(got) >= count else None

    call_id: str = await wait_for(found, timeout)
    return call_id


async def ended(app: App, predicate: Callable[[list[VoiceCall]], bool], timeout: float = 20) -> list[VoiceCall]:
    async def done() -> list[VoiceCall] | None:
        rows = await calls(app)
        return rows if predicate(rows) else None

    rows: list[VoiceCall] = await wait_for(done, timeout)
    return rows


async def activate_and_wait(voice: Voice, app: App, acked_by: tuple[str, ...] = ("sos",)) -> None:
    """Activate; those in `acked_by` acknowledge; then `call_after` passes."""
    await command(voice.world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    for who in acked_by:
        assert "Kvitterat" in await command(voice.world, who, "samordnande", "!kvittera")
    voice.clock.advance(timedelta(minutes=4, seconds=50))
    await app.timers.fire_due()
    assert await calls(app) == [], "before call_after nobody is called"
    voice.clock.advance(timedelta(seconds=15))
    await app.timers.fire_due()


async def test_key_1_acknowledges_after_the_phone_heard_the_message_and_the_room_sees_it(voice: Voice) -> None:
    """The phone rings once, a Swedish voice speaks (recorded: speech, not silence), 1 acknowledges as ✅ does:
    !kallelse shows 'samtal: kvitterat HH:MM (tryck 1)'; an acknowledged holder is never called."""
    app = await voice.start()
    await activate_and_wait(voice, app)
    nacka = await answered(voice.phones, PHONES["nacka"])
    await asyncio.sleep(3)  # three seconds of the message
    await voice.phones.press(nacka, "1")
    rows = await ended(app, lambda rows: any(r.state == "acked" for r in rows))
    report = await command(voice.world, "tib", "samordnande", "!kallelse")
    line = next(x for x in report.splitlines() if "TiB, Nacka kommun" in x)
    assert line.lstrip("• ").startswith("✅") and "samtal: kvitterat" in line and "(tryck 1)" in line, line
    assert [r.digit for r in rows if r.user_id == voice.world.people["nacka"].user_id] == ["1"]
    assert voice.phones.rang(PHONES["sos"]) == [], "acknowledged before: never called"
    assert len(voice.phones.rang(PHONES["nacka"])) == 1, "exactly one call"

    async def hung_up() -> bool:
        return voice.phones.in_progress(PHONES["nacka"]) == 0

    await wait_for(hung_up, 10)
    heard = [stats(p) for p in voice.phones.recordings()]
    assert heard and max(h["RMS amplitude"] for h in heard) > 0.02, "speech, not silence"
    assert all(h["Length (seconds)"] < 10 for h in heard), "hung up after the key, not at the end of the message"
    async with app.db.session() as session:
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "acknowledge"))).all()
    assert [a.detail for a in audit if a.user_id == voice.world.people["nacka"].user_id] == \
        ['{"channel": "voice", "digit": "1"}']


async def test_key_2_acknowledges_and_transfers_the_caller_to_the_conference_bridge(voice: Voice) -> None:
    """2: acknowledged, and the phone is sent on (REFER) to the forum's conference: the bridge answers it."""
    app = await voice.start()
    await activate_and_wait(voice, app)
    nacka = await answered(voice.phones, PHONES["nacka"])
    await voice.phones.press(nacka, "2")

    async def joined() -> bool:
        return any(PHONES["nacka"] in caller for caller in voice.bridge.callers())

    await wait_for(joined, 15)
    rows = await calls(app)
    mine = [r for r in rows if r.user_id == voice.world.people["nacka"].user_id]
    assert [(r.state, r.digit) for r in mine] == [("joined", "2")]
    assert len(voice.bridge.callers()) == 1, "one caller transferred, once"
    report = await command(voice.world, "tib", "samordnande", "!kallelse")
    assert "samtal: kvitterat, kopplad till konferensen" in report


async def test_key_9_declines_tells_the_chair_and_convenes_the_deputy_at_once(voice: Voice) -> None:
    """9: not acknowledged; the chair is told and the deputy convened at once (long before the ladder would);
    the decliner is not rung again."""
    def deputy(data: dict[str, Any]) -> None:
        nacka = next(f for f in data["function"] if f["id"] == "nacka-tib")
        nacka["ack_within"], nacka["deputies"] = "15m", ["nacka-ersattare"]
        data["function"].append({"id": "nacka-ersattare", "organisation": "nacka", "name": "Ersättare, Nacka kommun",
                                 "holders": [voice.world.people["outsider"].user_id]})

    app = await voice.start(voice.settings(extra=deputy))
    await activate_and_wait(voice, app, acked_by=("sos", "rsib"))

    async def deputies() -> list[Summons]:
        async with app.db.session() as session:
            return [s for s in (await session.exec(select(Summons))).all() if s.deputy_for == "nacka-tib"]

    assert await deputies() == [], "before the key, the ladder has not reached the deputy"
    tib = await answered(voice.phones, PHONES["nacka"])
    await voice.phones.press(tib, "9")
    await ended(app, lambda rows: any(r.state == "declined" for r in rows))
    [convened] = await deputies()
    assert convened.function_id == "nacka-ersattare" and convened.ack_at is None

    async def chair_told() -> list[dict[str, Any]]:
        return await bot_said(voice.world, "samordnande",
                              "kan inte komma (TiB, Nacka kommun), svar per telefon (tryck 9)")

    assert len(await wait_for(chair_told, 10)) == 1, "the chair is told once"
    report = await command(voice.world, "tib", "samordnande", "!kallelse")
    line = next(x for x in report.splitlines() if "TiB, Nacka" in x and x.lstrip("• ")[:1] in "✅⏳❌")
    assert line.lstrip("• ").startswith("❌") and "samtal: kan inte delta" in line and "(tryck 9)" in line, line
    voice.clock.advance(timedelta(minutes=30))
    await app.timers.fire_due()
    await asyncio.sleep(1.5)
    assert len(voice.phones.rang(PHONES["nacka"])) == 1, "declined: never rung again"


async def test_an_unanswered_call_is_tried_once_more_after_two_minutes_then_never_again(
        voice: Voice, caplog: pytest.LogCaptureFixture) -> None:
    """Not answered: one more call after 2 minutes on the bot's clock (not before), then no third."""
    caplog.set_level(logging.INFO, logger="bot")
    voice.phones.numbers[PHONES["nacka"]] = RING
    voice.phones.numbers[PHONES["rsib"]] = BUSY
    await voice.phones.stop()
    await voice.phones.start()
    app = await voice.start()
    await activate_and_wait(voice, app)
    rows = await ended(app, lambda rows: sorted(r.state for r in rows if r.attempt == 1) == ["busy", "no_answer"])
    assert sorted((r.attempt, r.state) for r in rows if r.attempt == 2) == [(2, "queued"), (2, "queued")]
    assert [len(voice.phones.rang(PHONES[w])) for w in ("nacka", "rsib")] == [1, 1]
    voice.clock.advance(timedelta(minutes=1, seconds=50))
    await asyncio.sleep(1.5)
    assert [len(voice.phones.rang(PHONES[w])) for w in ("nacka", "rsib")] == [1, 1], "not before two minutes"
    voice.clock.advance(timedelta(seconds=15))
    rows = await ended(app, lambda rows: len(rows) == 4 and all(r.state in ("busy", "no_answer") for r in rows), 30)
    assert sorted(r.attempt for r in rows) == [1, 1, 2, 2]
    voice.clock.advance(timedelta(minutes=10))
    await app.timers.fire_due()
    await asyncio.sleep(1.5)
    assert [len(voice.phones.rang(PHONES[w])) for w in ("nacka", "rsib")] == [2, 2], "two attempts, no third"
    assert len(await calls(app)) == 4


async def test_deactivation_hangs_up_the_call_in_progress_and_no_call_follows(voice: Voice) -> None:
    """A call ringing out its message when the forum is deactivated is hung up; no further call is placed."""
    app = await voice.start()
    await activate_and_wait(voice, app, acked_by=("sos", "rsib"))
    await answered(voice.phones, PHONES["nacka"])
    await command(voice.world, "tib", "samordnande", "!avaktivera samordnande")

    async def hung_up() -> bool:
        return voice.phones.in_progress(PHONES["nacka"]) == 0

    await wait_for(hung_up, 10)
    rows = await ended(app, lambda rows: all(r.state not in ("dialling", "answered") for r in rows))
    assert [r.state for r in rows] == ["hung_up"]
    voice.clock.advance(timedelta(minutes=30))
    await app.timers.fire_due()
    await asyncio.sleep(1.5)
    assert len(voice.phones.rang(PHONES["nacka"])) == 1 and len(await calls(app)) == 1, "no call after the end"


async def test_a_number_the_trunk_does_not_know_fails_with_a_log_line_and_the_ladder_goes_on(
        voice: Voice, caplog: pytest.LogCaptureFixture) -> None:
    """A number nobody answers to (404) is logged masked, shown as failed, and not retried."""
    caplog.set_level(logging.INFO, logger="bot")
    del voice.phones.numbers[PHONES["nacka"]]
    await voice.phones.stop()
    await voice.phones.start()
    app = await voice.start()
    await activate_and_wait(voice, app, acked_by=("sos", "rsib"))
    rows = await ended(app, lambda rows: [r.state for r in rows] == ["failed"])
    assert rows[0].last_error and rows[0].last_error.startswith("404")
    assert any("failed (404" in r.getMessage() and PHONES["nacka"] not in r.getMessage() for r in caplog.records)
    report = await command(voice.world, "tib", "samordnande", "!kallelse")
    assert "samtal: kunde inte ringas" in report and PHONES["nacka"] not in report
    healthy, _ = await check(app.settings)
    assert healthy, "a bad number is not the trunk's fault"


async def test_a_call_answered_without_a_key_hears_the_message_twice_and_counts_as_not_acknowledged(
        voice: Voice) -> None:
    """The phone listens to the end: speech of the expected length (the message twice, then the time for a key),
    then the call ends; nothing is acknowledged, nobody is rung again, and the event record keeps the call."""
    app = await voice.start()
    await activate_and_wait(voice, app, acked_by=("sos", "rsib"))
    await answered(voice.phones, PHONES["nacka"])
    rows = await ended(app, lambda rows: [r.state for r in rows] == ["no_key"], timeout=45)
    assert rows[0].answered_at is not None and rows[0].digit is None
    [recording] = voice.phones.recordings()
    [said] = (voice.tmp / "voice" / "speech").glob("say-*.wav")
    heard, expected = stats(recording), stats(said)["Length (seconds)"]
    assert abs(heard["Length (seconds)"] - expected) < 2.5, (heard, expected)
    half = (expected - LISTEN) / 2
    for start in (0.5, half + 0.5):  # the message, and the message again
        assert stats(recording, start, half - 2)["RMS amplitude"] > 0.02, f"speech from {start} s, not silence"
    assert stats(recording, expected - LISTEN + 1, LISTEN - 3)["RMS amplitude"] < 0.01, "then quiet, for a key"
    async with app.db.session() as session:
        nacka = [s for s in (await session.exec(select(Summons))).all() if s.function_id == "nacka-tib"]
    assert [s.ack_at for s in nacka] == [None]
    report = await command(voice.world, "tib", "samordnande", "!kallelse")
    assert "samtal: svarat utan att trycka" in report
    from functools import partial

    from bot.flows.record import event_record
    record = await app.dispatch.read(partial(event_record, event="snöoväder"))
    assert record is not None
    assert [c["state"] for c in record.data["convocations"][0]["calls"]] == ["no_key"]
    assert PHONES["nacka"] not in record.json()
    voice.clock.advance(timedelta(minutes=3))
    await app.timers.fire_due()
    await asyncio.sleep(1.5)
    assert len(voice.phones.rang(PHONES["nacka"])) == 1, "answered: not tried again"


async def test_an_acknowledgement_in_the_room_hangs_up_the_call_in_progress(voice: Voice) -> None:
    """✅ (here !kvittera) while the phone plays the message: the call is hung up, and no other follows."""
    app = await voice.start()
    await activate_and_wait(voice, app, acked_by=("sos", "rsib"))
    await answered(voice.phones, PHONES["nacka"])
    assert "Kvitterat" in await command(voice.world, "nacka", "samordnande", "!kvittera")

    async def hung_up() -> bool:
        return voice.phones.in_progress(PHONES["nacka"]) == 0

    await wait_for(hung_up, 10)
    rows = await ended(app, lambda rows: [r.state for r in rows] == ["hung_up"])
    assert rows[0].ended_at is not None
    voice.clock.advance(timedelta(minutes=5))
    await app.timers.fire_due()
    await asyncio.sleep(1.5)
    assert len(voice.phones.rang(PHONES["nacka"])) == 1 and len(await calls(app)) == 1


async def test_no_more_calls_at_once_than_the_trunk_has_channels(voice: Voice) -> None:
    """max_parallel_calls = 1: three holders are rung one after the other, each once."""
    app = await voice.start(voice.settings(max_parallel_calls=1))
    answering = asyncio.create_task(press_when_answered(voice.phones, "1"))
    try:
        await activate_and_wait(voice, app, acked_by=())
        await ended(app, lambda rows: len(rows) == 3 and all(r.state == "acked" for r in rows), timeout=40)
    finally:
        answering.cancel()
    assert [len(voice.phones.rang(PHONES[w])) for w in ("nacka", "rsib", "sos")] == [1, 1, 1]
    assert voice.phones.most_at_once == 1


async def press_when_answered(phones: Phones, key: str) -> None:
    """Each phone presses `key` as soon as a call is answered (and notes how many were in progress at once)."""
    pressed: set[str] = set()
    while True:
        for heard in list(phones.calls.values()):
            if "CALL_RTPESTAB" in heard.events and heard.call_id not in pressed:
                pressed.add(heard.call_id)
                await asyncio.sleep(0.5)  # a key sent before the audio flows is lost, as on a real phone
                await phones.press(heard.call_id, key)
        await asyncio.sleep(0.1)


async def test_a_trunk_that_refuses_makes_health_fail_and_the_call_waits(voice: Voice, tmp_path: Path) -> None:
    """A trunk answering 503 (a SIPp scenario): health says so, the call is kept and dialled again later."""
    sipp = SippTrunk(tmp_path / "sipp")
    sipp.start()
    try:
        settings = voice.settings()
        assert settings.voice is not None
        refused = settings.model_copy(update={"voice": settings.voice.model_copy(
            update={"account": f"sip:samverkan@{sipp.domain}"})})
        app = await voice.start(refused)
        await activate_and_wait(voice, app, acked_by=("sos", "rsib"))
        rows = await ended(app, lambda rows: len(rows) == 1 and rows[0].state == "queued" and rows[0].dials == 1)
        assert rows[0].last_error and rows[0].last_error.startswith("503")
        healthy, why = await check(app.settings)
        assert not healthy and "voice calls failing" in why and "503" in why, why
        assert sipp.invites() == 1
        voice.clock.advance(timedelta(seconds=31))
        await ended(app, lambda rows: rows[0].dials == 2)
        assert sipp.invites() == 2, "tried again, once per wait"
    finally:
        sipp.stop()


def on_trunk(voice: Voice, domain: str, **changes: Any) -> Settings:
    """The settings with the bot's account at another trunk (`domain`)."""
    settings = voice.settings(**changes)
    assert settings.voice is not None
    return settings.model_copy(update={"voice": settings.voice.model_copy(
        update={"account": f"sip:samverkan@{domain}"})})


def with_deputy(voice: Voice) -> Callable[[dict[str, Any]], None]:
    """Nacka's TiB has a deputy (the outsider), convened by the ladder only after 15 minutes."""
    def add(data: dict[str, Any]) -> None:
        nacka = next(f for f in data["function"] if f["id"] == "nacka-tib")
        nacka["ack_within"], nacka["deputies"] = "15m", ["nacka-ersattare"]
        data["function"].append({"id": "nacka-ersattare", "organisation": "nacka", "name": "Ersättare, Nacka kommun",
                                 "holders": [voice.world.people["outsider"].user_id]})
    return add


async def deputies_of_nacka(app: App) -> list[Summons]:
    async with app.db.session() as session:
        return [s for s in (await session.exec(select(Summons))).all() if s.deputy_for == "nacka-tib"]


async def test_an_unreachable_trunk_keeps_the_call_waiting_fails_health_and_blames_the_trunk_not_the_number(
        voice: Voice, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing answers at the trunk's address: the call is not failed but waits to be dialled again, health fails
    and says why, the log names the trunk (never the number), and the room is not told the number is bad."""
    caplog.set_level(logging.INFO, logger="bot")
    dead = f"127.0.0.1:{sip_port()}"  # nothing listens there
    app = await voice.start(on_trunk(voice, dead))
    await activate_and_wait(voice, app, acked_by=("sos", "rsib"))
    dialled_at = voice.clock.now()
    rows = await ended(app, lambda rows: len(rows) == 1 and rows[0].dials == 1 and rows[0].state == "queued"
                       and rows[0].last_error is not None, timeout=60)
    assert rows[0].not_before >= dialled_at + timedelta(seconds=30), "dialled again after a wait, not at once"
    healthy, why = await check(app.settings)
    assert not healthy and "voice calls failing since" in why and "calls wait in the database" in why, why
    said = [r.getMessage() for r in caplog.records if r.name.startswith("bot.voice")]
    assert any(f"the trunk {dead} did not take call" in line for line in said), said
    assert not any("failed (" in line for line in said), "the number is not blamed"
    assert not any(PHONES["nacka"] in line or PHONES["nacka"][-4:] in line for line in said), "no number in the log"
    report = await command(voice.world, "tib", "samordnande", "!kallelse")
    assert "kunde inte ringas" not in report
    assert [r.state for r in await calls(app)] == ["queued"], "one call, waiting"


async def test_a_refusing_trunk_never_loses_the_call_and_the_deputy_is_convened_once_when_the_ladder_would(
        voice: Voice, tmp_path: Path) -> None:
    """The trunk answers every call with 503 for minutes: the call waits longer each time (30 s, 60 s, 120 s…)
    and is never failed; once the second call would have been made, the person counts as not reached: the
    deputy is convened and the chair told, once; health says calls are failing."""
    sipp = SippTrunk(tmp_path / "sipp")
    sipp.start()
    try:
        app = await voice.start(on_trunk(voice, sipp.domain, extra=with_deputy(voice)))
        await activate_and_wait(voice, app, acked_by=("sos", "rsib"))
        await ended(app, lambda rows: len(rows) == 1 and rows[0].dials == 1 and rows[0].state == "queued")
        for dials, wait in ((2, 30), (3, 60), (4, 120), (5, 240)):
            voice.clock.advance(timedelta(seconds=wait - 5))
            await asyncio.sleep(1.5)
            assert sipp.invites() == dials - 1, f"not before {wait} s"
            voice.clock.advance(timedelta(seconds=6))
            await ended(app, lambda rows, n=dials: rows[0].dials == n and rows[0].state == "queued")
            assert sipp.invites() == dials
            if dials == 3:
                assert await deputies_of_nacka(app) == [], "not before the ladder's second call would have been made"
        rows = await calls(app)
        assert [(r.state, r.attempt) for r in rows] == [("queued", 1)], "never failed, never lost"
        [convened] = await deputies_of_nacka(app)
        assert convened.function_id == "nacka-ersattare"

        async def chair_told() -> list[dict[str, Any]]:
            return await bot_said(voice.world, "samordnande", "Kunde inte nås per telefon")

        assert len(await wait_for(chair_told, 10)) == 1, "the chair is told once, not at each refusal"
        healthy, why = await check(app.settings)
        assert not healthy and "503" in why, why
    finally:
        sipp.stop()


async def test_an_acknowledged_persons_waiting_call_is_cancelled_and_the_caller_goes_quiet(voice: Voice) -> None:
    """Unanswered, then ✅ (!kvittera) before the second call: the waiting call is cancelled, never dialled, and
    the caller does not keep asking the database for it."""
    voice.phones.numbers[PHONES["nacka"]] = RING
    await voice.phones.stop()
    await voice.phones.start()
    app = await voice.start()
    await activate_and_wait(voice, app, acked_by=("sos", "rsib"))
    await ended(app, lambda rows: [r.state for r in rows] == ["no_answer", "queued"], timeout=30)
    assert "Kvitterat" in await command(voice.world, "nacka", "samordnande", "!kvittera")
    assert [r.state for r in await calls(app)] == ["no_answer", "cancelled"]
    voice.clock.advance(timedelta(minutes=3))
    assert app.voice is not None
    passes = 0
    real = app.voice.dial_due

    async def counting() -> datetime | None:
        nonlocal passes
        passes += 1
        return await real()

    app.voice.dial_due = counting  # type: ignore[method-assign]
    app.voice.notify()
    await asyncio.sleep(3)
    assert passes <= 3, f"the caller looked {passes} times in 3 s"
    assert len(voice.phones.rang(PHONES["nacka"])) == 1, "the cancelled call is never dialled"


async def test_two_holders_sharing_one_number_are_rung_one_after_the_other_never_at_once(voice: Voice) -> None:
    """A shared duty phone: Nacka's TiB and the RSIB have one number. It is rung for one of them; the other's
    call waits until that call has ended, then rings."""
    settings = voice.settings()
    (voice.tmp / "contacts.toml").write_text(
        "".join(f'[[contact]]\nuser = "{voice.world.people[w].user_id}"\nnumber = "{PHONES["nacka"]}"\n\n'
                for w in ("nacka", "rsib")))
    app = await voice.start(settings)
    await activate_and_wait(voice, app, acked_by=("sos",))
    first = await answered(voice.phones, PHONES["nacka"])
    await asyncio.sleep(3)
    assert len(voice.phones.rang(PHONES["nacka"])) == 1, "one call at a time to one number"
    assert sorted(r.state for r in await calls(app)) == ["answered", "queued"]
    await voice.phones.press(first, "1")
    second = await answered(voice.phones, PHONES["nacka"], count=2)
    await voice.phones.press(second, "1")
    rows = await ended(app, lambda rows: [r.state for r in rows] == ["acked", "acked"])
    assert {r.user_id for r in rows} == {voice.world.people[w].user_id for w in ("nacka", "rsib")}
    assert voice.phones.most_at_once == 1 and len(voice.phones.rang(PHONES["nacka"])) == 2


async def test_an_acknowledgement_between_the_dial_and_the_first_event_hangs_up_at_once(voice: Voice) -> None:
    """✅ arrives after the dial but before the user agent has said a word about the call: the call is hung up
    as soon as its first event names it, not at the next look half a minute later."""
    app = await voice.start()
    assert app.voice is not None
    held: list[dict[str, Any]] = []
    holding = True
    deliver = app.voice.agent.on_event

    def hold(event: dict[str, Any]) -> None:
        if holding:
            held.append(event)
        else:
            deliver(event)

    app.voice.agent.on_event = hold
    await activate_and_wait(voice, app, acked_by=("sos", "rsib"))

    async def dialled() -> bool:
        return any(e.get("type") == "CALL_OUTGOING" or e.get("id") for e in held)

    await wait_for(dialled, 10)
    assert "Kvitterat" in await command(voice.world, "nacka", "samordnande", "!kvittera")
    await asyncio.sleep(1)  # the caller has looked at its calls meanwhile
    holding = False
    for event in held:
        deliver(event)
    rows = await ended(app, lambda rows: [r.state for r in rows] == ["hung_up"], timeout=5)
    assert rows[0].ended_at is not None

    async def hung_up() -> bool:
        return voice.phones.in_progress(PHONES["nacka"]) == 0

    await wait_for(hung_up, 5)
    assert len(voice.phones.rang(PHONES["nacka"])) <= 1 and len(await calls(app)) == 1


async def test_a_user_agent_left_behind_by_a_killed_bot_is_stopped_at_start_and_the_call_is_made_once_more(
        voice: Voice) -> None:
    """The bot is killed mid-call (its baresip outlives it, as when the kernel could not stop it): the next
    start stops that baresip (its pid file) and drives its own; the call is made again once, never two at once,
    and health is ok."""
    settings = voice.settings()
    app = await voice.start(settings)
    await activate_and_wait(voice, app, acked_by=("sos", "rsib"))
    await answered(voice.phones, PHONES["nacka"])
    assert app.voice is not None
    orphan = app.voice.agent._process
    assert orphan is not None
    app.voice.agent._process = None  # as if the bot were SIGKILLed: the child lives on, the socket closes
    voice.world.apps.remove(app)
    await app.stop()
    assert orphan.returncode is None
    try:
        app2 = await voice.start(settings)
        second = await answered(voice.phones, PHONES["nacka"], count=2, timeout=30)
        assert orphan.returncode is not None, "the old user agent is stopped"
        assert voice.phones.in_progress(PHONES["nacka"]) == 1, "the old call ended with its user agent"
        await voice.phones.press(second, "1")
        rows = await ended(app2, lambda rows: [r.state for r in rows] == ["acked"])
        assert rows[0].dials == 2, "the call in progress at the crash, made once more"
        assert len(voice.phones.rang(PHONES["nacka"])) == 2
        healthy, why = await check(app2.settings)
        assert healthy, why
    finally:
        if orphan.returncode is None:
            orphan.kill()


async def test_another_program_at_the_control_port_is_never_driven_and_health_says_so(
        voice: Voice, caplog: pytest.LogCaptureFixture) -> None:
    """Something the bot did not start answers at `[voice] control`: the bot does not talk to it, no call is
    dialled, one clear log line, and health fails naming the port."""
    caplog.set_level(logging.INFO, logger="bot")
    settings = voice.settings()
    assert settings.voice is not None
    host, _, control = settings.voice.control.rpartition(":")
    spoken_to: list[bytes] = []

    async def stranger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        spoken_to.append(await reader.read(100))
        writer.close()

    server = await asyncio.start_server(stranger, host, int(control))
    try:
        app = await voice.start(settings)
        await activate_and_wait(voice, app, acked_by=("sos", "rsib"))
        await asyncio.sleep(3)
        healthy, why = await check(app.settings)
        assert not healthy and f"another program answers at the control port {settings.voice.control}" in why, why
        assert voice.phones.rang(PHONES["nacka"]) == [] and [r.state for r in await calls(app)] == ["queued"]
        assert all(b"dial" not in said for said in spoken_to), "nothing is asked of it"
        assert any("another program answers at the control port" in r.getMessage() for r in caplog.records)
    finally:
        server.close()
        await server.wait_closed()


DRIVER = """
import asyncio, sys
from pathlib import Path
from bot.voice.useragent import UserAgent

async def main() -> None:
    sip, control = sys.argv[2], sys.argv[3]
    agent = UserAgent(Path(sys.argv[1]), f"sip:samverkan@{sip}", sip, control, register=False)
    await agent.start()
    print("started", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except OSError:
        return False


async def test_the_user_agent_dies_with_the_bot_even_when_the_bot_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the process that started baresip: baresip goes too, within seconds, and frees its ports."""
    why = find()
    if why:
        pytest.skip(why)
    sip = f"127.0.0.1:{sip_port()}"
    control = f"127.0.0.1:{port()}"
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", DRIVER, str(tmp_path / "ua"), sip, control,
                                                 stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    assert child.stdout is not None
    assert await asyncio.wait_for(child.stdout.readline(), 20) == b"started\n"
    baresip = int((tmp_path / "ua" / "baresip.pid").read_text())
    assert _alive(baresip)
    try:
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()

        async def gone() -> bool:
            return not _alive(baresip)

        await wait_for(gone, 10)
    finally:
        if _alive(baresip):
            os.kill(baresip, signal.SIGKILL)
