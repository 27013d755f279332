"""SMS as a duty officer lives it, on the real dispatcher, flows and timers with an injected clock; the SMS
are read where the sender would take them (`tests/integration/test_sms.py` has the same through Kannel).

Never a text for a convocation that has ended; told by SMS when it ends if texted; every reply understood
and answered with the forum's name."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from test_convocation_steps import ANNA, FORUM_ROOM, NUMBERS, SARA, TIB, TOVE, ConvocationSteps

from bot.domain.sms import SMS_LENGTH, gsm_length
from bot.flows import sms as sms_flow
from bot.messages import SmsIn
from bot.state.models import AuditEntry, OutboxMessage, SmsMessage


@pytest.fixture
def bot() -> Any:
    machine = ConvocationSteps()
    yield machine
    machine.teardown()


def texts(bot: ConvocationSteps, who: str, kind: str | None = None) -> list[str]:
    """What the phone of `who` got (or will get: written and not cancelled), in order."""
    async def read() -> list[SmsMessage]:
        async with bot.db.session() as session:
            return list((await session.exec(select(SmsMessage).where(SmsMessage.user_id == who)
                                            .order_by(col(SmsMessage.id)))).all())
    return [r.text for r in bot.run(read()) if r.state != "cancelled" and (kind is None or r.kind == kind)]


def reply(bot: ConvocationSteps, who: str, text: str) -> str:
    """`who` answers the bot's SMS; the bot's answer."""
    before = len(texts(bot, who, "reply"))
    bot.sms_reply(who, text)
    answers = texts(bot, who, "reply")
    assert len(answers) == before + 1, "every reply gets exactly one answer"
    return answers[-1]


def room(bot: ConvocationSteps, target: str = FORUM_ROOM) -> list[str]:
    async def read() -> list[str]:
        async with bot.db.session() as session:
            rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.target == target)
                                       .order_by(col(OutboxMessage.id)))).all()
        return [r.content for r in rows]
    return bot.run(read())


def kallelse(bot: ConvocationSteps, forum: str = "samordnande") -> str:
    bot.run(bot.command(TIB, f"!kallelse {forum}"))
    return room(bot)[-1]


def test_deactivated_before_the_sms_time_nobody_is_texted(bot: ConvocationSteps) -> None:
    """Issue 37: `!avaktivera` 0.8 s after `!aktivera`; 19 s after the deactivation nothing is texted."""
    bot.activate("brandlarm")
    bot.clock.advance(timedelta(milliseconds=800))
    bot.deactivate()
    for seconds in (60, 61, 600):
        bot.time_passes(seconds)
    assert [d for d in bot.delivered if d.channel == "sms"] == []
    assert all(texts(bot, who) == [] for who in NUMBERS)


def test_a_replaced_activation_texts_once_for_the_new_event_only(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.clock.advance(timedelta(seconds=30))
    bot.activate("gasläcka")  # `!aktivera samordnande gasläcka ny`
    bot.time_passes(121)
    bot.time_passes(180)
    for who in (ANNA, SARA):
        sent = [d for d in bot.delivered if d.channel == "sms" and d.target == who]
        assert len(sent) == 1, who
        assert texts(bot, who)[0].startswith("AKTIVERAT gasläcka: Samordnande"), "the new event, not the old"


def test_those_texted_a_replaced_activation_are_told_once_and_then_texted_the_new_one(bot: ConvocationSteps) -> None:
    """Issue 37 review: `!aktivera … ny` after Anna was texted `brand`: she gets one SMS that it is replaced by
    `gasläcka`, then the new convocation's SMS in its own time; Sara, who acknowledged, gets none."""
    bot.activate("brand")
    bot.run(bot.command(SARA, "!kvittera", room="!dm-sara:example.org"))
    bot.time_passes(121)
    assert len(texts(bot, ANNA)) == 1
    bot.activate("gasläcka")  # `!aktivera samordnande gasläcka ny`
    assert texts(bot, ANNA)[1:] == ["ERSATT brand: Samordnande. Gäller inte längre; ny kallelse: gasläcka. "
                                    "/Länsstyrelsen"], "told at once, the new SMS not yet"
    bot.time_passes(60)
    assert len(texts(bot, ANNA)) == 2, "the new convocation's SMS waits for its own sms_after"
    bot.time_passes(61)
    got = texts(bot, ANNA)
    assert len(got) == 3 and got[2].startswith("AKTIVERAT gasläcka: Samordnande")
    assert texts(bot, SARA, "notice") == [], "not texted brand, so not told it is replaced"
    bot.deactivate()
    assert texts(bot, ANNA, "notice")[1:] == ["AVSLUTAT gasläcka: Samordnande. Kallelsen gäller inte längre. "
                                              "/Länsstyrelsen"], "each convocation ends once"
    notices = [d.ref for d in bot.delivered if d.channel == "sms" and d.target == ANNA and d.kind == "notice"]
    assert len(notices) == 2 and len(set(notices)) == 2, "one notice per convocation, no more"


