"""SMS as a duty officer lives it (issue 37), through the real Kannel with fakesmsc as the phones, counted at
fakesmsc: never a text after the end, told when it is over, every answer understood, the gateway's return
noticed at once, and a number never kept or logged in clear."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlmodel import select
from support import command, wait_for
from test_sms import PHONES, SECRET, Sms, quiet, sms, sms_rows, texts  # noqa: F401 - sms is the fixture

from bot.state.models import HandledEvent

SIGNED = " /Länsstyrelsen Stockholm"
ENDED = "AVSLUTAT snöoväder: Regionalt samordnande forum. Kallelsen gäller inte längre."


async def test_deactivated_at_once_nobody_is_texted_after_the_end(sms: Sms) -> None:  # noqa: F811
    """`!aktivera`, then `!avaktivera` at once: when the SMS time comes, fakesmsc receives nothing."""
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande brandlarm")
    sms.clock.advance(timedelta(milliseconds=800))
    await command(world, "tib", "samordnande", "!avaktivera samordnande")
    sms.clock.advance(timedelta(minutes=2, seconds=20))
    assert await app.timers.fire_due() == 0
    await quiet(app)
    assert kannel.received() == [], "nothing for an ended convocation"
    assert await sms_rows(app) == []


async def test_a_replaced_activation_texts_each_phone_once(sms: Sms) -> None:  # noqa: F811
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande brand")
    sms.clock.advance(timedelta(seconds=30))
    await command(world, "tib", "samordnande", "!aktivera samordnande gasläcka ny")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await app.timers.fire_due()
    nacka = await texts(kannel, PHONES["nacka"], 1)
    await quiet(app)
    sms.clock.advance(timedelta(minutes=2))
    await app.timers.fire_due()
    await quiet(app)
    assert len(kannel.to(PHONES["nacka"])) == 1 and nacka[0].startswith("AKTIVERAT gasläcka: ")
    assert sorted(t.to for t in kannel.received()) == sorted([PHONES["nacka"], PHONES["rsib"], PHONES["sos"]])


async def test_those_texted_are_told_it_ended_once_and_nobody_else(sms: Sms) -> None:  # noqa: F811
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    await command(world, "sos", "samordnande", "!kvittera")  # answered in time: never texted
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["nacka"], 1)
    await texts(kannel, PHONES["rsib"], 1)
    await quiet(app)
    await command(world, "tib", "samordnande", "!avaktivera samordnande")
    ended = f"AVSLUTAT snöoväder: Regionalt samordnande forum. Kallelsen gäller inte längre.{SIGNED}"
    assert (await texts(kannel, PHONES["nacka"], 2))[1] == ended
    assert (await texts(kannel, PHONES["rsib"], 2))[1] == ended
    await quiet(app)
    sms.clock.advance(timedelta(minutes=10))
    await app.timers.fire_due()
    await quiet(app)
    assert kannel.to(PHONES["sos"]) == [], "not texted, so not told by SMS"
    assert len(kannel.to(PHONES["nacka"])) == 2 and len(kannel.to(PHONES["rsib"])) == 2


async def test_two_forums_on_one_number_each_answered_by_its_code(sms: Sms) -> None:  # noqa: F811
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["nacka"], 1)
    await command(world, "tib", "inriktande", "!aktivera inriktande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await app.timers.fire_due()
    first, second = await texts(kannel, PHONES["nacka"], 2)
    assert "Svara 1 = kvittera" in first and "Svara 1B = kvittera" in second
    kannel.reply(PHONES["nacka"], "1")
    answer = (await texts(kannel, PHONES["nacka"], 3))[2]
    assert answer == ("Kvitterat: Regionalt inriktande forum (TiB, Nacka kommun). Öppen även: Regionalt "
                      f"samordnande forum, svara 1A.{SIGNED}")
    kannel.reply(PHONES["nacka"], "1A")
    assert (await texts(kannel, PHONES["nacka"], 4))[3] == \
        f"Kvitterat: Regionalt samordnande forum (TiB, Nacka kommun).{SIGNED}"
    assert "✅ TiB, Nacka kommun" in await command(world, "tib", "samordnande", "!kallelse samordnande")
    assert "✅ TiB, Nacka kommun" in await command(world, "tib", "inriktande", "!kallelse inriktande")
    await quiet(app)
    assert len(kannel.to(PHONES["nacka"])) == 4


async def test_no_is_shown_to_the_chair_and_calls_the_deputy(sms: Sms) -> None:  # noqa: F811
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    await command(world, "rsib", "samordnande", "!kvittera")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["sos"], 1)
    kannel.reply(PHONES["sos"], "nej")
    answer = (await texts(kannel, PHONES["sos"], 2))[1]
    assert answer.startswith("Noterat: du kan inte komma till Regionalt samordnande forum.")
    report = await command(world, "tib", "samordnande", "!kallelse")
    line = next(x for x in report.splitlines() if "Vakthavande, SOS Alarm" in x)
    assert "❌" in line and "kan inte komma" in line
    await quiet(app)
    assert len(kannel.to(PHONES["sos"])) == 2


async def test_a_sender_without_plus_arrival_time_and_anything_else(sms: Sms) -> None:  # noqa: F811
    """An operator delivers the sender as 46701110001: understood; `1 kommer 10:15` acknowledged with a time."""
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["nacka"], 1)
    kannel.reply(PHONES["nacka"].removeprefix("+"), "vad gäller?")
    assert (await texts(kannel, PHONES["nacka"], 2))[1] == \
        "Svara 1 = kvittera, 1 kommer 10:15 = kvittera med tid, 2 = kan inte komma. /Samverkan"
    now = sms.clock.now().astimezone(ZoneInfo("Europe/Stockholm"))
    later = now + timedelta(minutes=10)  # today, unless it is just before midnight: then the day is named
    kannel.reply(PHONES["nacka"].removeprefix("+"), f"1 kommer {later:%H:%M}")
    answer = (await texts(kannel, PHONES["nacka"], 3))[2]
    assert answer.startswith("Kvitterat: Regionalt samordnande forum (TiB, Nacka kommun). Du ansluter ")
    assert answer.endswith(f"{later:%H:%M}.{SIGNED}")
    if later.date() == now.date():
        assert f"Du ansluter {later:%H:%M}.{SIGNED}" in answer
    assert "ansluter" in next(x for x in (await command(world, "tib", "samordnande", "!kallelse")).splitlines()
                              if "TiB, Nacka kommun" in x)
    await quiet(app)
    assert len(kannel.to(PHONES["nacka"])) == 3


async def test_due_sms_go_out_within_five_seconds_of_the_gateways_return(
        sms: Sms, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG, logger="bot.sms")
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    kannel.stop_smsbox()
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await app.timers.fire_due()

    async def tried(times: int) -> bool:
        return sum("sms gateway not answering" in r.getMessage() for r in caplog.records) >= times

    await wait_for(lambda: tried(4), 30)  # 1 + 2 + 4 s: a backoff that kept doubling would wait 8 s now
    kannel.start_smsbox()
    back = time.monotonic()  # nobody wakes the sender: it notices by itself
    await texts(kannel, PHONES["nacka"], 1)
    assert time.monotonic() - back <= 5.0
    await quiet(app)
    assert [len(kannel.to(n)) for n in PHONES.values()] == [1, 1, 1]


async def test_without_kannels_id_the_number_is_kept_and_logged_only_sealed(
        sms: Sms, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)
    world, kannel = sms.world, sms.kannel
    kannel.stop()
    kannel.with_id = False
    kannel.start()
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["nacka"], 1)
    kannel.reply(PHONES["nacka"], "1")
    await texts(kannel, PHONES["nacka"], 2)
    async with app.db.session() as session:
        handled = " ".join(h.event_id for h in (await session.exec(select(HandledEvent))).all())
    number = PHONES["nacka"]
    assert number not in handled and number[1:] not in handled and number[3:] not in handled
    assert number[3:] not in caplog.text


async def _held_at(held: asyncio.Event) -> bool:
    return held.is_set()


async def _ended_while_sending(sms: Sms, hold: str) -> dict[str, list[str]]:  # noqa: F811
    """`!avaktivera` while the SMS step is being sent: with the second sendsms not yet made (`hold` 'send'), or
    with the gateway's 202 for the first not yet written ('record'). Returns what each phone received."""
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    assert app.sms is not None
    gate, held = asyncio.Event(), asyncio.Event()
    send, record, calls = app.sms.send, app.sms.record, []

    async def slow_second(http: Any, row: Any) -> None:
        calls.append(row.id)
        if len(calls) == 2 and not gate.is_set():  # the first sendsms took a while
            held.set()
            await gate.wait()
        await send(http, row)

    async def slow_record(sms_id: int, state: str, at: Any, why: str | None = None, *, urgent: bool = False) -> None:
        if urgent and state == "accepted" and not gate.is_set():  # the gateway said 202; its write is late
            held.set()
            await gate.wait()
        await record(sms_id, state, at, why, urgent=urgent)

    if hold == "send":
        app.sms.send = slow_second  # type: ignore[method-assign]
    else:
        app.sms.record = slow_record  # type: ignore[method-assign]
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await app.timers.fire_due()
    await wait_for(partial(_held_at, held), 20)
    await command(world, "tib", "samordnande", "!avaktivera samordnande")
    gate.set()

    async def told() -> bool:
        return sum(t.text.startswith("AVSLUTAT") for t in kannel.received()) >= 1

    await wait_for(told, 20)
    await quiet(app)
    sms.clock.advance(timedelta(minutes=10))
    await app.timers.fire_due()
    await quiet(app)
    await asyncio.sleep(1)  # anything still on its way reaches fakesmsc
    return {who: kannel.to(number) for who, number in PHONES.items()}


