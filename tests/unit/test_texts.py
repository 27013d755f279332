"""Every text in both languages: none missing, every blank filled, and the Swedish as an authority writes it."""

from __future__ import annotations

import string

import pytest

from bot.texts import LANGUAGES, en, sv, t


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_languages_have_every_key_with_the_same_blanks() -> None:
    assert set(sv.TEXTS) == set(en.TEXTS)
    differ = [key for key in sv.TEXTS if _fields(sv.TEXTS[key]) != _fields(en.TEXTS[key])]
    assert differ == []


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_every_text_renders_with_sample_values_and_no_blank_left(lang: str) -> None:
    for key, template in LANGUAGES[lang].items():
        values = {name: f"<{name}>" for name in _fields(template)}
        rendered = t(lang, key, **values)
        assert rendered.strip(), key
        assert "{" not in rendered and "}" not in rendered, key
        assert all(v in rendered for v in values.values()), key


def test_unknown_names_agree_with_their_noun() -> None:
    assert t("sv", "error.unknown.forum", name="x") == "Okänt forum: x."
    assert t("sv", "error.unknown.command", name="!x") == "Okänt kommando: !x."
    assert t("sv", "error.unknown.function", name="x") == "Okänd funktion: x."
    assert t("sv", "error.unknown.organisation", name="x") == "Okänd organisation: x."
    everything = " ".join(sv.TEXTS.values())
    for wrong in ("Okänd forum", "Okänd kommando", "Okänt funktion", "Okänt organisation", "Okänd {kind}"):
        assert wrong not in everything


@pytest.mark.parametrize(("key", "values", "one", "many"), [
    ("kalla.done", {"forum": "F", "when": "nu"}, "till 1 person.", "till 2 personer."),
    ("report.coverage", {"done": 0}, "0 av 1 aktör har", "0 av 2 aktörer har"),
    ("status.composition", {}, "1 funktion", "2 funktioner"),
    ("calendar.attached", {"forum": "F"}, "1 möte,", "2 möten,"),
])
def test_singular_and_plural(key: str, values: dict[str, object], one: str, many: str) -> None:
    assert one in t("sv", key, count=1, **values)
    assert many in t("sv", key, count=2, **values)
    assert many not in t("sv", key, count=1, **values)


def test_the_words_of_the_model() -> None:
    """The seeds' terms: minnesanteckningar, ordinarie läge, beredskapsschema, extrainsatt konferens."""
    assert t("sv", "error.too_long", arg=t("sv", "arg.event"), limit=150).startswith("Texten för händelse är för lång")
    assert t("sv", "log.withdrawn", kind=t("sv", "log.kind.decision"), number=3, text="x").startswith(
        "Struket: beslut #3")
    assert "återgick till ordinarie läge" in t("sv", "activation.deactivated", forum="F", when="nu", who="W",
                                                sender="@w:x", event="storm")
    assert "Mötet beslutar om fortsatt ordförandeskap" in sv.TEXTS["meeting.first_of_activation"]
    assert "är inte registrerad för någon funktion" in sv.TEXTS["error.unknown_sender"]
    assert "följer åter beredskapsschemat" in sv.TEXTS["tjanstgor.released"]
    assert "extrainsatt samverkanskonferens" in sv.TEXTS["conv.title.extra"]
    assert sv.TEXTS["minutes.title"].startswith("Minnesanteckningar")
    assert t("sv", "report.deadline", week=48) == "Tiden för lägesbild vecka 48 har gått ut."
    assert "ingen kvittens" in sv.TEXTS["conv.reminder"]
    everything = " ".join(sv.TEXTS.values())
    for wrong in ("protokoll", "Protokoll", "ämne eller tillstånd", "avslutad)", "--ny", "Tillbakatagen",
                  "ej kvitterat", "tillbaka hos schemat", "levererade"):
        assert wrong not in everything, wrong


def test_english_is_english() -> None:
    same = {key for key in sv.TEXTS if sv.TEXTS[key] == en.TEXTS[key]}
    assert same <= {"arg.forum", "arg.text", "arg.report", "log.kind.info", "minutes.info",
                    "record.meeting", "record.entry", "record.message",
                    "record.message_answer", "warnings.level.ORANGE"}  # formats without a word; a colour
    assert t("en", "error.unknown.forum", name="x") == "Unknown forum: x."
    assert "1 person." in t("en", "kalla.done", forum="F", when="now", count=1)
