"""The voice step's rules, what a call says and how it is rendered, how a call's end is read, `[voice]`."""

from __future__ import annotations

import shutil
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, parse_settings
from bot.domain import voice as rules
from bot.domain.voice import Spoken, after_call, digit_state, script
from bot.texts import t
from bot.voice.caller import TRUNK, Live, ended_as, trunk_fault
from bot.voice.speech import LISTEN, LONGEST, RATE, Speech
from bot.voice.useragent import netstring

NOW = datetime(2026, 12, 7, 2, 7, tzinfo=UTC)
WORDS = {name: t("sv", f"voice.say.{name}") for name in
         ("exercise", "activated", "convened", "when", "keys", "keys_join", "again")}


def test_an_unanswered_or_busy_call_is_tried_once_more_after_two_minutes_then_the_deputy_is_convened() -> None:
    for state in (rules.NO_ANSWER, rules.BUSY):
        assert after_call(state, 1, NOW) == rules.After(retry_at=NOW + timedelta(minutes=2))
        assert after_call(state, 2, NOW) == rules.After(deputy=True)


def test_keys_acknowledge_or_decline_and_an_answer_without_a_key_changes_nothing() -> None:
    assert after_call(rules.ACKED, 1, NOW) == after_call(rules.JOINED, 2, NOW) == rules.After(acknowledged=True)
    assert after_call(rules.DECLINED, 1, NOW) == rules.After(deputy=True, tell_chair=True)
    for state in (rules.NO_KEY, rules.FAILED, rules.HUNG_UP, rules.CANCELLED):
        assert after_call(state, 1, NOW) == rules.After()
    assert [digit_state(d) for d in "1209#*"] == [rules.ACKED, rules.JOINED, None, rules.DECLINED, None, None]


def spoken(**changes: Any) -> Spoken:
    values: dict[str, Any] = {"exercise": False, "event": "snöoväder", "forum": "Regionalt samordnande forum",
                              "when": "i dag klockan 03.15", "joins": True}
    return Spoken(**{**values, **changes})


