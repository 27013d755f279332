"""Who a convocation reaches, in which order, and when an unanswered function is escalated.

A convocation resolves the forum's composition to the holders on duty at send time. Each
function has `ack_within` (default 5 minutes) to acknowledge. Then it is pinged again and its
deputies are convened (step 1); after another period the chair and the convener get the list
of functions not reached (step 2). Pure: the roster and the times are given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.model import Conference, Function
from bot.domain.names import normalise
from bot.domain.roster import Roster
from bot.domain.timeparse import parse_when

CONVENED, ESCALATED, REPORTED = 0, 1, 2


@dataclass(frozen=True)
class Call:
    """One function to convene and the people who hold it now."""

    function: Function
    holders: tuple[str, ...]
    deputy_for: str | None = None


def ordered(function_ids: Sequence[str], first: Sequence[str]) -> list[str]:
    """Functions without repeats, `first` (the convener's and the chair's) ahead of the rest."""
    unique = list(dict.fromkeys(function_ids))
    return [f for f in unique if f in first] + [f for f in unique if f not in first]


def calls(roster: Roster, function_ids: Sequence[str], at: datetime, first: Sequence[str] = ()) -> list[Call]:
    return [Call(roster.directory.function(f), roster.holders(f, at)) for f in ordered(function_ids, first)]


def deputy_calls(roster: Roster, function_id: str, at: datetime, already: set[str]) -> list[Call]:
    """The deputies of a function not already convened, resolved to their holders."""
    return [Call(d, roster.holders(d.id, at), deputy_for=function_id)
            for d in roster.deputies(function_id) if d.id not in already]


def next_due(convened_at: datetime, ack_within: timedelta, step: int) -> datetime | None:
    """When the step after `step` falls due; None once the chair has been told."""
    return convened_at + ack_within * (step + 1) if step < REPORTED else None


def people(call_list: Sequence[Call]) -> list[str]:
    """Everyone to ping, once each, in call order."""
    return list(dict.fromkeys(user for call in call_list for user in call.holders))


@dataclass(frozen=True)
class Ack:
    """What an acknowledgement says: coming, coming later (`joins_at`), or sending a deputy."""

    joins_at: datetime | None = None
    deputy: bool = False


_LATER = {"kommer", "coming", "joins", "later", "senare"}
_DEPUTY = {"ersattare", "deputy", "ersattaren", "stallforetradare", "substitute"}


def parse_ack(text: str, now: datetime, tz: ZoneInfo) -> Ack:
    """'' | 'kommer 10:15' | 'om 20 min' | 'ersättare' -> Ack; ValueError for anything else."""
    words = normalise(text).split()
    if not words:
        return Ack()
    if len(words) == 1 and words[0] in _DEPUTY:
        return Ack(deputy=True)
    if words[0] in _LATER:
        words = words[1:]
        if len(words) == 1 and words[0].isdecimal():  # 'kommer 10': after 'kommer' a number is the hour
            words = ["kl", words[0]]
    if not words:
        raise ValueError("a time is missing after 'kommer'")
    return Ack(joins_at=parse_when(" ".join(words), now, tz))


def readable_phone(phone: str) -> str:
    """A number as people read it: +46812345678 -> 08-123 456 78 (Stockholm); others as configured."""
    digits = re.sub(r"[^\d+]", "", phone)
    if not digits.startswith("+468") or not 5 <= len(digits) - 4 <= 8:
        return phone
    rest = digits[4:]
    parts, start = [], 0
    for size in {5: (3,), 6: (2, 2), 7: (3, 2), 8: (3, 3)}[len(rest)]:  # the last group is what remains
        parts.append(rest[start:start + size])
        start += size
    return "08-" + " ".join([*parts, rest[start:]])


def dial_in(conference: Conference) -> str | None:
    """A one-tap `tel:` link that also dials the PIN: tel:+46812345678,,4711%23."""
    if not conference.phone:
        return None
    number = re.sub(r"[^\d+]", "", conference.phone)
    return f"tel:{number},,{conference.pin}%23" if conference.pin else f"tel:{number}"