def test_a_texted_holder_whose_function_is_called_out_is_told_once(bot: ConvocationSteps) -> None:
    """`!kalla-ut tlc` after Trafikledning was texted: Tove gets one SMS that she is released; nobody else does,
    and calling out again sends nothing more."""
    bot.activate("brand")
    bot.run(bot.command(TIB, "!kalla-in tlc samordnande"))
    bot.time_passes(121)
    assert len(texts(bot, TOVE, "convocation")) == 1
    bot.run(bot.command(TIB, "!kalla-ut tlc samordnande"))
    assert texts(bot, TOVE, "notice") == ["AVSLUTAT FÖR DIG brand: Samordnande. Trafikledning är inte längre "
                                          "inkallad. Tack för insatsen. /Länsstyrelsen"]
    assert texts(bot, ANNA, "notice") == [] and texts(bot, SARA, "notice") == []
    bot.run(bot.command(TIB, "!kalla-in tlc samordnande"))
    bot.run(bot.command(TIB, "!kalla-ut tlc samordnande"))
    assert len(texts(bot, TOVE, "notice")) == 1
    bot.deactivate()
    assert len(texts(bot, TOVE, "notice")) == 1, "released and told: the end is no news to her"
    assert len(texts(bot, ANNA, "notice")) == 1, "Anna, texted and still convened, is told it ended"


def test_a_holder_who_acknowledged_and_was_called_out_is_not_told_the_end_again(bot: ConvocationSteps) -> None:
    """Tove acknowledged by SMS, then Trafikledning is called out: one SMS that she is released, none at the end
    (her answer stays on record, she is no longer convened)."""
    bot.activate("brand")
    bot.run(bot.command(TIB, "!kalla-in tlc samordnande"))
    bot.time_passes(121)
    assert reply(bot, TOVE, "1").startswith("Kvitterat: Samordnande (Trafikledning).")
    bot.run(bot.command(TIB, "!kalla-ut tlc samordnande"))
    bot.deactivate()
    assert [t.split(":")[0] for t in texts(bot, TOVE, "notice")] == ["AVSLUTAT FÖR DIG brand"]
    assert texts(bot, ANNA, "notice")[0].startswith("AVSLUTAT brand: Samordnande."), "Anna is still told"


