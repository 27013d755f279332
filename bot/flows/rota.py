"""Gaps in the duty schedules, found before they matter: a look 14 days ahead tells the organisation's home room
and the regional duty function of each stretch without a holder, or with two on one function, and of each person
the schedule names whom the bot does not know.

What is told is keyed by what it is about, never by when the bot looked: a gap by its function, its kind and its
real start and end in the calendar (or "open" where it goes beyond what the bot has read), a person the bot does
not know by the function and the name. Each is told once, and reminded once within 24 hours before it begins if it
is still there; a restart, a reload or the next hourly look tells nothing again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain import rota
from bot.domain.model import Function
from bot.domain.names import normalise
from bot.domain.rota import NAMELESS, UNKNOWN, Gap
from bot.flows.context import Context
from bot.flows.forums import holders_of
from bot.messages import Message, Outgoing, direct_target
from bot.state import repo
from bot.texts.rich import Rich

LOOK_AHEAD = timedelta(days=14)
REMIND_BEFORE = timedelta(hours=24)
KEEP = timedelta(days=7)  # what was told of a gap is kept this long after it ended
OPEN = "open"
# rota_gap:<function>:<kind>:<start|open>/<end|open> -> {"told": …, "reminded": …}
#   (and "reached": how far an open end was told to reach at least)
# rota_gap:<function>:unknown:<name> and rota_gap:<function>:nameless -> {"told": …, "reminded": …, "last": the end
#   of the last stretch it was seen for; forgotten KEEP after it, so a name back months later is told again}
TOLD = "rota_gap:"
STALE_TOLD = "rota_stale:"  # rota_stale:<function> -> since when the feed has been failing, once told


def gaps_ahead(ctx: Context, function: Function, now: datetime) -> list[Gap]:
    """The gaps in the function's schedule (fed or imported) under way at `now` or beginning within 14 days."""
    schedule = ctx.schedules.get(function.id)
    if schedule is None:
        return []
    return rota.ahead(schedule, now, now + LOOK_AHEAD)


def _day(ctx: Context, instant: datetime) -> str:
    """'fre 25 dec': the day only, for a bound that is not a time in the calendar."""
    return ctx.when(instant).rsplit(" ", 1)[0]


def span(ctx: Context, gap: Gap) -> str:
    """'fre 6 nov 07:00 - fre 6 nov 12:00'; an end past what the bot has read is 'minst till', a start before it
    'fram till' the end."""
    if gap.open_start and gap.open_end:
        return ctx.t("rota.span_open", end=_day(ctx, gap.end))
    if gap.open_start:
        return ctx.t("rota.span_until", end=ctx.when(gap.end))
    if gap.open_end:
        return ctx.t("rota.span_at_least", start=ctx.when(gap.start), end=_day(ctx, gap.end))
    return f"{ctx.when(gap.start)} – {ctx.when(gap.end)}"


def describe(ctx: Context, function: Function, gap: Gap, more: int = 0) -> str:
    """The sentence for a gap, an overlap or a person the bot does not know (`more`: their other stretches)."""
    organisation = ctx.directory.organisation(function.organisation).name
    when = span(ctx, gap) + (" " + ctx.t("rota.more", count=more) if more else "")
    return ctx.t(f"rota.{gap.kind}", function=function.name, organisation=organisation, span=when,
                 who=", ".join(gap.who))


@dataclass(frozen=True)
class Notice:
    """One thing to tell about a function's schedule: a gap or overlap, or a person the bot does not know (with
    the first stretch they are named for and how many more there are ahead)."""

    key: str  # under TOLD and the function
    gap: Gap
    more: int = 0
    last: datetime | None = None  # an unknown name or nameless shifts: the end of the last stretch ahead


def _edge(instant: datetime, open_: bool) -> str:
    return OPEN if open_ else instant.isoformat()


def notices(gaps: Sequence[Gap]) -> list[Notice]:
    """Each gap and overlap once, each unknown name once with all the stretches it is named for, and the shifts
    that name nobody once for the function."""
    found: list[Notice] = []
    grouped: dict[tuple[str, str], list[Gap]] = {}  # (kind, name) -> the stretches
    for gap in gaps:
        if gap.kind == UNKNOWN:
            for name in gap.who:
                grouped.setdefault((UNKNOWN, name), []).append(gap)
        elif gap.kind == NAMELESS:
            grouped.setdefault((NAMELESS, ""), []).append(gap)
        else:
            found.append(Notice(f"{gap.kind}:{_edge(gap.start, gap.open_start)}/{_edge(gap.end, gap.open_end)}",
                                gap))
    for (kind, name), stretches in grouped.items():
        first = stretches[0]
        found.append(Notice(f"{UNKNOWN}:{normalise(name)}" if kind == UNKNOWN else NAMELESS,
                            Gap(kind, first.start, first.end, (name,) if name else (), first.open_start,
                                first.open_end), len(stretches) - 1, max(g.end for g in stretches)))
    return sorted(found, key=lambda n: n.gap.start)


def _told_as(key: str) -> tuple[str, datetime | None, datetime | None] | None:
    """A gap's stored key read back: (kind, start, end), None for an open side; None for an unknown name's."""
    kind, _, edges = key.partition(":")
    if kind == UNKNOWN or "/" not in edges:
        return None
    start, _, end = edges.partition("/")
    return kind, None if start == OPEN else datetime.fromisoformat(start), \
        None if end == OPEN else datetime.fromisoformat(end)


