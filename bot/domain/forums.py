"""Forums, their two modes and who may change them: the collaboration model as a state machine.

A forum is in ordinary mode (planned work) or activated for an event (händelse). A holder of a
`may_convene` function activates directly; anyone else who holds a function of the model (a
member of the forum or an actor outside it, seed 000: "en utomstående aktör påkallar") files a
request that a convener confirms or declines. A convener or the forum's chair deactivates.
Pure: no Matrix, no database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from zoneinfo import ZoneInfo

from bot.domain.directory import Directory
from bot.domain.model import Forum, Function
from bot.domain.names import normalise

ORDINARY = "ordinary"
ACTIVATED = "activated"
MAX_EVENT = 100  # characters of event name and description together


@dataclass(frozen=True)
class ForumState:
    forum_id: str
    mode: str = ORDINARY
    event: str | None = None
    description: str | None = None
    since: datetime | None = None
    activated_by: str | None = None
    activated_by_function: str | None = None
    chair: str | None = None  # function id; None means the configured chair
    exercise: bool = False  # exercise mode: everything is marked ÖVNING
    activation_id: int | None = None

    @property
    def active(self) -> bool:
        return self.mode == ACTIVATED

    def chair_function(self, forum: Forum) -> str:
        return self.chair or forum.chair

    def composition(self, forum: Forum) -> tuple[str, ...]:
        """The functions convened in the current mode."""
        if self.active and forum.activated:
            return forum.activated
        return forum.ordinary or forum.members()


@dataclass(frozen=True)
class Authority:
    """What a person may do in one forum, from the functions they hold."""

    convener: Function | None  # a may_convene function they hold
    member: Function | None  # a function of the forum they hold
    chair: Function | None  # the forum's current chair function, if they hold it
    actor: Function | None = None  # any function they hold, in this forum or not

    @property
    def any(self) -> Function | None:
        return self.convener or self.chair or self.member


def authority(held: Sequence[Function], forum: Forum, state: ForumState) -> Authority:
    """From the functions a person holds (listed or standing in for)."""
    convener = next((f for f in held if f.may_convene), None)
    member = next((f for f in held if f.id in forum.members()), None)
    chair = next((f for f in held if f.id == state.chair_function(forum)), None)
    return Authority(convener, member, chair, next(iter(held), None))


class Activation(Enum):
    ACTIVATE = "activate"  # activate now
    REQUEST = "request"  # file a request for a convener to confirm
    ALREADY_ACTIVE = "already_active"  # same event; nothing changes
    NEEDS_NEW = "needs_new"  # active for another event; ask for "ny" to replace it
    REFUSED = "refused"  # holds no function at all


def decide_activation(state: ForumState, who: Authority, event: str, replace: bool) -> Activation:
    if who.convener is None and who.member is None and who.chair is None and who.actor is None:
        return Activation.REFUSED
    if state.active:
        if state.event is not None and same_event(state.event, event):
            return Activation.ALREADY_ACTIVE
        if not replace:
            return Activation.NEEDS_NEW
    return Activation.ACTIVATE if who.convener else Activation.REQUEST


def may_deactivate(who: Authority) -> bool:
    return who.convener is not None or who.chair is not None


def conveners(directory: Directory, forum: Forum) -> list[Function]:
    """Who answers activation requests: the forum's own may_convene functions, else all of them."""
    own = [directory.function(f) for f in forum.members() if directory.function(f).may_convene]
    return own or [f for f in directory.settings.functions if f.may_convene]


def same_event(a: str, b: str) -> bool:
    return normalise(a) == normalise(b)


def split_event(text: str) -> tuple[str, str | None]:
    """'snöoväder klass 3 i norra länet' -> ('snöoväder', 'klass 3 i norra länet')."""
    name, _, description = text.strip().partition(" ")
    return name, description.strip() or None


LEVELS = ("inriktande", "samordnande", "verkställande")
MAX_FORMED_NAME = 40


def formed_id(name: str, taken: set[str]) -> str | None:
    """The id of a forum formed for an event, from the name it is given: 'Vägar' -> 'vagar', and 'vagar-2' when a
    forum formed earlier had that id (a dissolved forum keeps its id in the record). None: no usable name."""
    slug = re.sub(r"[^a-z0-9]+", "-", normalise(name)).strip("-")
    if not slug or len(name) > MAX_FORMED_NAME:
        return None
    found, n = slug, 1
    while found in taken:
        n += 1
        found = f"{slug}-{n}"
    return found


def topic_prefix(state: ForumState, tz: ZoneInfo, labels: dict[str, str]) -> str:
    """What goes in front of the topic people wrote: the mode at a glance, e.g.
    'AKTIVERAT: snöoväder — sedan 21 nov 14:05'; nothing in ordinary mode."""
    exercise = labels["exercise"] + ": " if state.exercise else ""
    if state.active and state.since is not None:
        since = state.since.astimezone(tz)
        month = labels["months"].split()[since.month - 1]
        return f"{exercise}{labels['activated']}: {state.event} — {labels['since']} {since.day} {month} {since:%H:%M}"
    return f"{exercise}{labels['ordinary']}" if state.exercise else ""