def test_the_message_is_said_twice_with_the_keys_and_exercise_comes_first() -> None:
    said = script(spoken(exercise=True), WORDS)
    assert said.startswith("Övning. Aktiverat: snöoväder. Regionalt samordnande forum.")
    keys = ("Tryck 1 för att kvittera. Tryck 2 för att kopplas till konferensen nu. "
            "Tryck 9 om du inte kan delta.")
    assert said.count(keys) == 2 and said.count("Övning.") == 2 and said.count("klockan 03.15") == 2
    assert "Övning" not in script(spoken(), WORDS)
    assert "Tryck 2" not in script(spoken(joins=False), WORDS), "no conference to connect to: no key 2"
    assert script(spoken(event=None), WORDS).startswith("Kallelse till Regionalt samordnande forum.")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (Debian's espeak-ng)")
async def test_the_message_is_rendered_once_as_8_khz_mono_and_is_padded_for_the_key(tmp_path: Path) -> None:
    speech = Speech(tmp_path)
    text = script(spoken(exercise=True), WORDS)
    path = await speech.render(text)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        seconds = wav.getnframes() / RATE
        wav.setpos(wav.getnframes() - int(LISTEN * RATE))
        tail = wav.readframes(int(LISTEN * RATE))
    assert LISTEN + 20 < seconds <= LONGEST + LISTEN + 0.1, seconds  # each saying at most about 20 s
    assert tail == b"\0" * len(tail), "the message, then silence to press a key in before the file ends the call"
    stamp = path.stat().st_mtime_ns
    speech.espeak = "/nonexistent/espeak-ng"  # a second render of the same words would fail: it is not made again
    assert await speech.render(text) == path and path.stat().st_mtime_ns == stamp


def live(**changes: Any) -> Live:
    return Live(row=None, uri="sip:+46701110001@pbx", **changes)  # type: ignore[arg-type]


def test_how_a_call_that_closed_without_a_key_is_read() -> None:
    assert ended_as(live(), "486 Busy Here") == (rules.BUSY, "486 Busy Here")
    assert ended_as(live(), "480 Temporarily Unavailable")[0] == rules.NO_ANSWER
    assert ended_as(live(timed_out=True), "Connection reset by user")[0] == rules.NO_ANSWER
    assert ended_as(live(answered=True), "end of file")[0] == rules.NO_KEY
    assert ended_as(live(answered=True, hung_up=True), "")[0] == rules.HUNG_UP
    assert ended_as(live(), "404 Not Found") == (rules.FAILED, "404 Not Found")
    assert ended_as(live(), "484 Address Incomplete")[0] == rules.FAILED


def test_a_call_the_trunk_did_not_take_is_the_trunks_fault_never_the_numbers() -> None:
    """A dead or refusing trunk, or a user agent that refused the command, never ends a call as failed: the call
    waits (TRUNK), and the log blames the trunk."""
    for reason in ("Connection timed out", "Connection refused", "Name or service not known",
                   "Network is unreachable", "", "408 Request Timeout", "503 Service Unavailable",
                   "500 Server Internal Error", "403 Forbidden", "401 Unauthorized",
                   "407 Proxy Authentication Required",
                   "the user agent refused the call: uafind: could not find UA"):
        assert trunk_fault(reason), reason
        assert ended_as(live(), reason)[0] == TRUNK, reason
    for reason in ("404 Not Found", "486 Busy Here", "480 Temporarily Unavailable", "603 Decline",
                   "484 Address Incomplete"):
        assert not trunk_fault(reason), reason
        assert ended_as(live(), reason)[0] != TRUNK, reason
    assert ended_as(live(timed_out=True), "Connection timed out")[0] == rules.NO_ANSWER, "our own hang-up at ring_for"
    assert ended_as(live(answered=True), "Connection reset by peer")[0] == rules.NO_KEY


def test_a_call_the_trunk_did_not_take_waits_longer_each_time_but_at_most_five_minutes_and_is_never_given_up() -> None:
    waits = [rules.trunk_wait(dials) for dials in range(1, 40)]
    assert [w.total_seconds() for w in waits[:6]] == [30, 60, 120, 240, 300, 300]
    assert all(w == timedelta(minutes=5) for w in waits[4:]), "capped, and no dial count ends it"


def test_while_the_trunk_takes_no_call_the_person_counts_as_not_reached_when_the_second_call_would_have_been_made(
) -> None:
    assert rules.unreached_at(1, NOW) == NOW + timedelta(minutes=2)
    assert rules.unreached_at(2, NOW) == NOW, "the second attempt not taken: at once"


SPOKEN = {name: t("sv", f"voice.say.{name}") for name in ("today", "tomorrow", "date", "weekdays", "months")}


def test_the_time_is_said_as_a_swedish_authority_says_it() -> None:
    saturday = datetime(2026, 11, 21, 10, 0)
    assert rules.spoken_time(saturday, 0, SPOKEN) == "i dag klockan 10.00"
    assert rules.spoken_time(saturday, 1, SPOKEN) == "i morgon klockan 10.00"
    assert rules.spoken_time(saturday, 4, SPOKEN) == "lördag den 21 november klockan 10.00"
    said = script(spoken(when=rules.spoken_time(saturday, 4, SPOKEN)), WORDS)
    assert said.count("Konferensen börjar lördag den 21 november klockan 10.00.") == 2, said
    assert "lör " not in said and "nov " not in said, "no abbreviations read aloud"
    assert rules.spoken_time(datetime(2026, 12, 7, 3, 5), 0, SPOKEN) == "i dag klockan 03.05"


def test_commands_go_to_the_user_agent_as_netstrings() -> None:
    assert netstring({"command": "dial", "params": "sip:å@x"}) == \
        b'41:{"command": "dial", "params": "sip:\xc3\xa5@x"},'


def base(**voice: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "matrix": {"homeserver": "https://matrix.example.org", "user_id": "@bot:example.org"},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen"}],
        "function": [{"id": "tib", "organisation": "lst", "name": "TiB", "may_convene": True}],
        "forum": [{"id": "f", "name": "Forum", "level": "samordnande", "room": "#f:example.org", "chair": "tib",
                   "activated": ["tib"]}],
        "sms": {"gateway": "http://127.0.0.1:13013/cgi-bin/sendsms", "user": "u", "sender": "+46700000001"}}
    if voice:
        data["voice"] = voice
    return data


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    return caught.value.errors


def test_check_config_validates_voice() -> None:
    settings = parse_settings(base(account="sip:samverkan@pbx.example.org;transport=tls;mediaenc=srtp-mand",
                                   max_parallel_calls=8))
    assert settings.voice is not None and settings.voice.domain == "pbx.example.org"
    assert settings.voice.call_after == timedelta(minutes=5)
    assert errors(base(account="samverkan at pbx")) == [
        "voice.account: a SIP account such as sip:samverkan@pbx.example.org;transport=tls, not 'samverkan at pbx'"]
    assert errors(base(account="sip:a@b", password="hemligt")) == [
        "voice.password: secrets do not belong in the file; set SAMVERKAN_SIP_PASSWORD"]
    assert errors(base(account="sip:a@b", max_parallel_calls=0))[0].startswith("voice.max_parallel_calls:")
    no_sms = base(account="sip:a@b")
    del no_sms["sms"]
    assert errors(no_sms) == ["voice: the numbers to call come from [sms] contacts and !sms; set [sms] as well"]
    bridge = base(account="sip:a@b")
    bridge["forum"][0]["conference"] = {"sip": "konferensen"}
    assert errors(bridge)[0].startswith("forum[0].conference.sip: a SIP address")


def test_a_planned_meeting_rings_only_if_it_sets_call_after_even_while_the_forum_is_activated() -> None:
    """README: `call_after` while activated; a planned meeting only if its [[forum.meeting]] sets it."""
    from types import SimpleNamespace

    from bot.flows.convocation import call_wait

    settings = parse_settings(base(account="sip:samverkan@pbx.example.org"))
    ctx: Any = SimpleNamespace(directory=SimpleNamespace(settings=settings))
    assert call_wait(ctx, True) == timedelta(minutes=5), "an activation: [voice] call_after"
    assert call_wait(ctx, False) is None, "ordinary mode: no call"
    assert call_wait(ctx, True, planned=True) is None, "a planned meeting during an activation: no call"
    assert call_wait(ctx, False, timedelta(minutes=10), planned=True) == timedelta(minutes=10)
    assert call_wait(ctx, True, timedelta(minutes=10), planned=True) == timedelta(minutes=10)
    without: Any = SimpleNamespace(directory=SimpleNamespace(settings=parse_settings(base())))
    assert call_wait(without, True, timedelta(minutes=10), planned=True) is None, "no [voice]: no call"
