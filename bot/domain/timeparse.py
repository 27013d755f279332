"""Durations and times as people write them: "5m", "2h30m"; "18:00", "i morgon 08:00", "om 3h".

Times are read in local wall-clock time and returned as UTC instants. Swedish and English
words both work, with or without å ä ö.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.parser import isoparse
from dateutil.relativedelta import FR, MO, SA, SU, TH, TU, WE, relativedelta, weekday

from bot.domain.names import normalise

_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "t": timedelta(hours=1),  # timme
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "v": timedelta(weeks=1),  # vecka
}
_PART = re.compile(r"(\d+)\s*(min|[smhtdwv])", re.IGNORECASE)
# Spelled-out units after a number: "om 2 timmar", "in 30 minutes".
_WORD_UNITS = {
    "minut": "m", "minuter": "m", "minute": "m", "minutes": "m", "mins": "m",
    "timme": "h", "timmar": "h", "hour": "h", "hours": "h", "tim": "h",
    "dag": "d", "dagar": "d", "day": "d", "days": "d",
    "vecka": "w", "veckor": "w", "week": "w", "weeks": "w",
}
_CLOCK = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?$")
_DAYS: dict[str, weekday] = {}
for _index, _names in enumerate((
    ("mandag", "man", "monday", "mon"), ("tisdag", "tis", "tuesday", "tue"),
    ("onsdag", "ons", "wednesday", "wed"), ("torsdag", "tor", "thursday", "thu"),
    ("fredag", "fre", "friday", "fri"), ("lordag", "lor", "saturday", "sat"),
    ("sondag", "son", "sunday", "sun"),
)):
    for _name in _names:
        _DAYS[_name] = (MO, TU, WE, TH, FR, SA, SU)[_index]
_MONTHS: dict[str, int] = {}
_MONTH_NAMES: tuple[tuple[str, ...], ...] = (
    ("jan", "januari", "january"), ("feb", "februari", "february"), ("mar", "mars", "march"),
    ("apr", "april"), ("maj", "may"), ("jun", "juni", "june"), ("jul", "juli", "july"),
    ("aug", "augusti", "august"), ("sep", "sept", "september"), ("okt", "oct", "oktober", "october"),
    ("nov", "november"), ("dec", "december"),
)
for _number, _month in enumerate(_MONTH_NAMES, start=1):
    for _name in _month:
        _MONTHS[_name] = _number
_TODAY = {"idag", "i dag", "today"}
_TOMORROW = {"imorgon", "i morgon", "imorron", "i morron", "tomorrow"}
_IN = {"om", "in"}

TIME_EXAMPLES = "18:00, i morgon 08:00, måndag 12:00, om 3h, 2026-12-24 15:00"


def parse_duration(text: str) -> timedelta:
    """Parse '5m', '24h', '1w', '2h30m' (Swedish 't' and 'v' too); ValueError otherwise."""
    cleaned = text.strip().lower().replace(" ", "")
    for word, unit in _WORD_UNITS.items():
        cleaned = re.sub(rf"(\d){word}$", rf"\g<1>{unit}", cleaned)
    if not cleaned:
        raise ValueError("empty duration")
    total = timedelta()
    position = 0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        try:
            total += int(match.group(1)) * _UNITS[match.group(2)]
        except OverflowError:
            raise ValueError(f"too long a duration: {text!r}") from None
        position = match.end()
    if position != len(cleaned) or total <= timedelta():
        raise ValueError(f"not a duration: {text!r} (examples: 5m, 2h, 1w, 2h30m)")
    return total


def at_local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """A local wall-clock time as a UTC instant (a time skipped by DST moves forward an hour)."""
    local = datetime.combine(day, clock).replace(tzinfo=tz)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        instant = (local + timedelta(hours=1)).astimezone(UTC)  # 02:30 on the spring-forward night
    return instant


def _clock(word: str) -> time | None:
    match = _CLOCK.match(word)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _bare(word: str) -> bool:
    """'3' or '10': a number standing alone, which is never a time of day by itself."""
    return word.isdecimal()


PASSED_LONG_AGO = timedelta(days=183)  # a day and month without a year passed longer ago than this: next year


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """'18:00', 'i morgon 08:00', 'måndag 12:00', 'om 3h', '2026-12-24 15:00' -> the next such instant.

    A bare time or weekday that has already passed today means the next one. A number alone is no time
    ('3' is not 03:00): it needs 'kl' or a day ('kl 10', 'i morgon 9'), or minutes ('10:00', '10.00'). A
    day and month without a year that passed more than half a year ago means next year ('1 jan' written
    in December); one that passed recently stays in the past, for the caller to refuse. ValueError
    otherwise.
    """
    folded = normalise(text)
    with_kl = bool(re.match(r"^(.*\s)?kl\.?(\s|$)", folded))
    words = folded.replace("kl.", "").replace("kl ", "").split()
    if not words:
        raise ValueError("empty time")
    # 'tor 3 dec 10:00 (v. 49)', as the bot writes times: the weekday and the week only repeat the date
    if len(words) >= 2 and re.fullmatch(r"\((v\.?|vecka|week)", words[-2]) and re.fullmatch(r"\d{1,2}\)", words[-1]):
        words = words[:-2]
    if len(words) in (4, 5) and words[0].rstrip(".") in _DAYS and words[1].isdecimal():
        words = words[1:]
    if words[0] in _IN:
        try:
            return now + parse_duration(" ".join(words[1:]))
        except OverflowError:
            raise ValueError(f"too far ahead: {text!r}") from None
    if re.match(r"^\d{4}-\d{2}-\d{2}", words[0]):
        try:
            parsed = isoparse("T".join(words[:2]) if len(words) == 2 else words[0])
        except ValueError:
            raise ValueError(f"not a time: {text!r}") from None
        if len(words) > 2:
            raise ValueError(f"not a time: {text!r}")
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        return at_local(parsed.date(), parsed.time(), tz)
    local_today = now.astimezone(tz).date()
    # '3 dec 10:00' (and '3 dec 2026 10:00')
    if len(words) in (3, 4) and words[0].isdecimal() and words[1].rstrip(".") in _MONTHS:
        clock = _clock(words[-1])
        given_year = int(words[2]) if len(words) == 4 and words[2].isdecimal() else None
        if clock is None or (len(words) == 4 and given_year is None):
            raise ValueError(f"not a time: {text!r}")
        try:
            day = date(given_year or local_today.year, _MONTHS[words[1].rstrip(".")], int(words[0]))
            if given_year is None and local_today - day > PASSED_LONG_AGO:
                day = day.replace(year=day.year + 1)
        except ValueError:
            raise ValueError(f"no such day: {text!r}") from None
        return at_local(day, clock, tz)
    clock = _clock(words[-1])
    day_words = " ".join(words[:-1]) if clock else " ".join(words)
    if clock is None:
        raise ValueError(f"not a time: {text!r} (examples: {TIME_EXAMPLES})")
    if not day_words:
        if _bare(words[-1]) and not with_kl:
            raise ValueError(f"a number alone is not a time: {text!r} (write kl {words[-1]} or {words[-1]}:00)")
        instant = at_local(local_today, clock, tz)
        return instant if instant > now else at_local(local_today + timedelta(days=1), clock, tz)
    if day_words in _TODAY:
        return at_local(local_today, clock, tz)
    if day_words in _TOMORROW:
        return at_local(local_today + timedelta(days=1), clock, tz)
    if day_words in _DAYS:
        day = local_today + relativedelta(weekday=_DAYS[day_words])
        instant = at_local(day, clock, tz)
        return instant if instant > now else at_local(day + timedelta(days=7), clock, tz)
    raise ValueError(f"not a time: {text!r} (examples: {TIME_EXAMPLES})")


_CLOCKISH = re.compile(r"^\d{1,2}[:.]\d{1,3}$")
_DATEISH = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")


def looks_like_time(words: list[str]) -> bool:
    """Whether the words start the way a time does ('25:99', 'om -2h', '31 feb 10:00', 'fredag 24:00'),
    so that a time that does not parse is an error to report, never a subject to send on."""
    norm = [normalise(w) for w in words[:3]]
    if not norm:
        return False
    first, second = norm[0], norm[1] if len(norm) > 1 else ""
    if _CLOCKISH.match(first) or _DATEISH.match(first) or first in ("kl", "kl."):
        return True
    if first in _IN:
        return bool(re.match(r"^[-+]?\d", second))
    if first.isdecimal() and second.rstrip(".") in _MONTHS:
        return True
    day = " ".join(norm[:2]) if " ".join(norm[:2]) in _TODAY | _TOMORROW else first
    rest = norm[len(day.split()):]
    return (day in _DAYS or day in _TODAY or day in _TOMORROW) and bool(rest) and bool(
        _CLOCKISH.match(rest[0]) or rest[0].isdecimal())


def time_at_end(words: list[str], now: datetime, tz: ZoneInfo, longest: int = 4
                ) -> tuple[datetime | None, list[str], str | None]:
    """A time at the end of `words` ('snöoväder kl 16:00', 'storm om 2h'): (time, the words before it,
    None); or (None, words, the tail) when the end looks like a time that does not parse ('kl 25:99')."""
    unreadable = None
    for size in range(min(longest, len(words) - 1), 0, -1):
        tail = words[-size:]
        if not looks_like_time(tail):
            continue
        try:
            return parse_when(" ".join(tail), now, tz), words[:-size], None
        except ValueError:
            unreadable = unreadable or " ".join(tail)
    return None, words, unreadable


def split_when(words: list[str], now: datetime, tz: ZoneInfo, longest: int = 6) -> tuple[datetime | None, list[str]]:
    """Read a time from the start of `words` if there is one: (time, the words after it)."""
    for size in range(min(longest, len(words)), 0, -1):
        try:
            return parse_when(" ".join(words[:size]), now, tz), words[size:]
        except ValueError:
            continue
    return None, words
