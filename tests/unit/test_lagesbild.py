"""Situation reports: parsing fields in Swedish and English, and compiling the regional picture."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.lagesbild import Parsed, Report, compile_reports, parse, week_of

TZ = ZoneInfo("Europe/Stockholm")


def test_fields_inline_in_any_order_in_swedish_and_english() -> None:
    parsed = parse("Åtgärder: plogning dygnet runt ; konsekvenser: E4 stängd; Needs: två bandvagnar")
    assert parsed.fields == {"atgarder": "plogning dygnet runt", "konsekvenser": "E4 stängd",
                             "behov": "två bandvagnar"}
    assert parsed.text == "" and not parsed.unknown


def test_free_text_and_fields_over_several_lines() -> None:
    parsed = parse("Läget är ansträngt men stabilt.\nkonsekvenser: elavbrott i Värmdö\nbehov av samordning: "
                   "gemensamt budskap")
    assert parsed.text == "Läget är ansträngt men stabilt."
    assert parsed.fields["konsekvenser"] == "elavbrott i Värmdö"
    assert parsed.fields["samordning"] == "gemensamt budskap"


def test_an_unknown_field_is_kept_as_text_and_named() -> None:
    parsed = parse("väder: mycket snö; konsekvenser: förseningar")
    assert parsed.text == "väder: mycket snö" and parsed.unknown == ("väder",)
    assert parsed.fields == {"konsekvenser": "förseningar"}


def test_no_change_and_empty() -> None:
    assert parse("ingen förändring").no_change and parse("No change.").no_change
    assert parse("   ").empty and parse(" ; ;").empty


@given(st.text(max_size=300))
def test_free_text_is_never_lost(raw: str) -> None:
    parsed = parse(raw)
    if parsed.no_change:
        return
    lines = parsed.text.split("\n")
    for segment in re.split(r"[;\n]", raw):
        if segment.strip() and ":" not in segment:
            assert segment.strip() in lines


def report(org: str, at: datetime, text: str = "", **fields: str) -> Report:
    return Report(org, f"{org}-tib", f"@{org}:example.org", at, text, fields)


def test_the_newest_report_replaces_the_older_and_coverage_counts_organisations() -> None:
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    compiled = compile_reports([
        report("nacka", t0, konsekvenser="elavbrott"),
        report("sos", t0, "normalt läge"),
        report("nacka", t0 + timedelta(hours=2), konsekvenser="el åter", samordning="budskap om vatten"),
    ], expected=["lst", "sos", "nacka", "trv"])
    assert compiled.coverage == (2, 4) and compiled.missing == ["lst", "trv"]
    assert compiled.by_field["konsekvenser"] == [("nacka", "el åter")]
    assert list(compiled.by_field) == ["samordning", "konsekvenser", "text"]  # coordination needs first


def test_a_report_from_an_organisation_not_asked_is_listed_and_counted_with_the_rest() -> None:
    """The coverage counts exactly the organisations the picture shows: reported ones and missing ones."""
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    compiled = compile_reports([report("lst", t0, "normalt"), report("nacka", t0, "elavbrott")],
                               expected=["lst", "sos"])
    shown = {org for statements in compiled.by_field.values() for org, _ in statements} | set(compiled.missing)
    assert shown == {"lst", "nacka", "sos"}
    assert compiled.coverage == (2, 3)


def test_iso_weeks_around_new_year() -> None:
    assert week_of(datetime(2026, 12, 31, 12, 0, tzinfo=TZ), TZ) == (2026, 53)
    assert week_of(datetime(2027, 1, 3, 23, 30, tzinfo=TZ), TZ) == (2026, 53)
    assert week_of(datetime(2027, 1, 4, 0, 30, tzinfo=TZ), TZ) == (2027, 1)
    assert week_of(datetime(2027, 1, 3, 23, 30, tzinfo=UTC), TZ) == (2027, 1)  # already Monday in Stockholm


def test_fields_join_skip_empty_values_and_keep_going_past_empty_segments() -> None:
    parsed = parse("konsekvenser: köer;; åtgärder: ; konsekvenser: elavbrott\nbehov: inga")
    assert parsed.fields == {"konsekvenser": "köer; elavbrott", "behov": "inga"}
    assert parse("ingen förändring") == Parsed("", no_change=True)
    assert parse("Läget är stabilt\nkonsekvenser: köer\nmen ansträngt").text == "Läget är stabilt\nmen ansträngt"


def test_what_counts_as_an_unknown_field_name() -> None:
    assert parse("väder i stan: mycket snö").unknown == ("väder i stan",)
    assert parse("det här är fritext: och mer").unknown == (), "four words: a sentence, not a field"
    assert parse("https://smhi.se/varningar").unknown == (), "an address is not a field"