@pytest.mark.parametrize("hold", ["send", "record"])
async def test_a_row_cancelled_while_the_batch_is_being_sent_is_still_sent(sms: Sms, hold: str) -> None:  # noqa: F811
    """The end falls while the SMS step is being sent (between two sendsms, or between the gateway's 202 and its
    record): the SMS the end cancelled never goes, and every phone that got AKTIVERAT gets exactly one AVSLUTAT;
    nobody else gets one."""
    got = await _ended_while_sending(sms, hold)
    activated = [who for who, texts_ in got.items() if any(t.startswith("AKTIVERAT") for t in texts_)]
    assert len(activated) == 1, got  # the SMS in hand went; the two the end cancelled did not
    for who, received in got.items():
        if who in activated:
            assert len(received) == 2 and received[0].startswith("AKTIVERAT snöoväder")
            assert received[1] == f"{ENDED}{SIGNED}"
        else:
            assert received == [], f"{who} was not texted, so gets nothing: {received}"


async def test_two_after_one_changes_the_answer_and_promises_no_deputy_that_does_not_exist(
        sms: Sms) -> None:  # noqa: F811
    """`1`, then `2 sjuk`: `!kallelse` shows Nacka's TiB cannot come (no longer ✅), and the answer says what is
    true: the function has no deputy. Three texts at Nacka's phone, none more."""
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await app.timers.fire_due()
    await texts(kannel, PHONES["nacka"], 1)
    kannel.reply(PHONES["nacka"], "1")
    await texts(kannel, PHONES["nacka"], 2)
    kannel.reply(PHONES["nacka"], "2 sjuk")
    answer = (await texts(kannel, PHONES["nacka"], 3))[2]
    assert answer == ("Noterat: du kan inte komma till Regionalt samordnande forum. Ordföranden ser det; din funktion "
                      f"har ingen ersättare.{SIGNED}")
    line = next(x for x in (await command(world, "tib", "samordnande", "!kallelse")).splitlines()
                if "TiB, Nacka kommun" in x)
    assert "kan inte komma" in line and "✅" not in line
    await quiet(app)
    await asyncio.sleep(1)
    assert len(kannel.to(PHONES["nacka"])) == 3


