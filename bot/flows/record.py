"""The record of an event for the registry (diariet) and the evaluation, seed 000's "efter": what was
activated, who was convened and how fast they acknowledged, who was never reached, the meetings,
decisions, directions and actions with their outcome, and the situation reports by week. One
printable HTML page and the same as JSON, from `!export` or `python -m bot export`."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bot.domain.record import AckFigures, Summoned, ack_figures, duration
from bot.flows.context import Context
from bot.flows.voice import shown as call_shown
from bot.flows.warnings import headline
from bot.messages import Attachment
from bot.state import convocations as conv_store
from bot.state import forums as forum_store
from bot.state import joint_messages as message_store
from bot.state import meetings as meeting_store
from bot.state import reports as report_store
from bot.state import voice as voice_store
from bot.state import warnings as warning_store
from bot.texts.rich import Rich


@dataclass(frozen=True)
class Record:
    event: str
    title: str
    rich: Rich  # the page
    data: dict[str, Any]  # the same for machines

    @property
    def counts(self) -> dict[str, int]:
        """How many activations, convocations and log entries the record holds."""
        return {"activations": len(self.data["activations"]), "convocations": len(self.data["convocations"]),
                "entries": len(self.data["log"])}

    def html(self) -> str:
        return self.rich.page(self.title)

    def json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, indent=2)

    def files(self) -> tuple[Attachment, Attachment]:
        slug = "".join(c if c.isalnum() else "-" for c in self.event.lower())
        return (Attachment(f"dokumentation-{slug}.html", "text/html", self.html()),
                Attachment(f"dokumentation-{slug}.json", "application/json", self.json()))


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant else None


def _figures(figures: AckFigures) -> dict[str, Any]:
    return {"convened": figures.convened, "acknowledged": figures.acknowledged,
            "median_seconds": figures.median.total_seconds() if figures.median else None,
            "worst_seconds": figures.worst.total_seconds() if figures.worst else None,
            "never_reached": list(figures.never)}


async def _warning(ctx: Context, activation_id: int | None, rich: Rich) -> dict[str, Any] | None:
    """The SMHI warning an activation came from, with SMHI's texts as published."""
    row = await warning_store.of_activation(ctx.session, activation_id)
    if row is None:
        return None
    item = warning_store.as_item(row)
    rich.indent().text(ctx.t("warnings.from_warning", headline=headline(ctx, item)))
    return {"id": item.warning_id, "area": item.area_id, "event": item.event_code, "level": item.level,
            "published": _iso(item.published), "starts_at": _iso(item.starts_at), "ends_at": _iso(item.ends_at),
            "source": "SMHI", "texts": [asdict(text) for text in item.texts]}


