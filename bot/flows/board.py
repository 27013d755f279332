"""What the crisis room's board shows of a forum, as plain data: its mode and event, who has acknowledged the
latest convocation and who is not reached, the lägesbild coverage, open and overdue actions, and the next
conference. Names and functions only, as the room already shows them; never a phone number."""

from __future__ import annotations

from typing import Any

from bot.domain.convocation import REPORTED
from bot.domain.model import Forum
from bot.flows.context import Context
from bot.flows.lagesbild import event_picture, week_picture
from bot.flows.meetings import upcoming
from bot.flows.voice import delivery as calls
from bot.flows.warnings import headline
from bot.state import convocations, meetings, warnings
from bot.state import forums as forum_store


async def snapshot(ctx: Context, forum: Forum) -> dict[str, Any]:
    state = await forum_store.forum_state(ctx.session, forum.id)
    now = ctx.clock.now()
    data: dict[str, Any] = {
        "forum": forum.id, "name": forum.name, "level": ctx.t(f"status.level.{forum.level}"),
        "active": state.active, "mode": ctx.t("status.mode.activated" if state.active else "status.mode.ordinary"),
        "event": state.event, "since": f"{ctx.t('status.since')} {ctx.when(state.since)}" if state.since else None,
        "exercise": ctx.t("status.exercise") if state.exercise else None, "at": ctx.when(now),
        "labels": {key: ctx.t(f"board.{key}") for key in LABELS}}
    warning = await warnings.of_activation(ctx.session, state.activation_id) if state.active else None
    data["warning"] = headline(ctx, warnings.as_item(warning)) if warning else None
    data["convocation"] = await _convocation(ctx, forum)
    compiled = await (event_picture(ctx, forum, state) if state.active else
                      week_picture(ctx, forum, state, *now.astimezone(ctx.tz).isocalendar()[:2]))
    done, total = compiled.coverage
    data["lagesbild"] = {"done": done, "total": total,
                         "missing": [ctx.directory.organisation(o).name for o in compiled.missing]}
    actions = []
    for action in await meetings.open_actions(ctx.session, forum.id):
        owner = ctx.directory.function(action.owner_function).name if action.owner_function else "—"
        actions.append({"number": action.id, "owner": owner, "text": action.text,
                        "due": ctx.when(action.due_at) if action.due_at else None,
                        "overdue": bool(action.due_at and action.due_at < now), "deviation": action.deviation})
    data["actions"] = actions
    coming = [o for o in await upcoming(ctx, forum) if not o.cancelled]
    data["next"] = {"name": coming[0].meeting.name, "when": ctx.when(coming[0].starts_at)} if coming else None
    return data


LABELS = ("convocation", "acknowledged", "waiting", "not_reached", "lagesbild", "missing", "actions", "overdue",
          "none", "next", "updated", "warning", "deviation")


async def _convocation(ctx: Context, forum: Forum) -> dict[str, Any] | None:
    convocation = await convocations.latest(ctx.session, forum.id)
    if convocation is None or convocation.id is None:
        return None
    people = []
    called = await calls(ctx, convocation.id)
    for summons in await convocations.summonses(ctx.session, convocation.id):
        function = ctx.directory.function(summons.function_id)
        if summons.ack_at is not None:
            state = "acknowledged"
        elif summons.step >= REPORTED or summons.undeliverable or not convocations.holders(summons):
            state = "not_reached"
        else:
            state = "waiting"
        organisation = ctx.directory.organisation(function.organisation).name
        call = next((called[u] for u in ([summons.ack_by] if summons.ack_by else convocations.holders(summons))
                     if u in called), None)
        people.append({"function": function.name, "organisation": organisation, "state": state,
                       "by": summons.ack_by, "at": ctx.when(summons.ack_at) if summons.ack_at else None,
                       "call": call})
    order = {"not_reached": 0, "waiting": 1, "acknowledged": 2}
    people.sort(key=lambda p: (order[str(p["state"])], str(p["function"])))
    return {"title": ctx.t(f"conv.title.{convocation.kind}"), "starts": ctx.when(convocation.starts_at),
            "acknowledged": sum(p["state"] == "acknowledged" for p in people), "total": len(people),
            "people": people}