async def test_those_texted_a_replaced_activation_are_told_it_is_replaced_then_texted_the_new(
        sms: Sms) -> None:  # noqa: F811
    """Texted `brand`, then `!aktivera … gasläcka ny`: Nacka's phone gets one SMS that `brand` is replaced by
    `gasläcka` at once, and the new AKTIVERAT only after its own sms_after; each once."""
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande brand")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await app.timers.fire_due()
    await texts(kannel, PHONES["nacka"], 1)
    await quiet(app)
    await command(world, "tib", "samordnande", "!aktivera samordnande gasläcka ny")
    replaced = (await texts(kannel, PHONES["nacka"], 2))[1]
    assert replaced == f"ERSATT brand: Regionalt samordnande forum. Gäller inte längre; ny kallelse: gasläcka.{SIGNED}"
    await quiet(app)
    assert len(kannel.to(PHONES["nacka"])) == 2, "the new convocation's SMS waits for its own sms_after"
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await app.timers.fire_due()
    got = await texts(kannel, PHONES["nacka"], 3)
    assert got[2].startswith("AKTIVERAT gasläcka: Regionalt samordnande forum")
    sms.clock.advance(timedelta(minutes=10))
    await app.timers.fire_due()
    await quiet(app)
    await asyncio.sleep(1)
    assert len(kannel.to(PHONES["nacka"])) == 3
    assert not any(t.startswith(("ERSATT", "AVSLUTAT")) for t in kannel.to(PHONES["sos"]) if "brand" not in t)


