"""SMHI's impact-based weather warnings, as the rules see them: which concern the region, which propose
activating a forum and for what event, and what changed since the last look.

SMHI publishes a list of warnings; each warning has warning areas, each with its own level, time span
and affected areas (counties, sea districts). One item here is one warning area: its key is
(warning id, warning-area id), and it is what a proposal is made for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Literal, Protocol

from bot.domain.model import Strict

LEVELS = ("MESSAGE", "YELLOW", "ORANGE", "RED")
Level = Literal["MESSAGE", "YELLOW", "ORANGE", "RED"]


def rank(level: str) -> int:
    """MESSAGE 0 … RED 3; a level SMHI adds later ranks below all (it never proposes)."""
    return LEVELS.index(level) if level in LEVELS else -1


@dataclass(frozen=True)
class Area:
    id: int
    sv: str
    en: str


@dataclass(frozen=True)
class Text:
    """One of SMHI's descriptions of a warning area, as published (quoted unaltered)."""

    title_sv: str
    title_en: str
    text_sv: str
    text_en: str


@dataclass(frozen=True)
class WarningItem:
    """One warning area of one SMHI warning."""

    warning_id: str
    area_id: str
    event_code: str  # SNOW, WIND_SNOW, WIND, RAIN, FLOODING, …
    event_sv: str
    event_en: str
    level: str
    published: datetime
    starts_at: datetime | None
    ends_at: datetime | None
    areas: tuple[Area, ...]
    texts: tuple[Text, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.warning_id}:{self.area_id}"

    @property
    def span(self) -> tuple[datetime | None, datetime | None]:
        return self.starts_at, self.ends_at


class WarningRule(Strict):
    """SMHI events (codes; none listed: any) at or above `level` (default: the section's) propose activating
    `forum` for `event` (default: the event name of another rule that matches, else SMHI's own name)."""

    events: tuple[str, ...] = ()
    level: Level | None = None
    forum: str
    event: str | None = None


class WarningOptions(Protocol):
    """What the rules read of the `[warnings]` configuration."""

    @property
    def counties(self) -> tuple[int, ...]: ...
    @property
    def sea_districts(self) -> tuple[int, ...]: ...
    @property
    def level(self) -> str: ...
    @property
    def propose(self) -> tuple[WarningRule, ...]: ...


def region_areas(item: WarningItem, options: WarningOptions) -> tuple[Area, ...]:
    """The item's affected areas that are the region's: its counties and the sea districts it watches."""
    ours = set(options.counties) | set(options.sea_districts)
    return tuple(area for area in item.areas if area.id in ours)


def concerns(item: WarningItem, options: WarningOptions) -> bool:
    return bool(region_areas(item, options))


@dataclass(frozen=True)
class Proposal:
    forum_id: str
    event: str


def proposals(item: WarningItem, options: WarningOptions) -> list[Proposal]:
    """The forums to propose activating for this item, once each, with the event name to use."""
    if not concerns(item, options):
        return []
    matching = [rule for rule in options.propose
                if (not rule.events or item.event_code in rule.events)
                and rank(item.level) >= rank(rule.level or options.level)]
    named = next((rule.event for rule in matching if rule.event), None)
    fallback = named or item.event_sv.lower()
    found: dict[str, Proposal] = {}
    for rule in matching:
        found.setdefault(rule.forum, Proposal(rule.forum, rule.event or fallback))
    return list(found.values())


class Change(Enum):
    NEW = "new"  # first seen (at any level)
    RAISED = "raised"  # a higher level than before
    UPDATED = "updated"  # published again, or another time span; same level or lower
    SAME = "same"


@dataclass(frozen=True)
class Seen:
    """What the bot knew of an item before this look."""

    level: str
    published: datetime
    starts_at: datetime | None
    ends_at: datetime | None


def change(before: Seen | None, item: WarningItem) -> Change:
    if before is None:
        return Change.NEW
    if rank(item.level) > rank(before.level):
        return Change.RAISED
    if item.level != before.level or item.published != before.published \
            or item.span != (before.starts_at, before.ends_at):
        return Change.UPDATED
    return Change.SAME


def gone(known: Iterable[str], items: Sequence[WarningItem]) -> list[str]:
    """The keys known before that the list no longer has: cancelled or expired."""
    present = {item.key for item in items}
    return [key for key in known if key not in present]
