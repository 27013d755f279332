"""Configuration: the real example loads; broken files list every error with its place."""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, Settings, load_settings, parse_settings, warnings
from bot.domain.model import Forum, Function

EXAMPLE = Path(__file__).parents[2] / "config" / "example.toml"


def example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    return caught.value.errors


OFFICIAL_MUNICIPALITIES = [line for line in (EXAMPLE.parent / "kommuner.txt").read_text(encoding="utf-8").splitlines()
                           if line and not line.startswith("#")]


def test_example_models_the_stockholm_region() -> None:
    """All 26 municipalities by their official names, each with a TiB; the parties of seed 000; three levels."""
    settings = load_settings(EXAMPLE)
    assert len(OFFICIAL_MUNICIPALITIES) == 26
    names = {o.name for o in settings.organisations}
    assert set(OFFICIAL_MUNICIPALITIES) <= names
    assert not {n for n in names if n.endswith((" kommun", " stad"))} - set(OFFICIAL_MUNICIPALITIES)
    municipalities = [o for o in settings.organisations if o.name in OFFICIAL_MUNICIPALITIES]
    tib_orgs = {f.organisation for f in settings.functions if f.id.endswith("-tib")}
    assert {m.id for m in municipalities} <= tib_orgs
    assert {f.level for f in settings.forums} == {"inriktande", "samordnande", "verkställande"}
    for actor in ("Länsstyrelsen Stockholm", "Region Stockholm", "Polisregion Stockholm", "SOS Alarm",
                  "Trafikverket", "Kustbevakningen", "Stockholms hamnar", "Storstockholms brandförsvar",
                  "Södertörns brandförsvarsförbund", "Brandkåren Attunda", "Storsthlm", "Swedavia",
                  "Region Stockholm, trafikförvaltningen", "Samverkan Stockholmsregionen"):
        assert actor in names
    assert any(f.meetings for f in settings.forums)


def _by_id(settings: Settings) -> tuple[dict[str, Function], dict[str, Forum]]:
    return {f.id: f for f in settings.functions}, {f.id: f for f in settings.forums}


def test_example_deputies_stay_in_their_organisation() -> None:
    """A municipal TiB's deputy is the municipality's own säkerhetschef, never a regional function."""
    settings = load_settings(EXAMPLE)
    functions, _ = _by_id(settings)
    for func in settings.functions:
        for deputy in func.deputies:
            assert functions[deputy].organisation == func.organisation, (func.id, deputy)
    assert functions["nacka-tib"].deputies == ("nacka-sakerhetschef",)
    assert warnings(settings) == []


def test_example_compositions_follow_seed_000() -> None:
    settings = load_settings(EXAMPLE)
    functions, forums = _by_id(settings)

    def organisations(ids: tuple[str, ...]) -> set[str]:
        return {functions[i].organisation for i in ids}

    for forum in forums.values():
        for part in (forum.ordinary, forum.activated):
            assert len(part) == len(set(part)), forum.id
    inriktande = organisations(forums["inriktande"].activated)
    assert {"sos", "sbff", "sbf", "attunda", "sl", "lst", "storsthlm"} <= inriktande
    assert {m.id for m in settings.organisations if m.name in OFFICIAL_MUNICIPALITIES} <= inriktande
    municipal = [i for i in forums["samordningsgrupp"].ordinary if i.endswith("-sakerhetschef")]
    assert len(municipal) == 4, "four municipal säkerhetschefer (seed 000)"
    heads = [functions[i] for i in forums["chefsgrupp"].ordinary]
    assert not [f.id for f in heads if f.rotation is not None or "beredskap" in f.name or "akthavande" in f.name]
    assert functions["rsib"].organisation == "ssr"
    kinds = {m.kind for f in settings.forums for m in f.meetings}
    assert kinds == {"veckomöte", "chefsgrupp", "samordningsgrupp"}