async def test_a_contact_without_matrix_called_out_is_told_once_by_sms(sms: Sms) -> None:  # noqa: F811
    """Kalle, without Matrix, holds SOS Alarm's function; called in to the inriktande forum he is texted at once,
    and `!kalla-ut` tells him once that he is released. Nobody else is told."""
    world, kannel = sms.world, sms.kannel
    kalle = "+46701110009"
    with sms.contacts.open("a") as contacts:
        contacts.write(f'[[contact]]\nname = "Kalle Karlsson"\nnumber = "{kalle}"\nfunctions = ["sos-vakthavande"]\n')
    app = await sms.start()
    await command(world, "tib", "inriktande", "!aktivera inriktande brand")
    await command(world, "tib", "inriktande", "!kalla-in sos inriktande")
    assert (await texts(kannel, kalle, 1))[0].startswith("AKTIVERAT brand: Regionalt inriktande forum")
    await quiet(app)
    await command(world, "tib", "inriktande", "!kalla-ut sos inriktande")
    released = (await texts(kannel, kalle, 2))[1]
    assert released == ("AVSLUTAT FÖR DIG brand: Regionalt inriktande forum. Vakthavande, SOS Alarm är inte längre "
                        f"inkallad. Tack för insatsen.{SIGNED}")
    await command(world, "tib", "inriktande", "!avaktivera inriktande")
    sms.clock.advance(timedelta(minutes=10))
    await app.timers.fire_due()
    await quiet(app)
    await asyncio.sleep(1)
    assert len(kannel.to(kalle)) == 2, "released: the end of the activation is not told to him again"
    assert kannel.to(PHONES["sos"]) == []


async def test_without_kannels_id_a_retried_reply_is_handled_once(sms: Sms) -> None:  # noqa: F811
    """A get-url without `id=%I`: Kannel's retry of a reply (the same sender and text, at once, or with the same
    `time=%T`) is handled once; the same words later, or with another time, are a new reply."""
    world, kannel = sms.world, sms.kannel
    app = await sms.start()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    sms.clock.advance(timedelta(minutes=2, seconds=5))
    await texts(kannel, PHONES["nacka"], 1)
    base = f"http://{sms.listen}/sms/incoming"

    async def mo(text: str, **more: str) -> None:
        async with aiohttp.ClientSession() as http:
            params = {"secret": SECRET, "from": PHONES["nacka"].removeprefix("+"), "text": text, **more}
            async with http.get(base, params=params) as answer:
                assert answer.status == 200

    await mo("1")
    sms.clock.advance(timedelta(seconds=20))
    await mo("1")  # Kannel did not see the first answer and calls again
    assert (await texts(kannel, PHONES["nacka"], 2))[1].startswith("Kvitterat: Regionalt samordnande forum")
    await quiet(app)
    await asyncio.sleep(1)
    assert len(kannel.to(PHONES["nacka"])) == 2, "the retry is not answered again"
    await mo("vad gäller?", time="1796000000")
    await mo("vad gäller?", time="1796000000")
    await texts(kannel, PHONES["nacka"], 3)
    await quiet(app)
    await asyncio.sleep(1)
    assert len(kannel.to(PHONES["nacka"])) == 3, "the same time from Kannel: one reply"
    await mo("vad gäller?", time="1796000090")  # written again, later: a new reply
    assert (await texts(kannel, PHONES["nacka"], 4))[3].startswith("Svara 1 = kvittera")
    sms.clock.advance(timedelta(minutes=2))
    await mo("1")  # the same words two minutes later are a new reply, answered
    assert (await texts(kannel, PHONES["nacka"], 5))[4].startswith("Inget att kvittera")
    await quiet(app)
    await asyncio.sleep(1)
    assert len(kannel.to(PHONES["nacka"])) == 5