def _earlier(key: str) -> tuple[str, datetime] | None:
    """A key as earlier versions of the bot wrote it, `<kind>:<instant>` (the gap's start, or its end once under
    way): (kind, instant); None for any other key."""
    kind, _, instant = key.partition(":")
    if "/" in instant:
        return None
    try:
        return kind, datetime.fromisoformat(instant)
    except ValueError:
        return None


def _match(notice: Notice, told: dict[str, dict[str, str | bool]]) -> str | None:
    """The key this notice was told under: its own, that of the same gap told when less of it was in view (see
    `rota.same`: a gap that grew is another), or the one an earlier version of the bot wrote for it."""
    if notice.key in told:
        return notice.key
    for key in told:
        read = _told_as(key)
        reached = told[key].get("reached")
        if read is not None and read[0] == notice.gap.kind and rota.same(
                notice.gap, read[1], read[2], datetime.fromisoformat(reached) if isinstance(reached, str) else None):
            return key
        earlier = _earlier(key)
        if earlier is not None and earlier[0] == notice.gap.kind and earlier[1] in (notice.gap.start, notice.gap.end):
            return key
    return None


async def look_ahead(ctx: Context, function_ids: Sequence[str], now: datetime | None = None) -> list[Outgoing]:
    """One look at the schedules (the clock read once): what is new is told, what begins within a day reminded."""
    now = now or ctx.clock.now()
    out: list[Outgoing] = []
    for function_id in function_ids:
        if ctx.directory.functions.get(function_id) is None:
            continue
        function = ctx.directory.function(function_id)
        prefix = f"{TOLD}{function.id}:"
        told = {key: json.loads(value) for key, value in (await repo.values_under(ctx.session, prefix)).items()}
        for notice in notices(gaps_ahead(ctx, function, now)):
            key = _match(notice, told)
            record = told.pop(key) if key is not None else None
            if record is not None and isinstance(record.get("last"), str) \
                    and datetime.fromisoformat(str(record["last"])) < now - KEEP:
                record = None  # a name back after it was forgotten (the bot was down meanwhile): told again
            if key is not None and key != notice.key:  # the same gap, now seen further: kept under its new key
                await repo.delete_value(ctx.session, prefix + key)
            begins = notice.gap.start if not notice.gap.open_start else now
            soon = now < begins <= now + REMIND_BEFORE
            if record is not None and (record["reminded"] or not soon):
                last = notice.last.isoformat() if notice.last is not None else None
                if key != notice.key or record.get("last") != last:
                    await repo.set_value(ctx.session, prefix + notice.key, json.dumps(
                        {**record, "last": last} if last is not None else record))
                continue
            text = describe(ctx, function, notice.gap, notice.more)
            if record is not None:
                text = ctx.t("rota.reminder", text=text)
            out += await _tell(ctx, function, Rich().text(text))
            stored: dict[str, str | bool] = {
                "told": record["told"] if record else now.isoformat(), "reminded": record is not None or soon}
            if notice.gap.open_end:
                stored["reached"] = notice.gap.end.isoformat()  # what was said: "minst till" this
            if notice.last is not None:
                stored["last"] = notice.last.isoformat()
            await repo.set_value(ctx.session, prefix + notice.key, json.dumps(stored))
        for key, record in told.items():  # what is over is forgotten a while after; the rest kept, told once
            read, earlier = _told_as(key), _earlier(key)
            end = read[2] if read is not None else earlier[1] if earlier is not None else None
            if read is None and earlier is None:  # an unknown name or nameless shifts, no longer ahead
                last = record.get("last")
                if not isinstance(last, str):  # kept by an earlier version: its last stretch is not known
                    await repo.set_value(ctx.session, prefix + key, json.dumps({**record, "last": now.isoformat()}))
                    continue
                end = datetime.fromisoformat(last)
            if end is not None and end < now - KEEP:
                await repo.delete_value(ctx.session, prefix + key)
    return out


async def _tell(ctx: Context, function: Function, rich: Rich) -> list[Outgoing]:
    """The organisation's home room, and each holder of the regional duty function by direct message (quietly)."""
    out: list[Outgoing] = []
    home = ctx.directory.organisation(function.organisation).home_room
    if home:
        out.append(Message(target=home, body=rich.plain, html=rich.html))
    duty = ctx.directory.settings.bot.rota_gaps_to
    if duty:
        out += [Message(target=direct_target(user), body=rich.plain, html=rich.html)
                for user in await holders_of(ctx, [duty])]
    return out


async def stale(ctx: Context, function_id: str, since: datetime) -> list[Outgoing]:
    """A schedule feed that has not answered well for a day: its organisation's home room is told once."""
    key = f"{STALE_TOLD}{function_id}"
    if await repo.get_value(ctx.session, key) == since.isoformat():
        return []
    await repo.set_value(ctx.session, key, since.isoformat())
    function = ctx.directory.function(function_id)
    home = ctx.directory.organisation(function.organisation).home_room
    rich = Rich().text(ctx.t("rota.stale", function=function.name, when=ctx.when(since)))
    return [Message(target=home, body=rich.plain, html=rich.html)] if home else []