def test_check_config_prints_ok_and_summary() -> None:
    """`python -m bot check-config` on the example exits 0 with a one-line summary and no warnings."""
    done = subprocess.run([sys.executable, "-m", "bot", "check-config", str(EXAMPLE)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("OK: 41 organisations")
    assert done.stderr == ""


def test_check_config_warns_of_a_deputy_from_another_organisation_and_a_function_listed_twice(
        tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace('deputies = ["nacka-sakerhetschef"]', 'deputies = ["rsib"]')
    text = text.replace('"lst-tib",\n  "rsib",\n  "lst-lagesbild",\n  "region-tib"',
                        '"lst-tib",\n  "rsib",\n  "lst-tib",\n  "region-tib"', 1)
    odd = tmp_path / "odd.toml"
    odd.write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", "check-config", str(odd)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, "warnings do not stop the bot"
    lines = done.stderr.splitlines()
    assert len(lines) == 2, lines
    assert "'rsib' belongs to another organisation ('ssr', not 'nacka')" in lines[0]
    assert lines[1] == "warning: forum[3].ordinary[2]: 'lst-tib' is listed twice"
    assert done.stdout.strip().endswith("; 2 warning(s)")


def test_check_config_lists_every_error_and_exits_1(tmp_path: Path) -> None:
    """A broken file: exit 1, each error on its own line with its place."""
    text = EXAMPLE.read_text(encoding="utf-8").replace('chair = "lst-tib"', 'chair = "lst-tbi"')
    text = text.replace('  "sos-vakthavande",\n', '  "sos-vakthavand",\n', 1)
    broken = tmp_path / "broken.toml"
    broken.write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", "check-config", str(broken)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "forum[3].chair: unknown function 'lst-tbi'; did you mean 'lst-tib'?" in done.stderr
    assert "did you mean 'sos-vakthavande'?" in done.stderr


def test_unknown_references_are_all_reported_with_places() -> None:
    data = example()
    data["function"][0]["organisation"] = "lts"
    data["function"][0]["deputies"] = ["lst-chf"]
    data["forum"][3]["activated"][2] = "sos-vb"
    errors = errors_of(data)
    assert "function[0].organisation: unknown organisation 'lts'; did you mean 'lst'?" in errors
    assert "function[0].deputies[0]: unknown function 'lst-chf'; did you mean 'lst-chef'?" in errors
    assert any(e.startswith("forum[3].activated[2]: unknown function 'sos-vb'") for e in errors)


def test_type_errors_have_places_and_plain_words() -> None:
    data = example()
    data["function"][1]["holders"] = ["not-a-user"]
    data["function"][0]["ack_within"] = "soon"
    data["forum"][3]["meeting"][0]["rrule"] = "FREQ=SOMETIMES"
    data["forum"][0]["level"] = "strategisk"
    errors = errors_of(data)
    assert any(e.startswith("function[1].holders[0]: not a Matrix user id") for e in errors)
    assert any(e.startswith("function[0].ack_within: not a duration") for e in errors)
    assert any(e.startswith("forum[3].meeting[0].rrule: RRULE does not parse") for e in errors)
    assert any(e.startswith("forum[0].level:") for e in errors)


def test_secrets_in_the_file_are_refused() -> None:
    data = example()
    data["matrix"]["password"] = "hunter2"
    assert errors_of(data) == ["matrix.password: secrets do not belong in the file; set SAMVERKAN_PASSWORD "
                               "or SAMVERKAN_ACCESS_TOKEN"]
    data = example()
    data["database"] = {"url": "postgresql+asyncpg://samverkan:hunter2@db.example.org/samverkan"}
    assert errors_of(data) == ["database.url: no password in the file: set PGPASSWORD in the environment instead"]
    data["database"] = {"url": "mysql://db.example.org/samverkan"}
    assert errors_of(data) == ["database.url: url must start with sqlite+aiosqlite:// or postgresql+asyncpg://"]
    data["database"] = {"url": "postgresql+asyncpg://samverkan@db.example.org:5432/samverkan"}
    assert parse_settings(data).database.url.endswith("/samverkan")


def test_duplicate_ids_and_clashing_aliases() -> None:
    data = example()
    data["function"].append(copy.deepcopy(data["function"][0]))
    data["forum"][0]["aliases"] = ["samordning"]
    errors = errors_of(data)
    assert any("'lst-tib' is used twice" in e for e in errors)
    assert any("'samordning' is already used by forum 'samordnande'" in e or
               "'samordning' is already used by forum 'chefsgrupp'" in e for e in errors)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[bot\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)


def test_room_ids_of_every_room_version_and_aliases_are_accepted() -> None:
    """A room version 12 id has no server part; older ids and aliases have one. Anything else is refused."""
    data = example()
    data["forum"][0]["room"] = "!O4L6k0OkR335jQa81NovZLfsngtWFJstamfzm0f4x70"
    data["forum"][1]["room"] = "!abcDEF123:example.org"
    data["bot"]["log_room"] = "#samverkan-logg:example.org:8448"
    settings = parse_settings(data)
    assert settings.forums[0].room == "!O4L6k0OkR335jQa81NovZLfsngtWFJstamfzm0f4x70"
    assert settings.forums[1].room == "!abcDEF123:example.org"
    for bad in ("#no-server", "!has space", "samordnande:example.org", "!:example.org", "!"):
        data["forum"][0]["room"] = bad
        assert any("forum[0].room" in e and "!id" in e for e in errors_of(data)), bad


def test_the_version_is_the_package_version() -> None:
    from importlib import metadata

    done = subprocess.run([sys.executable, "-m", "bot", "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.strip() == f"samverkan-bot {metadata.version('samverkan-bot')}"


def test_a_forum_may_set_its_rhythm_while_activated_and_a_bad_one_is_an_error_with_its_place() -> None:
    from datetime import timedelta

    data = example()
    assert all(f.activated_rhythm is None for f in parse_settings(data).forums), "no rhythm unless asked"
    data["forum"][0]["activated_rhythm"] = "4h"
    assert parse_settings(data).forums[0].activated_rhythm == timedelta(hours=4)
    for wrong in ("ibland", "10min", "2d"):
        data["forum"][0]["activated_rhythm"] = wrong
        assert any("activated_rhythm" in error for error in errors_of(data)), wrong


def test_commands_come_from_cross_signed_devices_unless_the_homeserver_has_no_cross_signing() -> None:
    data = example()
    assert parse_settings(data).security.commands_from == "cross-signed"
    data["matrix"]["share_keys_with"] = "all"
    assert parse_settings(data).security.commands_from == "any", "users without cross-signing still command"
    data["security"] = {"commands_from": "cross-signed"}
    assert parse_settings(data).security.commands_from == "cross-signed", "said outright, it holds"
    data["security"] = {"commands_from": "everyone"}
    assert any(e.startswith("security.commands_from") for e in errors_of(data))


def test_the_sms_section_refuses_an_alphanumeric_sender_and_a_password_in_the_file() -> None:
    data = example()
    data["sms"] = {"gateway": "http://127.0.0.1:13013/cgi-bin/sendsms", "user": "samverkan", "sender": "Samverkan"}
    assert any("alphanumeric sender cannot be replied to" in e for e in errors_of(data))
    data["sms"] = {"gateway": "http://127.0.0.1:13013/cgi-bin/sendsms", "user": "samverkan",
                   "sender": "+46701740600", "password": "x"}
    assert any(e.startswith("sms.password") and "SAMVERKAN_SMS_PASSWORD" in e for e in errors_of(data))
    data["sms"].pop("password")
    assert parse_settings(data).sms is not None


def test_the_warnings_section_of_the_example_reads_and_refuses_an_unknown_forum_and_eager_polling() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    start = text.index("# [warnings]")
    section = "\n".join(line.removeprefix("# ") for line in text[start:].split("\n\n# ----")[0].splitlines())
    data = example() | tomllib.loads(section)
    warnings_ = parse_settings(data).warnings
    assert warnings_ is not None and warnings_.counties == (1,) and warnings_.level == "ORANGE"
    assert [rule.forum for rule in warnings_.propose] == ["samordnande", "samordnande", "inriktande"]
    data["warnings"]["propose"][0]["forum"] = "samordnade"
    assert "warnings.propose[0].forum: unknown forum 'samordnade'" in errors_of(data)
    data["warnings"]["every"] = "10s"
    assert any(e.startswith("warnings.every") and "at least 1m" in e for e in errors_of(data))


def test_a_reload_refuses_what_is_polled_from_the_start_and_takes_the_rest() -> None:
    from bot.config import reload_errors

    data = example()
    old = parse_settings(data)
    data["function"][0]["name"] = "Tjänsteman i beredskap (TiB), Länsstyrelsen"
    assert reload_errors(old, parse_settings(data)) == []
    data["function"][0]["schedule"] = "https://kalender.example.org/tib.ics"
    assert reload_errors(old, parse_settings(data)) == [
        "function.schedule: a duty schedule feed is added, moved or removed only with a restart of the bot"]
    data["warnings"] = {"propose": [{"forum": "samordnande"}]}
    assert "warnings: changes only with a restart of the bot" in reload_errors(old, parse_settings(data))
