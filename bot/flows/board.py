"""What the crisis room's board shows of a forum, as plain data: its mode and event, who has acknowledged the
latest convocation and who is not reached (each function with its organisation, each person by name, their SMS,
the deputy convened, since when they are waited for), the lägesbild coverage, open and overdue actions with their
due times, and the next conference (the activation's own while activated). Names and functions only, as the room
already shows them; never a phone number."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot.domain.convocation import REPORTED
from bot.domain.model import Forum
from bot.flows import sms as sms_flow
from bot.flows.context import Context
from bot.flows.convocation import CONFERENCE_REMIND
from bot.flows.forums import log_notice
from bot.flows.lagesbild import event_picture, week_picture
from bot.flows.meetings import upcoming
from bot.flows.voice import delivery as calls
from bot.flows.warnings import headline
from bot.messages import Outgoing
from bot.state import board as board_store
from bot.state import convocations, meetings, repo, warnings
from bot.state import forums as forum_store
from bot.state.models import Convocation, Summons
from bot.texts.rich import Rich

Names = Callable[[str], Awaitable[str]]  # a Matrix id -> the name people see


async def _localpart(user_id: str) -> str:
    return user_id.removeprefix("@").split(":", 1)[0]


async def snapshot(ctx: Context, forum: Forum, name_of: Names = _localpart) -> dict[str, Any]:
    state = await forum_store.forum_state(ctx.session, forum.id)
    now = ctx.clock.now()
    data: dict[str, Any] = {
        "forum": forum.id, "name": forum.name, "level": ctx.t(f"status.level.{forum.level}"),
        "active": state.active, "mode": ctx.t("status.mode.activated" if state.active else "status.mode.ordinary"),
        "event": state.event, "since": f"{ctx.t('status.since')} {ctx.when(state.since)}" if state.since else None,
        "exercise": ctx.t("status.exercise") if state.exercise else None, "at": ctx.when(now),
        "now": now.isoformat(), "tz": str(ctx.tz), "labels": {key: ctx.t(f"board.{key}") for key in LABELS}}
    warning = await warnings.of_activation(ctx.session, state.activation_id) if state.active else None
    data["warning"] = headline(ctx, warnings.as_item(warning)) if warning else None
    data["convocation"] = await _convocation(ctx, forum, name_of)
    compiled = await (event_picture(ctx, forum, state) if state.active else
                      week_picture(ctx, forum, state, *now.astimezone(ctx.tz).isocalendar()[:2]))
    done, total = compiled.coverage
    data["lagesbild"] = {"done": done, "total": total,
                         "missing": [ctx.directory.organisation(o).name for o in compiled.missing]}
    actions = []
    for action in await meetings.open_actions(ctx.session, forum.id):
        owner = ctx.directory.function(action.owner_function) if action.owner_function else None
        actions.append({"number": action.id, "owner": owner.name if owner else "—",
                        "organisation": ctx.directory.organisation(owner.organisation).name if owner else None,
                        "text": action.text,
                        "due": ctx.when(action.due_at, within_week=True) if action.due_at else None,
                        "overdue": bool(action.due_at and action.due_at < now), "deviation": action.deviation})
    data["actions"] = actions
    data["next"] = await _next(ctx, forum, state.active, state.activation_id)
    return data


LABELS = ("convocation", "acknowledged", "waiting", "not_reached", "lagesbild", "missing", "actions", "overdue",
          "none", "next", "updated", "warning", "deviation", "deputy", "deputy_for", "waited", "due", "holders",
          "no_conference")


async def _next(ctx: Context, forum: Forum, active: bool, activation_id: int | None) -> dict[str, Any] | None:
    """While activated, the activation's next conference (its rhythm's, or the time set at activation), never the
    ordinary meeting; otherwise the next meeting of the plan that is held."""
    now = ctx.clock.now()
    if active:
        later = [c for c in await convocations.of_activations(ctx.session, [activation_id or 0]) if c.starts_at > now]
        if not later:
            return None
        first = min(later, key=lambda c: c.starts_at)
        return {"name": ctx.t("board.conference"), "when": ctx.when(first.starts_at, within_week=True)}
    coming = [o for o in await upcoming(ctx, forum) if not o.cancelled]
    return {"name": coming[0].meeting.name, "when": ctx.when(coming[0].starts_at, within_week=True)} if coming else None


async def _convocation(ctx: Context, forum: Forum, name_of: Names) -> dict[str, Any] | None:
    convocation = await _ringing(ctx, forum)
    if convocation is None or convocation.id is None:
        return None
    summonses = await convocations.summonses(ctx.session, convocation.id)
    texted = await sms_flow.delivery(ctx, convocation.id)
    deputies: dict[str, list[Summons]] = {}
    for summons in summonses:
        if summons.deputy_for:
            deputies.setdefault(summons.deputy_for, []).append(summons)
    people = []
    called = await calls(ctx, convocation.id)
    for summons in summonses:
        function = ctx.directory.function(summons.function_id)
        state = _state(summons)
        holders = [{"name": await name_of(user), "sms": texted.get(user)} for user in convocations.holders(summons)]
        deputy = [{"function": ctx.directory.function(d.function_id).name,
                   "organisation": ctx.directory.organisation(ctx.directory.function(d.function_id).organisation).name,
                   "state": _state(d)} for d in deputies.get(summons.function_id, [])]
        people.append({
            "function": function.name, "organisation": ctx.directory.organisation(function.organisation).name,
            "state": state, "by": await name_of(summons.ack_by) if summons.ack_by else None,
            "at": ctx.when(summons.ack_at, within_week=True) if summons.ack_at else None,
            "holders": holders, "deputies": deputy,
            "deputy_for": ctx.directory.function(summons.deputy_for).name if summons.deputy_for else None,
            "convened_at": summons.convened_at.isoformat() if state != "acknowledged" else None,
            "call": next((called[u] for u in ([summons.ack_by] if summons.ack_by else convocations.holders(summons))
                          if u in called), None)})
    order = {"not_reached": 0, "waiting": 1, "acknowledged": 2}
    people.sort(key=lambda p: (order[str(p["state"])], str(p["organisation"]), str(p["function"])))
    return {"title": ctx.t(f"conv.title.{convocation.kind}"), "starts": ctx.when(convocation.starts_at),
            "acknowledged": sum(p["state"] == "acknowledged" for p in people), "total": len(people),
            "people": people}


async def _ringing(ctx: Context, forum: Forum) -> Convocation | None:
    """The latest convocation that has begun to ring: a conference planned for later (a rhythm's next) does not
    hide who has been reached for the one in hand."""
    now = ctx.clock.now()
    recent = await convocations.since(ctx.session, now - RECENT, forum.id)
    return next((c for c in recent if c.starts_at - CONFERENCE_REMIND <= now), None) or \
        await convocations.latest(ctx.session, forum.id)


RECENT = timedelta(days=7)


def _state(summons: Summons) -> str:
    if summons.ack_at is not None:
        return "acknowledged"
    if summons.step >= REPORTED or summons.undeliverable or not convocations.holders(summons):
        return "not_reached"
    return "waiting"


async def creator_left(ctx: Context, room_id: str, user_id: str, membership: str) -> list[Outgoing]:
    """Someone left a forum's room, was kicked or banned: the links to the forum's board they made are revoked (the
    screens they opened go dark with them, as at `!tavla återkalla`), and the log room is told once, in one
    sentence. Nothing is said when they had made none."""
    now = ctx.clock.now()
    out: list[Outgoing] = []
    for forum in ctx.directory.settings.forums:
        if room_id != ctx.rooms.get(forum.room, forum.room):  # leaving an upgraded room's old place changes nothing
            continue
        made = await board_store.made_by(ctx.session, forum.id, user_id, now)
        if not made:
            continue
        for link in made:
            link.revoked_at, link.revoked_by = now, ctx.sender
            ctx.session.add(link)
        await repo.audit(ctx.session, at=now, user_id=user_id, action="board_revoke_member_left", forum_id=forum.id,
                         detail={"links": [link.id for link in made], "membership": membership})
        key = "board.creator_left.one" if len(made) == 1 else "board.creator_left"
        before, _, after = ctx.t(key, forum=forum.name, count=len(made), who="\0").partition("\0")
        out += log_notice(ctx, Rich().text(before).pill(user_id).text(after))
    return out
