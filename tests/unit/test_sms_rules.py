"""The second channel's pure rules: numbers, masking, what fits in one SMS, what a reply says."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import load_contacts
from bot.domain.sms import (
    ACK,
    DECLINE,
    SMS_LENGTH,
    UNCLEAR,
    BadNumber,
    Reply,
    fit,
    gsm_length,
    is_ack,
    mask,
    normalise_number,
    parse_reply,
    to_gsm,
)


@pytest.mark.parametrize("written", ["070-123 45 67", "+46 70 123 45 67", "0046701234567", "+46 (0)70 123 45 67",
                                     "+46701234567", " 070 1234567 "])
def test_numbers_as_people_write_them_become_e164(written: str) -> None:
    assert normalise_number(written) == "+46701234567"


@pytest.mark.parametrize("written", ["", "12", "hej", "+46", "070-123 45 67 89 01 23 45", "+0701234567"])
def test_what_is_not_a_number_is_refused(written: str) -> None:
    with pytest.raises(BadNumber):
        normalise_number(written)


def test_a_number_is_masked_to_country_prefix_and_last_two() -> None:
    assert mask("+46701234567") == "+46 70 *** ** 67"
    assert "1234" not in mask("+4412345678901") and mask("+4412345678901").endswith("01")


@given(st.from_regex(r"\+46 ?7[02369] ?\d{3} ?\d{2} ?\d{2}", fullmatch=True))
def test_a_masked_number_never_shows_more_than_four_of_its_digits_after_the_country(written: str) -> None:
    number = normalise_number(written)
    shown = [c for c in mask(number).removeprefix("+46") if c.isdigit()]
    assert len(shown) == 4 and shown[-2:] == list(number[-2:])


def test_swedish_letters_are_one_place_each_and_emoji_are_left_out() -> None:
    assert gsm_length("Å ä ö É ü") == 9
    assert gsm_length("€") == 2
    with pytest.raises(ValueError):
        gsm_length("❄")
    assert to_gsm("snöoväder ❄ – Nacka") == "snöoväder - Nacka"


@given(st.text(min_size=0, max_size=400))
def test_a_text_with_any_name_fits_one_message_and_keeps_the_bots_words(name: str) -> None:
    tail = ", konf 03:15. Ring 08-123 456 78 PIN 4711. Svara 1 = kvittera"
    text = fit(["ÖVNING AKTIVERAT ", name, tail], 1)
    assert gsm_length(text) <= SMS_LENGTH
    assert text.startswith("ÖVNING AKTIVERAT ") and text.endswith(tail)


def test_a_short_name_is_left_whole() -> None:
    assert fit(["AKTIVERAT ", "snöoväder", ": forum"], 1) == "AKTIVERAT snöoväder: forum"


@pytest.mark.parametrize("reply, acknowledges", [("1", True), ("OK", True), ("ok.", True), ("Kvittera", True),
                                                 (" 1 ", True), ("2", False), ("1 2", False), ("avaktivera", False),
                                                 ("", False), ("kvittera inte", False)])
def test_what_a_reply_acknowledges(reply: str, acknowledges: bool) -> None:
    assert is_ack(reply) is acknowledges


@pytest.mark.parametrize("text, kind, code, rest", [
    ("nej tack", DECLINE, None, ""), ("Nej, sjuk", DECLINE, None, ""), ("kan inte komma", DECLINE, None, ""),
    ("Kommer inte.", DECLINE, None, ""), ("jag kommer inte", DECLINE, None, ""), ("2 sjuk", DECLINE, None, "sjuk"),
    ("2B", DECLINE, "B", ""), ("Ok, kommer", ACK, None, "kommer"), ("jag kommer", ACK, None, "kommer"),
    ("👍", ACK, None, ""), ("👍🏼", ACK, None, ""), ("1 i bilen", ACK, None, "i bilen"), ("1A", ACK, "A", ""),
    ("1 b kommer 10:15", ACK, "B", "kommer 10:15"), ("1 kommer 10:15", ACK, None, "kommer 10:15"),
    ("kommer 10:15", ACK, None, "kommer 10:15"), ("kvittera inte", UNCLEAR, None, ""), ("1 inte", UNCLEAR, None, ""),
    ("vad gäller?", UNCLEAR, None, ""), ("1o", UNCLEAR, None, "")])
def test_replies_as_people_write_them(text: str, kind: str, code: str | None, rest: str) -> None:
    """One rule: the first word decides (`jag` aside), a letter right after the digit names the convocation
    (never I or O), and the rest is a comment."""
    assert parse_reply(text) == Reply(kind, code, rest)


def test_the_contacts_file_names_a_bad_entry_by_its_place_not_its_number(tmp_path: Path) -> None:
    path = tmp_path / "contacts.toml"
    path.write_text('[[contact]]\nuser = "@anna:lst.example"\nnumber = "070-174 06 01"\n\n'
                    '[[contact]]\nuser = "anna"\nnumber = "070-174 06 02"\n\n'
                    '[[contact]]\nuser = "@bengt:lst.example"\nnumber = "0701"\n\n'
                    '[[contact]]\nname = "Kalle  Karlsson"\nnumber = "070-174 06 03"\nfunctions = ["nacka-tib"]\n\n'
                    '[[contact]]\nname = "Lisa"\nnumber = "070-174 06 04"\nfunctions = ["nacka-tbi"]\n')
    contacts = load_contacts(path, functions=["nacka-tib", "lst-tib"])
    assert contacts.numbers == {"@anna:lst.example": "+46701740601", "sms:Kalle Karlsson": "+46701740603"}
    assert contacts.sms_holders == {"nacka-tib": ("sms:Kalle Karlsson",)}
    errors = contacts.errors
    assert len(errors) == 3 and "contact[1]" in errors[0] and "contact[2].number" in errors[1]
    assert "contact[4].functions: unknown function nacka-tbi" in errors[2]
    assert not any("0701" in e or "174" in e for e in errors)


@pytest.mark.parametrize("delivered", ["46701234567", "+46701234567", "0046701234567", "0701234567", "701234567"])
def test_a_sender_as_operators_deliver_it_is_the_same_number(delivered: str) -> None:
    """Some operators hand over the sender without its '+': still the registered person, never dropped."""
    assert normalise_number(delivered) == "+46701234567"


@pytest.mark.parametrize("delivered", ["4670123456", "467", "4612"])
def test_bare_digits_that_are_no_number_either_way_are_refused(delivered: str) -> None:
    with pytest.raises(BadNumber):
        normalise_number(delivered)
