"""The forum rules without Matrix or a database: who may activate, request, deactivate; who is convened,
first, and whose deputies; what the room topic says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import parse_settings
from bot.domain.convocation import calls, deputy_calls, people
from bot.domain.directory import Directory
from bot.domain.forums import (
    Activation,
    Authority,
    ForumState,
    authority,
    conveners,
    decide_activation,
    may_deactivate,
    same_event,
    split_event,
    topic_prefix,
)
from bot.domain.roster import Roster

TZ = ZoneInfo("Europe/Stockholm")
AT = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
LABELS = {"exercise": "ÖVNING", "activated": "AKTIVERAT", "ordinary": "ordinarie läge", "since": "sedan",
          "months": "jan feb mar apr maj jun jul aug sep okt nov dec"}


def directory(own_convener: bool = True) -> Directory:
    return Directory.build(parse_settings({
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:x.test"},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen"}, {"id": "sos", "name": "SOS Alarm"},
                         {"id": "nacka", "name": "Nacka kommun"}],
        "function": [
            {"id": "lst-tib", "organisation": "lst", "name": "TiB", "may_convene": True, "holders": ["@tib:x.test"],
             "deputies": ["lst-rsib"]},
            {"id": "lst-rsib", "organisation": "lst", "name": "RSIB", "may_convene": own_convener,
             "holders": ["@rsib:x.test", "@rsib2:x.test"],
             "rotation": {"every": "1w", "handover": "2026-11-30T12:00"}},
            {"id": "sos-vb", "organisation": "sos", "name": "Vakthavande", "holders": ["@sos:x.test"],
             "deputies": ["lst-rsib", "nacka-tib"]},
            {"id": "nacka-tib", "organisation": "nacka", "name": "TiB Nacka", "holders": ["@nacka:x.test"]},
            {"id": "nobody", "organisation": "sos", "name": "Ingen"},
            {"id": "kbv-vb", "organisation": "sos", "name": "Utanför forumen", "holders": ["@kbv:x.test"]},
        ],
        "forum": [
            {"id": "samordnande", "name": "Samordnande", "level": "samordnande", "room": "#s:x.test",
             "chair": "nacka-tib", "ordinary": ["lst-rsib", "sos-vb", "nacka-tib"],
             "activated": ["lst-rsib", "sos-vb", "nacka-tib", "nobody"]},
            {"id": "inriktande", "name": "Inriktande", "level": "inriktande", "room": "#i:x.test",
             "chair": "nacka-tib", "activated": ["nacka-tib", "sos-vb"]},
        ],
    }))


def held(d: Directory, *ids: str) -> list:  # type: ignore[type-arg]
    return [d.function(i) for i in ids]


ACTIVE = ForumState("samordnande", mode="activated", event="snöoväder", since=AT, activation_id=7)


def test_authority_names_the_convener_the_member_and_the_chair() -> None:
    d = directory()
    forum = d.forum("samordnande")
    who = authority(held(d, "sos-vb", "lst-tib"), forum, ForumState("samordnande"))
    assert (who.convener.id, who.member.id, who.chair) == ("lst-tib", "sos-vb", None)  # type: ignore[union-attr]
    chair = authority(held(d, "nacka-tib"), forum, ForumState("samordnande"))
    assert chair.chair is not None and chair.chair.id == "nacka-tib" and chair.convener is None
    handed_over = authority(held(d, "nacka-tib"), forum, ForumState("samordnande", chair="sos-vb"))
    assert handed_over.chair is None, "the chair was handed over to another function"
    assert authority([], forum, ForumState("samordnande")) == Authority(None, None, None)


@pytest.mark.parametrize(("state", "holds", "event", "replace", "expected"), [
    (ForumState("samordnande"), ("lst-tib",), "storm", False, Activation.ACTIVATE),
    (ForumState("samordnande"), ("sos-vb",), "storm", False, Activation.REQUEST),
    (ForumState("samordnande"), ("nacka-tib",), "storm", False, Activation.REQUEST),  # the chair asks too
    (ForumState("samordnande"), ("kbv-vb",), "storm", False, Activation.REQUEST),  # an actor outside the forum
    (ForumState("samordnande"), (), "storm", False, Activation.REFUSED),
    (ACTIVE, ("lst-tib",), "Snöoväder", False, Activation.ALREADY_ACTIVE),
    (ACTIVE, ("lst-tib",), "storm", False, Activation.NEEDS_NEW),
    (ACTIVE, ("lst-tib",), "storm", True, Activation.ACTIVATE),
    (ACTIVE, ("sos-vb",), "storm", True, Activation.REQUEST),
    (ACTIVE, (), "snöoväder", True, Activation.REFUSED),
])
def test_who_activates_who_requests_and_who_is_refused(state: ForumState, holds: tuple[str, ...], event: str,
                                                       replace: bool, expected: Activation) -> None:
    d = directory()
    who = authority(held(d, *holds), d.forum("samordnande"), state)
    assert decide_activation(state, who, event, replace) is expected


def test_only_a_convener_or_the_chair_deactivates() -> None:
    d = directory()
    forum = d.forum("samordnande")
    assert may_deactivate(authority(held(d, "lst-tib"), forum, ACTIVE))
    assert may_deactivate(authority(held(d, "nacka-tib"), forum, ACTIVE))
    assert not may_deactivate(authority(held(d, "sos-vb"), forum, ACTIVE))


def test_the_composition_and_the_chair_follow_the_mode() -> None:
    d = directory()
    forum = d.forum("samordnande")
    assert ForumState("samordnande").composition(forum) == ("lst-rsib", "sos-vb", "nacka-tib")
    assert ACTIVE.composition(forum) == ("lst-rsib", "sos-vb", "nacka-tib", "nobody")
    inriktande = d.forum("inriktande")
    assert ForumState("inriktande").composition(inriktande) == ("nacka-tib", "sos-vb"), "no ordinary list: all"
    assert ForumState("samordnande").chair_function(forum) == "nacka-tib"
    assert ForumState("samordnande", chair="sos-vb").chair_function(forum) == "sos-vb"


def test_requests_go_to_the_forum_s_own_conveners_else_to_every_convener() -> None:
    assert [f.id for f in conveners(directory(), directory().forum("samordnande"))] == ["lst-rsib"]
    d = directory(own_convener=False)
    assert [f.id for f in conveners(d, d.forum("samordnande"))] == ["lst-tib"]


def test_event_names_and_descriptions() -> None:
    assert same_event("Snöoväder", "snooväder") and not same_event("snöoväder", "storm")
    assert split_event("  snöoväder klass 3 i norra länet ") == ("snöoväder", "klass 3 i norra länet")
    assert split_event("storm") == ("storm", None)


def test_the_topic_prefix_says_the_mode_at_a_glance() -> None:
    assert topic_prefix(ACTIVE, TZ, LABELS) == "AKTIVERAT: snöoväder — sedan 2 dec 03:00"
    exercise = ForumState("samordnande", mode="activated", event="storm", since=AT, exercise=True)
    assert topic_prefix(exercise, TZ, LABELS) == "ÖVNING: AKTIVERAT: storm — sedan 2 dec 03:00"
    assert topic_prefix(ForumState("samordnande"), TZ, LABELS) == ""
    assert topic_prefix(ForumState("samordnande", since=AT), TZ, LABELS) == "", "back in ordinary mode"
    assert topic_prefix(ForumState("samordnande", exercise=True), TZ, LABELS) == "ÖVNING: ordinarie läge"


def test_calls_put_the_convener_and_chair_first_and_deputies_skip_who_is_convened() -> None:
    d = directory()
    roster = Roster(d, [], TZ)
    found = calls(roster, ["sos-vb", "nobody", "nacka-tib", "sos-vb"], AT, first=["nacka-tib"])
    assert [(c.function.id, c.holders) for c in found] == [
        ("nacka-tib", ("@nacka:x.test",)), ("sos-vb", ("@sos:x.test",)), ("nobody", ())]
    deputies = deputy_calls(roster, "sos-vb", AT, already={"nacka-tib"})
    assert [(c.function.id, c.holders, c.deputy_for) for c in deputies] == [
        ("lst-rsib", ("@rsib:x.test",), "sos-vb")], "the one on duty this week"
    assert [c.holders for c in calls(roster, ["lst-rsib"], AT + timedelta(weeks=1))] == [("@rsib2:x.test",)]
    assert people([*found, *deputies, *calls(roster, ["sos-vb"], AT)]) == [
        "@nacka:x.test", "@sos:x.test", "@rsib:x.test"], "each person once, in call order"