def test_those_texted_are_told_once_when_it_ends_and_nobody_else(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.run(bot.command(SARA, "!kvittera", room="!dm-sara:example.org"))  # answered: never texted
    bot.time_passes(121)
    assert len(texts(bot, ANNA)) == 1 and texts(bot, SARA) == []
    bot.deactivate()
    bot.time_passes(10)
    ended = texts(bot, ANNA, "notice")
    assert ended == ["AVSLUTAT brand: Samordnande. Kallelsen gäller inte längre. /Länsstyrelsen"]
    assert texts(bot, SARA) == [] and texts(bot, TOVE) == [], "nobody who was not texted is told by SMS"
    assert len([d for d in bot.delivered if d.channel == "sms" and d.target == ANNA]) == 2
    bot.activate("snöoväder")  # a new activation later: the old end is not told again
    bot.deactivate()
    assert len(texts(bot, ANNA, "notice")) == 1


def test_a_number_with_two_open_convocations_answers_each_by_its_code(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.time_passes(121)  # Anna is texted for the samordnande forum
    bot.run(bot.command(TIB, "!aktivera inriktande brand"))
    bot.time_passes(121)  # and for the inriktande forum
    first, second = texts(bot, ANNA)
    assert first.endswith("Svara 1 = kvittera /Länsstyrelsen") and "1B" not in first
    assert "Svara 1B = kvittera" in second and "Regionalt inriktande forum" in second
    answer = reply(bot, ANNA, "1")
    assert answer == ("Kvitterat: Regionalt inriktande forum (TiB Nacka). Öppen även: Samordnande, svara 1A. "
                      "/Länsstyrelsen"), "a bare 1 answers the latest, names it and the one still open"
    assert reply(bot, ANNA, "1a") == "Kvitterat: Samordnande (TiB Nacka). /Länsstyrelsen"
    report = kallelse(bot)
    assert "✅ TiB Nacka" in report and "⏳ TiB Nacka" not in report
    assert reply(bot, ANNA, "1") == \
        "Inget att kvittera: kallelsen till Regionalt inriktande forum är redan besvarad. /Länsstyrelsen"


def test_a_letter_is_not_given_again_to_a_number_within_a_day(bot: ConvocationSteps) -> None:
    """Anna has A (samordnande) and B (inriktande); A ends while B is open, and a new samordnande convocation is
    texted: it gets a new letter, never A again, so a late `1A` acknowledges nothing and says so."""
    bot.activate("brand")
    bot.time_passes(121)
    bot.run(bot.command(TIB, "!aktivera inriktande brand"))
    bot.time_passes(121)
    bot.deactivate()  # A ends; B stands
    bot.activate("gasläcka")
    bot.time_passes(121)
    new = texts(bot, ANNA, "convocation")[-1]
    assert new.startswith("AKTIVERAT gasläcka: Samordnande") and "Svara 1C = kvittera" in new
    assert reply(bot, ANNA, "1A") == ("Ingen öppen kallelse har koden 1A. Öppen även: Samordnande, svara 1C. "
                                      "Öppen även: Regionalt inriktande forum, svara 1B. /Samverkan")
    assert "⏳ TiB Nacka" in kallelse(bot), "the new convocation is not acknowledged by the old letter"
    assert reply(bot, ANNA, "1c").startswith("Kvitterat: Samordnande (TiB Nacka).")


def bodies(bot: ConvocationSteps, target: str = FORUM_ROOM) -> list[str]:
    return [json.loads(c).get("message", {}).get("body", "") for c in room(bot, target)]


def test_no_means_cannot_come_and_the_deputy_is_called_at_once(bot: ConvocationSteps) -> None:
    """Nacka's TiB answers `nej` to the inriktande forum: the chair sees it in the room and in `!kallelse`,
    and Nacka's deputy (SOS Alarm's Vakthavande, not in that forum) is convened at once."""
    inriktande = "!inriktande:example.org"
    bot.run(bot.command(TIB, "!aktivera inriktande brand", room=inriktande))
    bot.time_passes(121)
    assert reply(bot, ANNA, "nej") == ("Noterat: du kan inte komma till Regionalt inriktande forum. Ordföranden "
                                       "ser det; ersättare kallas: Vakthavande. /Länsstyrelsen")
    said = [b for b in bodies(bot, inriktande) if "kan inte komma" in b]
    assert len(said) == 1 and f"{ANNA} kan inte komma (TiB Nacka), svar på SMS. Ersättare kallas: Vakthavande." \
        in said[0]
    bot.run(bot.command(TIB, "!kallelse inriktande", room=inriktande))
    report = bodies(bot, inriktande)[-1]
    assert "❌ TiB Nacka" in report and "kan inte komma" in report
    assert "Vakthavande" in report, "the deputy, convened without waiting for the escalation"
    assert len([b for b in bodies(bot, f"user:{SARA}") if "ersättare för TiB Nacka" in b]) == 1
    bot.time_passes(301)
    assert not [b for b in bodies(bot, f"user:{ANNA}") if "PÅMINNELSE" in b], "no reminder to who said no"
    assert len([d for d in bot.delivered if d.channel == "sms" and d.target == ANNA and d.kind == "convocation"]) == 1


def test_no_when_the_deputy_is_already_convened_says_so(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.run(bot.command(SARA, "!kvittera", room="!dm-sara:example.org"))
    bot.time_passes(121)
    reply(bot, ANNA, "nej")
    said = [b for b in bodies(bot) if "kan inte komma" in b]
    assert len(said) == 1 and "Ersättaren är redan kallad: Vakthavande." in said[0]
    assert texts(bot, ANNA, "reply") == ["Noterat: du kan inte komma till Samordnande. Ordföranden ser det; "
                                         "ersättaren är redan kallad: Vakthavande. /Länsstyrelsen"]


def test_no_from_a_function_without_a_deputy_promises_none(bot: ConvocationSteps) -> None:
    """Trafikledning has no deputy: the answer says so, and nobody is convened in its place."""
    bot.activate("brand")
    bot.run(bot.command(TIB, "!kalla-in tlc samordnande"))
    bot.time_passes(121)
    assert len(texts(bot, TOVE, "convocation")) == 1
    dms_before = {who: len(bodies(bot, f"user:{who}")) for who in (ANNA, SARA)}
    assert reply(bot, TOVE, "2") == ("Noterat: du kan inte komma till Samordnande. Ordföranden ser det; din "
                                     "funktion har ingen ersättare. /Länsstyrelsen")
    said = [b for b in bodies(bot) if "kan inte komma" in b]
    assert len(said) == 1 and "Ingen ersättare finns." in said[0] and "Ersättare kallas" not in said[0]
    assert {who: len(bodies(bot, f"user:{who}")) for who in (ANNA, SARA)} == dms_before, "nobody convened"


@pytest.mark.parametrize("first", ["sms", "check mark"])
def test_two_after_acknowledging_changes_the_answer_and_convenes_the_deputy_once(bot: ConvocationSteps,
                                                                                 first: str) -> None:
    """Nacka's TiB acknowledges the inriktande forum (`1`, or ✅ in Matrix), then answers `2`: the answer is now
    'cannot come': `!kallelse` shows ❌ and not ✅, the chair is told once, Nacka's deputy is convened at once and
    only once; a second `2` changes nothing more."""
    inriktande = "!inriktande:example.org"
    bot.run(bot.command(TIB, "!aktivera inriktande brand", room=inriktande))
    bot.time_passes(121)
    assert len(texts(bot, ANNA, "convocation")) == 1
    if first == "sms":
        assert reply(bot, ANNA, "1").startswith("Kvitterat: Regionalt inriktande forum (TiB Nacka).")
    else:
        bot.react(ANNA, 0)
    bot.run(bot.command(TIB, "!kallelse inriktande", room=inriktande))
    assert "✅ TiB Nacka" in bodies(bot, inriktande)[-1]
    assert reply(bot, ANNA, "2 sjuk") == ("Noterat: du kan inte komma till Regionalt inriktande forum. Ordföranden "
                                          "ser det; ersättare kallas: Vakthavande. /Länsstyrelsen")
    said = [b for b in bodies(bot, inriktande) if "kan ändå inte komma" in b]
    assert len(said) == 1 and "Ersättare kallas: Vakthavande." in said[0]
    bot.run(bot.command(TIB, "!kallelse inriktande", room=inriktande))
    report = bodies(bot, inriktande)[-1]
    assert "❌ TiB Nacka" in report and "kan inte komma" in report and "✅ TiB Nacka" not in report
    assert len([b for b in bodies(bot, f"user:{SARA}") if "ersättare för TiB Nacka" in b]) == 1
    assert reply(bot, ANNA, "2").startswith("Inget att kvittera"), "answered already: nothing more changes"
    bot.time_passes(301)
    assert len([b for b in bodies(bot, f"user:{SARA}") if "ersättare för TiB Nacka" in b]) == 1, "convened once"
    assert len([b for b in bodies(bot, inriktande) if "kan ändå inte komma" in b]) == 1


def test_two_also_declines(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.time_passes(121)
    assert reply(bot, ANNA, "2").startswith("Noterat: du kan inte komma till Samordnande.")


def test_one_with_an_arrival_time_acknowledges_as_kvittera_kommer_does(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.time_passes(121)
    assert reply(bot, ANNA, "1 kommer 10:15") == \
        "Kvitterat: Samordnande (TiB Nacka). Du ansluter 10:15. /Länsstyrelsen"
    assert "ansluter" in kallelse(bot)
    assert reply(bot, SARA, "1 kommer 25:99").endswith("Tiden kunde inte läsas: skriv t.ex. 1 kommer 10:15. "
                                                       "/Länsstyrelsen"), "acknowledged; the time not read is said"


def test_an_arrival_time_already_past_today_is_tomorrow_and_the_answer_says_so(bot: ConvocationSteps) -> None:
    """`1 kommer 08:00` when it is past 08:00: tomorrow, and the answer shows the day, not only the time."""
    bot.activate("brand")
    bot.time_passes(121)
    local = bot.clock.now().astimezone(ZoneInfo("Europe/Stockholm"))
    assert local.hour >= 8
    assert local.date().isoformat() == "2026-11-23"
    assert reply(bot, ANNA, "1 kommer 08:00") == \
        "Kvitterat: Samordnande (TiB Nacka). Du ansluter tis 24 nov 08:00. /Länsstyrelsen", "not today: the day"
    assert reply(bot, SARA, "1 kommer 23:59").endswith("Du ansluter 23:59. /Länsstyrelsen"), "today: the time"


def test_anything_else_gets_the_choices_and_changes_nothing(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.time_passes(121)
    assert reply(bot, ANNA, "vad gäller det?") == \
        "Svara 1 = kvittera, 1 kommer 10:15 = kvittera med tid, 2 = kan inte komma. /Samverkan"
    assert "⏳ TiB Nacka" in kallelse(bot)


def test_a_reply_after_the_end_is_told_it_no_longer_stands(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.time_passes(121)
    bot.deactivate()
    assert reply(bot, ANNA, "1") == "Kallelsen till Samordnande gäller inte längre. Inget har ändrats. /Länsstyrelsen"
    assert reply(bot, ANNA, "nej").startswith("Kallelsen till Samordnande gäller inte längre.")
    assert "gäller inte längre" not in " ".join(room(bot)), "nothing said in the room"


def test_a_sender_without_plus_is_understood(bot: ConvocationSteps) -> None:
    """Some operators deliver the sender as 46701740601: the same person."""
    from bot.domain.sms import normalise_number

    bot.activate("brand")
    bot.time_passes(121)
    number = normalise_number(NUMBERS[ANNA].removeprefix("+"))
    incoming = SmsIn(gateway_id="g1", number=bot.vault.seal(number), lookup=bot.vault.lookup(number), text="1",
                     masked="+46 70 *** ** 01")
    bot.run(bot.dispatch.run_internal("sms-in:g1", partial(sms_flow.reply, incoming=incoming)))
    assert texts(bot, ANNA, "reply") == ["Kvitterat: Samordnande (TiB Nacka). /Länsstyrelsen"]


def test_released_holders_are_not_texted(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.run(bot.command(TIB, "!kalla-in tlc samordnande"))
    bot.run(bot.command(TIB, "!kalla-ut tlc samordnande"))
    bot.time_passes(121)
    assert texts(bot, TOVE) == []
    assert len(texts(bot, ANNA)) == 1


def test_an_sms_waiting_for_the_gateway_is_not_sent_once_it_is_over(bot: ConvocationSteps) -> None:
    """The gateway is down when the SMS falls due; the forum is deactivated; the gateway comes back: the
    SMS written for the ended convocation never goes, and nobody is told it ended (they never got it)."""
    bot.activate("brand")
    bot.gateway_up = False
    bot.time_passes(121)
    assert texts(bot, ANNA, "convocation"), "written, waiting for the gateway"
    bot.deactivate()
    bot.gateway_up = True
    bot.time_passes(5)
    assert [d for d in bot.delivered if d.channel == "sms"] == []
    assert texts(bot, ANNA) == []


def test_an_sms_waiting_for_the_gateway_is_not_sent_to_who_was_called_out(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.run(bot.command(TIB, "!kalla-in tlc samordnande"))
    bot.gateway_up = False
    bot.time_passes(121)
    bot.run(bot.command(TIB, "!kalla-ut tlc samordnande"))
    bot.gateway_up = True
    bot.time_passes(5)
    assert [d.target for d in bot.delivered if d.channel == "sms"] and \
        TOVE not in [d.target for d in bot.delivered if d.channel == "sms"]


def test_a_restart_between_the_end_and_the_sms_time_texts_nobody(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.deactivate()
    bot.restart()
    bot.time_passes(121)
    assert [d for d in bot.delivered if d.channel == "sms"] == []


def test_the_event_is_shortened_before_the_forum_and_exercise_is_said_once(bot: ConvocationSteps) -> None:
    inriktande = "!inriktande:example.org"
    bot.run(bot.command(TIB, "!övning på inriktande", room=inriktande))
    long_event = "strömavbrott-vattenavbrott-och-teleavbrott-i-hela-Stockholms-län-med-följder-för-sjukvården"
    bot.run(bot.command(TIB, f"!aktivera inriktande {long_event}", room=inriktande))
    bot.time_passes(121)
    text = texts(bot, ANNA)[0]
    assert gsm_length(text) <= SMS_LENGTH
    assert text.startswith("ÖVNING AKTIVERAT strömavbrott-vatten") and text.count("ÖVNING") == 1
    assert ": Regionalt inriktande forum, konf " in text, "the forum's name whole: the event gave way"
    assert text.endswith("Svara 1 = kvittera /Länsstyrelsen"), "who sends"


def test_the_answer_to_exercise_on_says_ovning_once(bot: ConvocationSteps) -> None:
    bot.run(bot.command(TIB, "!övning på samordnande"))
    answer = next(b for b in reversed(bodies(bot)) if "övningsläge" in b)
    assert answer == "ÖVNING Samordnande är i övningsläge. Allt jag skickar för forumet märks ÖVNING."


def test_nothing_is_audited_with_a_number_in_clear(bot: ConvocationSteps) -> None:
    bot.activate("brand")
    bot.time_passes(121)
    reply(bot, ANNA, "hallå")

    async def audit() -> list[str]:
        async with bot.db.session() as session:
            return [a.detail + a.user_id for a in (await session.exec(select(AuditEntry))).all()]

    everything = " ".join(bot.run(audit()))
    assert all(n not in everything and n.removeprefix("+") not in everything for n in NUMBERS.values())


def convene_the_weekly_meeting(bot: ConvocationSteps) -> None:
    """Wednesday 10:00: the meeting plan convenes Thursday's meeting a day ahead."""
    from zoneinfo import ZoneInfo

    from bot.domain.schedule import CONVENE, due_steps
    from bot.flows.meeting_steps import run_step

    before = bot.clock.now()
    bot.clock.advance(timedelta(days=2, seconds=30))
    forums = [f for f in bot.config.forums if f.id == "vecko"]
    for step in due_steps(forums, [], before, bot.clock.now(), ZoneInfo("Europe/Stockholm")):
        if step.kind == CONVENE:
            bot.run(bot.dispatch.run_internal(f"step:{step.at.isoformat()}", partial(run_step, step=step)))
    bot.run(bot.deliver())


def test_a_moved_meeting_is_told_by_sms_to_those_texted_with_its_new_time(bot: ConvocationSteps) -> None:
    convene_the_weekly_meeting(bot)
    bot.time_passes(61)
    assert len(texts(bot, ANNA, "convocation")) == 1 and texts(bot, TOVE) == []
    bot.run(bot.command(TIB, "!flytta vecko torsdag 10:00 till torsdag 11:00", room="!vecko:example.org"))
    moved = texts(bot, ANNA, "notice")
    assert len(moved) == 1 and moved[0].startswith("FLYTTAD: Verkställande forum, ny tid ") and "11:00" in moved[0]
    assert moved[0].endswith("/Länsstyrelsen")
    assert texts(bot, TOVE) == [] and texts(bot, SARA) == [], "nobody who was not texted"
    assert reply(bot, ANNA, "1").startswith("Kvitterat: Verkställande forum"), "a moved meeting still stands"


def test_a_cancelled_meeting_is_told_by_sms_and_its_sms_step_never_comes(bot: ConvocationSteps) -> None:
    convene_the_weekly_meeting(bot)
    bot.time_passes(61)
    bot.run(bot.command(TIB, "!ställ-in vecko torsdag 10:00", room="!vecko:example.org"))
    assert texts(bot, ANNA, "notice") == ["INSTÄLLT: Verkställande forum. Kallelsen gäller inte längre. /Länsstyrelsen"]
    assert reply(bot, ANNA, "1").startswith("Kallelsen till Verkställande forum gäller inte längre.")


def test_called_out_and_in_again_is_convened_again(bot: ConvocationSteps) -> None:
    """`!kalla-ut` then `!kalla-in` for the same activation: the holder gets the convocation again and, still
    unanswered, the SMS once."""
    bot.activate("brand")
    bot.run(bot.command(TIB, "!kalla-in tlc samordnande"))
    bot.run(bot.command(TIB, "!kalla-ut tlc samordnande"))
    bot.run(bot.command(TIB, "!kalla-in tlc samordnande"))
    assert len([b for b in bodies(bot, f"user:{TOVE}") if "AKTIVERAT brand" in b]) == 2
    bot.time_passes(121)
    assert len(texts(bot, TOVE, "convocation")) == 1
    assert "⏳ Trafikledning" in kallelse(bot)
