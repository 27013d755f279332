"""The roster: who holds a function at an instant, across hand-overs, DST weekends and stand-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import parse_settings
from bot.domain.directory import Directory
from bot.domain.roster import Roster, StandIn, rotation_period
from bot.domain.rota import Schedule, Shift

TZ = ZoneInfo("Europe/Stockholm")
ANNA, BENGT, CECILIA, RASMUS = "@anna:lst.test", "@bengt:lst.test", "@cecilia:lst.test", "@rasmus:lst.test"


def directory() -> Directory:
    return Directory.build(parse_settings({
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:lst.test"},
        "bot": {"admins": ["@admin:lst.test"]},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen"}, {"id": "sos", "name": "SOS Alarm"}],
        "function": [
            {"id": "lst-tib", "organisation": "lst", "name": "TiB", "may_convene": True,
             "holders": [ANNA, BENGT, CECILIA],
             "rotation": {"every": "1w", "handover": "2026-01-05T12:00"}, "deputies": ["lst-rsib"]},
            {"id": "lst-rsib", "organisation": "lst", "name": "RSIB", "holders": [RASMUS]},
            {"id": "sos-vb", "organisation": "sos", "name": "Vakthavande", "holders": ["@sara:sos.test"]},
            {"id": "empty", "organisation": "sos", "name": "Nobody"},
        ],
        "forum": [{"id": "f", "name": "Forum", "level": "samordnande", "room": "#f:lst.test", "chair": "lst-tib",
                   "ordinary": ["lst-tib", "sos-vb"]}],
    }))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def test_weekly_rotation_hands_over_on_monday_at_noon() -> None:
    roster = Roster(directory(), [], TZ)
    assert roster.holders("lst-tib", local(2026, 1, 5, 11, 59)) == (CECILIA,)  # the week before the hand-over
    assert roster.holders("lst-tib", local(2026, 1, 5, 12, 0)) == (ANNA,)
    assert roster.holders("lst-tib", local(2026, 1, 12, 11, 59)) == (ANNA,)
    assert roster.holders("lst-tib", local(2026, 1, 12, 12, 0)) == (BENGT,)
    duty = roster.duty("lst-tib", local(2026, 1, 8, 3, 0))
    assert duty.until == local(2026, 1, 12, 12, 0) and duty.next_holders == (BENGT,)


def test_hand_over_stays_at_noon_local_time_across_both_dst_weekends() -> None:
    roster = Roster(directory(), [], TZ)
    # Spring: clocks go forward on Sunday 2026-03-29; the Monday 30 March hand-over is at 12:00 CEST.
    before = roster.duty("lst-tib", local(2026, 3, 28, 12, 0))
    assert before.until == local(2026, 3, 30, 12, 0)
    assert before.until.astimezone(UTC).hour == 10  # 12:00 CEST is 10:00 UTC
    assert roster.holders("lst-tib", local(2026, 3, 30, 11, 59)) != roster.holders("lst-tib", local(2026, 3, 30, 12))
    # Autumn: clocks go back on Sunday 2026-10-25; the Monday 26 October hand-over is at 12:00 CET.
    autumn = roster.duty("lst-tib", local(2026, 10, 25, 2, 30))
    assert autumn.until == local(2026, 10, 26, 12, 0)
    assert autumn.until.astimezone(UTC).hour == 11
    holders = [roster.holders("lst-tib", local(2026, 10, 26, 12, 0) + timedelta(weeks=n))[0] for n in range(3)]
    assert sorted(holders) == sorted([ANNA, BENGT, CECILIA])  # everyone takes a turn, in order


def test_a_stand_in_takes_over_until_it_expires() -> None:
    now = local(2026, 11, 23, 9, 0)
    stand_in = StandIn("lst-tib", RASMUS, since=now, until=now + timedelta(hours=9))
    roster = Roster(directory(), [stand_in], TZ)
    assert roster.holders("lst-tib", now) == (RASMUS,)
    duty = roster.duty("lst-tib", now + timedelta(hours=1))
    assert duty.stand_in == stand_in and duty.until == now + timedelta(hours=9)
    assert duty.next_holders == Roster(directory(), [], TZ).holders("lst-tib", now + timedelta(hours=9))
    assert roster.holders("lst-tib", now + timedelta(hours=9)) != (RASMUS,)
    assert roster.holders("lst-tib", now - timedelta(minutes=1)) != (RASMUS,)


def test_the_latest_stand_in_wins_and_an_open_one_lasts() -> None:
    now = local(2026, 11, 23, 9, 0)
    first = StandIn("sos-vb", ANNA, since=now)
    second = StandIn("sos-vb", BENGT, since=now + timedelta(hours=1))
    roster = Roster(directory(), [second, first], TZ)
    assert roster.holders("sos-vb", now + timedelta(minutes=30)) == (ANNA,)
    assert roster.holders("sos-vb", now + timedelta(days=30)) == (BENGT,)


def test_without_rotation_every_listed_holder_is_on_duty_and_nobody_is_possible() -> None:
    roster = Roster(directory(), [], TZ)
    assert roster.holders("sos-vb", local(2026, 6, 1, 0, 0)) == ("@sara:sos.test",)
    assert roster.holders("empty", local(2026, 6, 1, 0, 0)) == ()


def test_deputies_and_who_may_stand_in() -> None:
    d = directory()
    roster = Roster(d, [StandIn("sos-vb", RASMUS, since=local(2026, 1, 1, 0, 0))], TZ)
    assert [f.id for f in roster.deputies("lst-tib")] == ["lst-rsib"]
    tib = d.function("lst-tib")
    assert roster.may_stand_in(RASMUS, tib)  # listed for another function of Länsstyrelsen
    assert not roster.may_stand_in("@sara:sos.test", tib)
    assert roster.may_stand_in("@admin:lst.test", tib)
    # A stand-in may act for the function it holds, besides the ones it is listed for.
    assert {f.id for f in roster.functions_of(RASMUS, local(2026, 6, 1, 0, 0))} == {"lst-rsib", "sos-vb"}


def test_a_stand_in_gives_the_function_to_that_person_only_and_while_it_lasts() -> None:
    """Standing in for the TiB makes Rasmus able to act for it until the stand-in ends; nobody else gains it."""
    until = local(2026, 1, 8, 18, 0)
    at = local(2026, 1, 8, 9, 0)
    roster = Roster(directory(), [StandIn("lst-tib", RASMUS, at - timedelta(hours=1), until)], TZ)
    assert [f.id for f in roster.functions_of(RASMUS, at)] == ["lst-rsib", "lst-tib"]
    others = [f.id for f in roster.functions_of("@sara:sos.test", at)]
    assert others == ["sos-vb"], "no function from another person's stand-in"
    assert [f.id for f in roster.functions_of(RASMUS, until + timedelta(minutes=1))] == ["lst-rsib"]
    duty = roster.duty("lst-tib", at)
    assert duty.function.id == "lst-tib" and duty.holders == (RASMUS,) and duty.until == until
    assert roster.duty("sos-vb", at).function.id == "sos-vb"


def test_a_hand_over_written_with_an_offset_is_the_same_local_noon() -> None:
    naive = directory().function("lst-tib")
    assert naive.rotation is not None
    aware = naive.model_copy(update={"rotation": naive.rotation.model_copy(
        update={"handover": datetime(2026, 1, 5, 12, 0, tzinfo=TZ)})})
    at = local(2026, 6, 3, 8, 0)
    assert rotation_period(aware, at, TZ) == rotation_period(naive, at, TZ) == (0, local(2026, 6, 8, 12, 0))
    assert Roster(directory(), [], TZ).duty("lst-tib", at).function.id == "lst-tib"


def test_a_stand_in_beats_the_schedule_which_beats_the_rotation_which_beats_the_holders_list() -> None:
    """All four present for one function: each answers only where those before it are silent."""
    olle = "@olle:lst.test"
    schedule = Schedule("lst-tib", (Shift(local(2026, 1, 6, 7), local(2026, 1, 7, 7), "Olle Olsson", olle),
                                    Shift(local(2026, 1, 7, 7), local(2026, 1, 8, 7), "Maja Svensson", None)))
    stand_in = StandIn("lst-tib", RASMUS, local(2026, 1, 6, 9), local(2026, 1, 6, 10))
    roster = Roster(directory(), [stand_in], TZ, {"lst-tib": schedule})
    # The rotation's holder that week is Anna (hand-over Monday 5 January 12:00); the list has all three.
    at = roster.duty("lst-tib", local(2026, 1, 6, 9, 30))
    assert (at.holders, at.source) == ((RASMUS,), "stand_in"), "the stand-in, though the schedule names Olle"
    at = roster.duty("lst-tib", local(2026, 1, 6, 10, 30))
    assert (at.holders, at.source) == ((olle,), "schedule"), "the schedule, though the rotation names Anna"
    assert at.until == local(2026, 1, 7, 7)
    at = roster.duty("lst-tib", local(2026, 1, 7, 12))
    assert (at.holders, at.source) == ((ANNA,), "rotation"), "a name nobody knows: the rotation, not nobody"
    at = roster.duty("lst-tib", local(2026, 1, 9, 12))
    assert (at.holders, at.source) == ((ANNA,), "rotation"), "a gap in the schedule: the rotation"
    listed = Roster(directory(), [], TZ, {"sos-vb": Schedule("sos-vb", ())}).duty("sos-vb", local(2026, 1, 6, 12))
    assert (listed.holders, listed.source) == (("@sara:sos.test",), "holders"), "no rotation: the holders list"
