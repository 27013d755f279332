"""SMHI's warnings, as the rules read them: SMHI's document parsed (or refused with a reason), which items concern
the region, what each proposes, what changed; and an edit that notifies nobody."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from feeds import SEA, STOCKHOLM, UPPSALA, warning

from bot.config import WarningsSettings
from bot.domain.warnings import Change, Proposal, Seen, change, concerns, gone, proposals, rank
from bot.feeds.http import FeedFault, retry_after
from bot.feeds.smhi import parse
from bot.matrix.content import message_content
from bot.messages import Message
from bot.texts.rich import Rich

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
OPTIONS = WarningsSettings.model_validate({
    "counties": [1], "sea_districts": [41], "propose": [
        {"events": ["SNOW", "WIND_SNOW"], "forum": "samordnande", "event": "snöoväder"},
        {"level": "RED", "forum": "inriktande"}]})


def item(level: str = "ORANGE", code: str = "SNOW", areas: tuple[dict[str, object], ...] = (STOCKHOLM,),
         published: datetime = NOW, hours: int = 24) -> object:
    document = [warning(1, 2, code=code, level=level, areas=areas, start=NOW, end=NOW + timedelta(hours=hours),
                        published=published)]
    return parse(json.dumps(document).encode())[0]


def test_smhis_document_is_read_into_one_item_per_warning_area() -> None:
    parsed = parse(json.dumps([warning(7001, 9001, level="RED", start=NOW, end=NOW + timedelta(hours=6),
                                       published=NOW)]).encode())
    assert len(parsed) == 1
    found = parsed[0]
    assert (found.key, found.event_code, found.level, found.event_sv) == ("7001:9001", "SNOW", "RED", "Snöfall")
    assert (found.starts_at, found.ends_at, found.published) == (NOW, NOW + timedelta(hours=6), NOW)
    assert [a.id for a in found.areas] == [1]
    assert found.texts[0].title_sv == "Vad händer"
    assert found.texts[0].text_sv.startswith("Kraftigt snöfall")
    assert parse(b"[]") == []


@pytest.mark.parametrize(("body", "reason"), [
    (b"<html>Service Unavailable</html>", "malformed JSON"),
    (b"\xff\xfe", "malformed JSON"),
    (b'{"warnings": 3}', "not a list of warnings"),
    (b'"text"', "not a list of warnings"),
    (b'[{"id": 1, "event": {"code": "SNOW"}}]', "unexpected structure in warning [0]"),
    (b'[{"id": 1, "event": {"code": "SNOW"}, "warningAreas": [{"id": 2, "warningLevel": {"code": "RED"}, '
     b'"published": "2026-12-04T12:00:00", "affectedAreas": []}]}]', "a time without its zone"),
    (b'[{"id": 1, "event": {"code": "SNOW"}, "warningAreas": [{"id": 2, "warningLevel": {"code": "RED"}, '
     b'"published": "yesterday", "affectedAreas": []}]}]', "unexpected structure"),
])
def test_a_document_not_as_smhi_publishes_it_is_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(FeedFault, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse(body)


def test_only_the_regions_counties_and_sea_districts_concern_it() -> None:
    assert concerns(item(areas=(STOCKHOLM,)), OPTIONS)
    assert concerns(item(areas=(SEA,)), OPTIONS)
    assert concerns(item(areas=(UPPSALA, STOCKHOLM)), OPTIONS)
    assert not concerns(item(areas=(UPPSALA,)), OPTIONS)
    assert proposals(item(level="RED", areas=(UPPSALA,)), OPTIONS) == []


def test_the_level_and_the_event_decide_what_is_proposed() -> None:
    assert proposals(item(level="YELLOW"), OPTIONS) == []
    assert proposals(item(level="ORANGE"), OPTIONS) == [Proposal("samordnande", "snöoväder")]
    assert proposals(item(level="RED"), OPTIONS) == [Proposal("samordnande", "snöoväder"),
                                                     Proposal("inriktande", "snöoväder")]
    assert proposals(item(level="ORANGE", code="WIND"), OPTIONS) == [], "no rule for wind below red"
    assert proposals(item(level="RED", code="WIND"), OPTIONS) == [Proposal("inriktande", "vind")], \
        "red of any kind: SMHI's own name when no rule names the event"


def test_what_changed_since_the_last_look() -> None:
    first = item(level="ORANGE")
    assert change(None, first) is Change.NEW
    seen = Seen(first.level, first.published, first.starts_at, first.ends_at)  # type: ignore[attr-defined]
    assert change(seen, first) is Change.SAME
    assert change(seen, item(level="RED")) is Change.RAISED
    assert change(seen, item(level="YELLOW")) is Change.UPDATED
    assert change(seen, item(published=NOW + timedelta(minutes=5))) is Change.UPDATED
    assert change(seen, item(hours=30)) is Change.UPDATED
    assert gone(["1:2", "3:4"], [first]) == ["3:4"]  # type: ignore[list-item]
    assert [rank(level) for level in ("MESSAGE", "YELLOW", "ORANGE", "RED", "PURPLE")] == [0, 1, 2, 3, -1]


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after("120", NOW) == 120
    assert retry_after("Fri, 04 Dec 2026 13:00:00 GMT", NOW) == 3600
    assert retry_after("soon", NOW) is None
    assert retry_after(None, NOW) is None


def test_an_edit_keeps_the_mentions_of_its_new_version_and_mentions_nobody_itself() -> None:
    message = Message(target="!r:x", body="SMHI: RÖD", html="<b>SMHI</b>", ping=True, mentions=("@tib:x",),
                      replaces="$original")
    content = message_content(message)
    assert content["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$original"}
    assert content["m.mentions"] == {}
    assert content["body"] == "* SMHI: RÖD"
    assert content["m.new_content"]["body"] == "SMHI: RÖD"
    assert content["m.new_content"]["m.mentions"] == {"user_ids": ["@tib:x"]}
    assert "m.relates_to" not in content["m.new_content"]


def test_a_quote_begins_on_a_line_of_its_own_in_the_plain_body_that_a_lock_screen_shows() -> None:
    rich = Rich().bold("Händelsebeskrivning").quote("Kraftigt snöfall.\nLokalt upp till 40 cm.").br().text("Källa")
    assert rich.plain == "Händelsebeskrivning\n> Kraftigt snöfall.\n> Lokalt upp till 40 cm.\nKälla"
    assert rich.html == ("<strong>Händelsebeskrivning</strong><blockquote>Kraftigt snöfall.<br>Lokalt upp till 40 cm."
                         "</blockquote><br>Källa")
    assert Rich().quote("Vind.").plain == "> Vind.", "nothing before it: no empty line"
    assert Rich().text("Titel").br().quote("Vind.").plain == "Titel\n> Vind.", "a line already begun: no empty line"
