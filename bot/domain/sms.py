"""The second channel's rules, pure: phone numbers (E.164, masked), what fits in one SMS, what a reply says.

One SMS is 160 characters of the GSM 7-bit alphabet (å ä ö Å Ä Ö é É ü Ü are in it); one character
outside it makes the operator send the message as UCS-2, 70 characters. So what the bot texts is kept
inside the alphabet and inside 160, and whatever a person wrote (an event's name) is fitted to it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

# GSM 03.38: the basic alphabet, and the extension table whose characters take two places.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
SMS_LENGTH = 160
MIN_KEPT = 12  # an event's name is shortened to this before the forum's name gives way

# A reply that acknowledges: `1`, `ok`, `kvittera` (and the English words).
ACK_WORDS = frozenset({"1", "ok", "okej", "kvittera", "kvitterar", "kvitterat", "ack", "ja", "yes"})


def gsm_length(text: str) -> int:
    """The places `text` takes in one GSM 7-bit message; ValueError for a character outside the alphabet."""
    length = 0
    for char in text:
        if char in GSM_BASIC:
            length += 1
        elif char in GSM_EXTENSION:
            length += 2
        else:
            raise ValueError(f"{char!r} is not in the GSM alphabet")
    return length


def to_gsm(text: str) -> str:
    """`text` with every character outside the GSM alphabet replaced (accents dropped where the alphabet lacks
    them, dashes and quotes made plain, the rest left out), on one line."""
    plain = {"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "\u00a0": " ", "·": "-"}
    out = []
    for char in re.sub(r"\s+", " ", text):
        if char in GSM_BASIC or char in GSM_EXTENSION:
            out.append(char)
        elif char in plain:
            out.append(plain[char])
        else:
            base = unicodedata.normalize("NFKD", char)[0]
            if base in GSM_BASIC:
                out.append(base)
    return re.sub(" {2,}", " ", "".join(out))


def fit(parts: list[str], *shrinkable: int) -> str:
    """Join `parts` into one SMS. When the whole is longer than one message, the parts named in `shrinkable`
    (names a person wrote: the event, then the forum) are shortened in that order, each only as far as needed
    and none below a few characters while a later one can still give way. The other parts are the bot's own
    words and always fit."""
    parts = [to_gsm(p) for p in parts]
    for round_, index in enumerate(shrinkable):
        keep = 0 if round_ == len(shrinkable) - 1 else MIN_KEPT
        over = gsm_length("".join(parts)) - SMS_LENGTH
        if over <= 0:
            break
        name = parts[index]
        kept = max(keep, len(name) - over - 1)
        if kept >= len(name):
            continue
        parts[index] = (name[:kept].rstrip() + ".") if kept else ""
        while gsm_length("".join(parts)) > SMS_LENGTH and len(parts[index]) > keep + 1:
            parts[index] = parts[index][:-2].rstrip() + "."
    return "".join(parts)


class BadNumber(ValueError):
    """Not a mobile number the bot can text."""


def normalise_number(text: str, country: str = "46") -> str:
    """A phone number as people write it, or as an operator delivers a sender -> E.164, read by Google's
    libphonenumber (`phonenumbers`); a national number (leading 0) is read in `country`. For example
    (fictitious): '070-174 06 01', '+46 70 174 06 01', '0046701740601', '46701740601' (a sender without its
    '+', as some operators deliver it) all read as the same fictitious E.164 number."""
    compact = re.sub(r"[\s\-().]", "", text)
    if not re.fullmatch(r"\+?\d{3,17}", compact) or compact.startswith("+0"):
        raise BadNumber(text)
    region = phonenumbers.region_code_for_country_code(int(country)) if country.isdecimal() else "ZZ"
    explicit = compact.startswith(("+", "0"))
    candidates = [text] if explicit else [text, "+" + compact]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        # Written out with its country or trunk prefix, a number of a possible length is taken as written (a
        # range libphonenumber does not know yet); bare digits must be a valid number read one way or the other.
        if phonenumbers.is_valid_number(number) or (explicit and phonenumbers.is_possible_number(number)):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise BadNumber(text)


def mask(number: str) -> str:
    """A number as it may be shown, for example (fictitious) '+46701740601' -> '+46 70 *** ** 01'. Only the
    country, the operator's prefix and the last two digits: enough for its owner to recognise it, too little
    to call it."""
    if number.startswith("+46") and len(number) >= 10:
        hidden = len(number) - 3 - 2 - 2
        return f"+46 {number[3:5]} {'*' * min(hidden, 3)}{' ' if hidden > 3 else ''}{'*' * max(hidden - 3, 0)} " \
               f"{number[-2:]}"
    return f"{number[:3]} {'*' * max(len(number) - 5, 0)} {number[-2:]}"


def is_ack(text: str) -> bool:
    """Whether a reply acknowledges: '1', 'ok', 'Kvittera', '1.' (case and trailing punctuation aside)."""
    reply = parse_reply(text)
    return reply.kind == ACK and reply.rest == ""


ACK, DECLINE, UNCLEAR = "ack", "decline", "unclear"
DECLINE_WORDS = frozenset({"2", "nej", "no", "avböjer", "avbojer", "👎"})
NEGATIONS = frozenset({"inte", "ej", "not", "icke"})
ARRIVING = frozenset({"kommer", "coming"})
THUMBS_UP = ("👍", "✅")
LETTERS = "abcdefghjklmnpqrstuvwxyz"  # a reply's code letter (`1A`): I and O are none, read as 1 and 0


@dataclass(frozen=True)
class Reply:
    """What a reply to the bot's SMS says: acknowledge (`1`, `1A`, `ok`, `1 kommer 10:15`), decline (`2`,
    `nej`), or something the bot cannot read. `code` is the letter of the convocation it names (`1A`: 'A'),
    `rest` what followed the word ('kommer 10:15'), read for an arrival time when it has a digit."""

    kind: str
    code: str | None = None
    rest: str = ""


def parse_reply(text: str) -> Reply:
    """A reply as people write it, read by its first word (a leading `jag` aside): `1`, `ok`, `ja`, `kvittera`,
    `kommer`, 👍 acknowledge; `2`, `nej`, `kan inte`, `kommer inte`, 👎 decline; what follows is a comment, and a
    time in it is the arrival time ('1 kommer 10:15'). A letter right after the digit names the convocation
    ('1A', '2 b'); I and O are no letters, so '1 i bilen' acknowledges. An acknowledging word with `inte` is not
    read ('kvittera inte')."""
    clean = re.sub(r"[.!,?]+$", "", text.strip().lower()).strip()
    clean = re.sub(r"^jag\s+", "", clean)
    match = re.fullmatch(rf"([12])(?:\s*([{LETTERS}]))?(?:[\s,.!:;-]+(.*))?", clean, re.DOTALL)
    if match:
        kind = ACK if match.group(1) == "1" else DECLINE
        rest = (match.group(3) or "").strip()
        if kind == ACK and NEGATIONS & set(rest.split()):
            return Reply(UNCLEAR)
        return Reply(kind, match.group(2).upper() if match.group(2) else None, rest)
    words = [w for w in re.split(r"[\s,!?;]+|[.:](?!\d)", clean) if w]  # '10:15' and '10.15' stay whole
    if not words:
        return Reply(UNCLEAR)
    negated = bool(NEGATIONS & set(words))
    if words[0] in DECLINE_WORDS or (words[0] == "kan" and negated) or words[0] in ("kaninte", "kanej"):
        return Reply(DECLINE)
    if words[0] in ARRIVING:
        return Reply(DECLINE) if negated else Reply(ACK, None, " ".join(words))
    if words[0] in ACK_WORDS or words[0].startswith(THUMBS_UP):
        if negated:
            return Reply(UNCLEAR)
        return Reply(ACK, None, " ".join(words[1:]))
    return Reply(UNCLEAR)