async def event_record(ctx: Context, event: str) -> Record | None:
    """The record of every activation, of any forum, for `event`; None if there was none."""
    activations = list(await forum_store.activations_of_event(ctx.session, event))
    if not activations:
        return None
    ids = [a.id for a in activations if a.id is not None]
    event = activations[0].event
    directory = ctx.directory
    forum_name = {f.id: f.name for f in (*directory.dissolved.values(), *directory.settings.forums)}
    function_name = {f.id: f.name for f in directory.settings.functions}
    title = ctx.t("record.title", event=event)
    rich = Rich().bold(title).br().text(ctx.t("record.made", when=ctx.when(ctx.clock.now(), year=True)))
    data: dict[str, Any] = {"title": title, "event": event, "made_at": _iso(ctx.clock.now()),
                            "activations": [], "convocations": [], "meetings": [], "log": [], "joint_messages": [],
                            "reports": []}

    rich.br().br().bold(ctx.t("record.activations"))
    for a in activations:
        end = ctx.t("record.ended", when=ctx.when(a.ended_at, year=True)) if a.ended_at else ctx.t("record.ongoing")
        by = function_name.get(a.started_by_function or "", a.started_by)
        rich.item().text(ctx.t("record.activation", forum=forum_name.get(a.forum_id, a.forum_id),
                               start=ctx.when(a.started_at, year=True), by=by, end=end))
        data["activations"].append({"forum": a.forum_id, "started_at": _iso(a.started_at), "started_by": a.started_by,
                                    "started_by_function": a.started_by_function, "ended_at": _iso(a.ended_at),
                                    "ended_by": a.ended_by, "exercise": a.exercise,
                                    "warning": await _warning(ctx, a.id, rich)})

    rich.br().br().bold(ctx.t("record.convocations"))
    everyone: list[Summoned] = []
    convocations = list(await conv_store.of_activations(ctx.session, ids))
    for c in convocations:
        summoned = [Summoned(s.function_id, s.convened_at, s.ack_at)
                    for s in await conv_store.summonses(ctx.session, c.id or 0)]
        everyone += summoned
        figures = ack_figures(summoned)
        forum, when = forum_name.get(c.forum_id, c.forum_id), ctx.when(c.created_at, year=True)
        if figures.median is None or figures.worst is None:
            rich.item().text(ctx.t("record.no_ack", forum=forum, when=when, convened=figures.convened))
        else:
            rich.item().text(ctx.t("record.convocation", forum=forum, when=when, convened=figures.convened,
                                   acknowledged=figures.acknowledged, median=duration(figures.median),
                                   worst=duration(figures.worst)))
        calls = []
        for call in await voice_store.of_convocation(ctx.session, c.id or 0):  # each call, never its number
            rich.indent().text(f"{call.user_id}: {call_shown(ctx, call)}")
            calls.append({"user": call.user_id, "attempt": call.attempt, "state": call.state, "digit": call.digit,
                          "dialled_at": _iso(call.dialled_at), "answered_at": _iso(call.answered_at),
                          "ended_at": _iso(call.ended_at)})
        data["convocations"].append({"forum": c.forum_id, "kind": c.kind, "created_at": _iso(c.created_at),
                                     "starts_at": _iso(c.starts_at), **_figures(figures), "calls": calls})
    overall = ack_figures(everyone)
    data["acknowledgement"] = _figures(overall)
    if overall.never:
        rich.br().text(ctx.t("record.never", functions=", ".join(function_name.get(f, f) for f in overall.never)))
    elif everyone:
        rich.br().text(ctx.t("record.everyone_reached"))

    rich.br().br().bold(ctx.t("record.meetings"))
    meetings = list(await meeting_store.of_activations(ctx.session, ids))
    for m in meetings:
        rich.item().text(ctx.t("record.meeting", name=m.name, forum=forum_name.get(m.forum_id, m.forum_id),
                               when=ctx.when(m.opened_at or m.starts_at, year=True)))
        data["meetings"].append({"forum": m.forum_id, "name": m.name, "starts_at": _iso(m.starts_at),
                                 "opened_at": _iso(m.opened_at), "ended_at": _iso(m.ended_at), "status": m.status})
    if not meetings:
        rich.item().text(ctx.t("record.none"))

    rich.br().br().bold(ctx.t("record.log"))
    entries = list(await meeting_store.entries_of_activations(ctx.session, ids))
    returned: dict[int, list[str]] = defaultdict(list)
    for row in await meeting_store.returns(ctx.session, [e.id or 0 for e in entries if e.kind == "direction"]):
        returned[row.entry_id].append(row.organisation_id)
    for e in entries:
        outcome = ""
        if e.withdrawn_at:
            outcome = ctx.t("record.withdrawn", when=ctx.when(e.withdrawn_at, year=True))
        elif e.kind == "direction" and returned[e.id or 0]:
            outcome = ctx.t("record.returned", names=", ".join(ctx.directory.organisation(o).name
                                                               for o in returned[e.id or 0]))
        elif e.kind == "action":
            outcome = ctx.t("record.done", when=ctx.when(e.done_at, year=True)) if e.done_at else ctx.t("record.open")
            if e.deviation and e.deviation_at:
                outcome += "; " + ctx.t("record.deviation", when=ctx.when(e.deviation_at, year=True), text=e.deviation)
        who = function_name.get(e.author_function or "", e.author)
        rich.item().text(ctx.t("record.entry", when=ctx.when(e.at, year=True), kind=ctx.t(f"log.kind.{e.kind}"),
                               text=e.text, who=who) + (f" — {outcome}" if outcome else ""))
        data["log"].append({"id": e.id, "forum": e.forum_id, "kind": e.kind, "text": e.text, "at": _iso(e.at),
                            "author": e.author, "author_function": e.author_function,
                            "owner_function": e.owner_function, "due_at": _iso(e.due_at), "done_at": _iso(e.done_at),
                            "withdrawn_at": _iso(e.withdrawn_at), "chased_at": _iso(e.chased_at),
                            "deviation": e.deviation, "deviation_at": _iso(e.deviation_at),
                            "returned_by": returned[e.id or 0] if e.kind == "direction" else None})
    if not entries:
        rich.item().text(ctx.t("record.none"))

    await _joint_messages(ctx, ids, rich, data)

    rich.br().br().bold(ctx.t("record.reports"))
    reports = list(await report_store.of_activations(ctx.session, ids))
    reporting: dict[tuple[int, int, str], set[str]] = defaultdict(set)  # (year, week, forum) -> organisations
    for r in reports:
        reporting[(r.year, r.week, r.forum_id)].add(r.organisation_id)
    for (year, week, forum_id), organisations in sorted(reporting.items()):
        rich.item().text(ctx.t("record.report_week", forum=forum_name.get(forum_id, forum_id), week=week,
                               count=len(organisations)))
        data["reports"].append({"forum": forum_id, "year": year, "week": week,
                                "organisations": sorted(organisations)})
    if not reporting:
        rich.item().text(ctx.t("record.none"))
    return Record(event, title, rich, data)


