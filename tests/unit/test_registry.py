"""The command registry: generated usage, aliases, names with or without diacritics."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import REGISTRY
from bot.config import parse_settings
from bot.domain.clock import FakeClock
from bot.domain.directory import Directory
from bot.domain.names import normalise
from bot.flows.context import Context
from bot.flows.errors import BadArgument, UnknownName
from bot.messages import Incoming
from bot.texts import t
from bot.texts.sv import TEXTS as SV


def settings_data() -> dict[str, Any]:
    return {
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:x.org"},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen"}],
        "function": [{"id": "lst-tib", "organisation": "lst", "name": "TiB", "may_convene": True,
                      "holders": ["@a:x.org"]}],
        "forum": [{"id": "samordnande", "name": "Regionalt samordnande forum", "level": "samordnande",
                   "aliases": ["samordning"], "room": "#s:x.org", "chair": "lst-tib", "ordinary": ["lst-tib"]}],
    }


def context(lang: str = "sv") -> Context:
    directory = Directory.build(parse_settings(settings_data()))
    incoming = Incoming("!r:x.org", "@a:x.org", "$e", "", datetime(2026, 11, 22, tzinfo=UTC))
    return Context(incoming, None, directory, FakeClock(datetime(2026, 11, 22, tzinfo=UTC)), lang)  # type: ignore[arg-type]


def test_swedish_and_english_names_and_diacritics_find_the_same_command() -> None:
    spec = REGISTRY.find("hjälp")
    assert spec is not None
    assert REGISTRY.find("help") is spec
    assert REGISTRY.find("HJALP") is spec
    assert REGISTRY.find("!Hjälp") is spec


def test_usage_is_generated_from_the_declared_arguments_in_both_languages() -> None:
    spec = REGISTRY.find("status")
    assert spec is not None
    assert spec.usage("sv") == "!status [forum]"
    assert REGISTRY.find("help").usage("en") == "!help [command]"  # type: ignore[union-attr]
    assert REGISTRY.find("help").usage("sv") == "!hjälp [kommando]"  # type: ignore[union-attr]


def test_every_command_has_help_text_in_both_languages() -> None:
    for spec in REGISTRY.all():
        assert not spec.help("sv").startswith("cmd."), spec.name
        assert not spec.help("en").startswith("cmd."), spec.name


def test_forum_argument_by_alias_any_case() -> None:
    spec = REGISTRY.find("status")
    assert spec is not None
    assert spec.parse(context(), "SAMORDNING")["forum"].id == "samordnande"


def test_unknown_forum_suggests_the_closest() -> None:
    spec = REGISTRY.find("status")
    assert spec is not None
    with pytest.raises(UnknownName) as caught:
        spec.parse(context(), "samordnade")
    assert caught.value.suggestions == ["samordnande"]


def test_extra_words_are_a_bad_argument() -> None:
    spec = REGISTRY.find("status")
    assert spec is not None
    with pytest.raises(BadArgument):
        spec.parse(context(), "samordnande och mer")


def test_unknown_command_suggestion() -> None:
    assert REGISTRY.suggest("stauts") == ["status"]


@given(st.text())
def test_normalise_is_idempotent_and_case_free(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert normalise(text.upper()) == normalise(text.lower()) or not text.isascii()


@given(st.text(max_size=300))
def test_parse_never_fails_with_anything_but_a_user_error(text: str) -> None:
    spec = REGISTRY.find("status")
    assert spec is not None
    try:
        parsed = spec.parse(context(), text)
    except (UnknownName, BadArgument) as exc:
        template = SV[exc.key]
        assert set(re.findall(r"{(\w+)}", template)) <= set(exc.values), template  # every blank filled
        assert t("sv", exc.key, **exc.values).strip()  # a whole sentence for the user
        return
    assert set(parsed) == {arg.name for arg in spec.args}

