"""Forums formed for an event: the id a name gives, and how they join the running configuration."""

from __future__ import annotations

from pathlib import Path

from bot.config import load_settings, with_formed
from bot.domain.directory import Directory
from bot.domain.forums import formed_id
from bot.domain.model import Forum

EXAMPLE = Path(__file__).parents[2] / "config" / "example.toml"


def _formed(forum_id: str, name: str, functions: tuple[str, ...] = ("sos-vakthavande",)) -> Forum:
    return Forum(id=forum_id, name=name, level="verkställande", room=f"#samverkan-{forum_id}:example.org",
                 chair="lst-tib", activated=("lst-tib", *functions))


def test_the_id_comes_from_the_name_and_never_reuses_one_given_before() -> None:
    assert formed_id("Vägar", set()) == "vagar"
    assert formed_id("Vägar och broar", set()) == "vagar-och-broar"
    assert formed_id("vägar", {"vagar"}) == "vagar-2"
    assert formed_id("Vägar", {"vagar", "vagar-2"}) == "vagar-3"
    assert formed_id("!!!", set()) is None
    assert formed_id("x" * 41, set()) is None


def test_a_formed_forum_joins_the_configuration_and_one_that_no_longer_fits_is_left_out_with_why() -> None:
    settings = load_settings(EXAMPLE)
    fits = _formed("vagar", "Vägar")
    unknown_function = _formed("broar", "Broar", ("trafikverket-tib-gammal",))
    name_taken = _formed("chefsgruppen", "Chefsgruppen")  # the file now uses it as an alias
    merged, left_out = with_formed(settings, [fits, unknown_function, name_taken])
    assert [f.id for f in merged.forums] == [*(f.id for f in settings.forums), "vagar"]
    assert len(left_out) == 2
    assert "forum 'broar'" in left_out[0] and "unknown function 'trafikverket-tib-gammal'" in left_out[0]
    assert "forum 'chefsgruppen'" in left_out[1] and "already used" in left_out[1]
    assert with_formed(settings, []) == (settings, [])


def test_a_dissolved_forum_is_found_by_its_id_for_the_record_but_not_by_its_name() -> None:
    settings = load_settings(EXAMPLE)
    directory = Directory.build(settings, [_formed("vagar", "Vägar")])
    assert directory.forum("vagar").name == "Vägar"
    assert directory.forums.get("Vägar") is None and directory.forums.get("vagar") is None
    assert directory.forum("samordnande").id == "samordnande"