async def _joint_messages(ctx: Context, activation_ids: list[int], rich: Rich, data: dict[str, Any]) -> None:
    """Each joint message with every version and every organisation's answer to it."""
    rich.br().br().bold(ctx.t("record.messages"))
    messages = list(await message_store.of_activations(ctx.session, activation_ids))
    for m in messages:
        forum = ctx.directory.forum(m.forum_id).name
        state = (ctx.t("record.message_fixed", when=ctx.when(m.fixed_at, year=True), version=m.version)
                 if m.fixed_at else ctx.t("record.message_open"))
        rich.item().text(ctx.t("record.message", number=m.id, forum=forum, state=state))
        answers = list(await message_store.answers(ctx.session, m.id or 0))
        versions = []
        for v in await message_store.versions(ctx.session, m.id or 0):
            rich.indent().text(ctx.t("record.message_version", version=v.version, when=ctx.when(v.at, year=True),
                                     text=v.text))
            given = [a for a in answers if a.version == v.version]
            for a in given:
                answer = (ctx.t("record.message_ok") if a.approved
                          else ctx.t("record.message_objection", reason=a.reason or ""))
                rich.indent().text("   " + ctx.t("record.message_answer",
                                                 organisation=ctx.directory.organisation(a.organisation_id).name,
                                                 answer=answer, when=ctx.when(a.at, year=True)))
            versions.append({"version": v.version, "text": v.text, "at": _iso(v.at), "author": v.author,
                             "answers": [{"organisation": a.organisation_id, "function": a.function_id,
                                          "user": a.user_id, "approved": a.approved, "reason": a.reason,
                                          "at": _iso(a.at)} for a in given]})
        data["joint_messages"].append({"id": m.id, "forum": m.forum_id, "created_at": _iso(m.created_at),
                                       "author": m.author, "due_at": _iso(m.due_at), "fixed_at": _iso(m.fixed_at),
                                       "fixed_by": m.fixed_by, "fixed_version": m.version if m.fixed_at else None,
                                       "versions": versions})
    if not messages:
        rich.item().text(ctx.t("record.none"))
