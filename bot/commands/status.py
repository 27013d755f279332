"""!status [forum]: every forum's level, mode, event, chair and next meeting; one forum in detail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.forums import ForumState
from bot.domain.model import Forum
from bot.domain.schedule import Change, Occurrence, forum_occurrences
from bot.flows.context import Context
from bot.flows.meetings import directions_from_above, when_with_week
from bot.flows.warnings import headline, names_warning
from bot.messages import Outgoing
from bot.state import convocations, meetings, warnings
from bot.state import forums as store
from bot.state.models import WeatherWarning
from bot.texts.rich import Rich

HORIZON = timedelta(days=63)  # a monthly meeting, even after a cancellation


def next_meetings(ctx: Context, forum: Forum, changes: Sequence[Change]) -> list[Occurrence]:
    """The cancelled occurrences before the next meeting that is held, and that meeting."""
    now = ctx.clock.now()
    found: list[Occurrence] = []
    for occurrence in forum_occurrences(forum, now, now + HORIZON, ctx.tz, changes):
        found.append(occurrence)
        if not occurrence.cancelled:
            break
    return found


def forum_line(ctx: Context, forum: Forum, state: ForumState, rich: Rich, changes: Sequence[Change],
               warning: WeatherWarning | None = None) -> None:
    chair = ctx.directory.function(state.chair_function(forum))
    rich.item()
    if state.exercise:
        rich.bold(ctx.t("status.exercise")).text(" ")
    rich.bold(forum.name).text(f" ({ctx.t('status.level.' + forum.level)}) — ")
    if state.active:
        rich.bold(f"{ctx.t('status.mode.activated')}: {state.event}")
        if state.since:
            rich.text(f" {ctx.t('status.since')} {ctx.when(state.since)}")
        if warning is not None:
            rich.indent().text(ctx.t("warnings.from_warning", headline=headline(ctx, warnings.as_item(warning))))
    else:
        rich.text(ctx.t("status.mode.ordinary"))
    rich.indent().text(f"{ctx.t('status.chair')}: {chair.name}; ")
    rich.text(ctx.t("status.composition", count=len(state.composition(forum))) + "; ")
    found = next_meetings(ctx, forum, changes)
    held = [o for o in found if not o.cancelled]
    if held:
        meeting = held[0]
        rich.text(f"{ctx.t('status.next_meeting')}: {meeting.meeting.name} {when_with_week(ctx, meeting.starts_at)}")
        if meeting.moved:
            rich.text(f" ({ctx.t('status.moved', when=when_with_week(ctx, meeting.original))})")
    else:
        rich.text(ctx.t("status.no_meeting"))
    for cancelled in (o for o in found if o.cancelled):
        rich.text(f" ({ctx.t('status.cancelled', when=when_with_week(ctx, cancelled.original))})")


async def details(ctx: Context, forum: Forum, state: ForumState, rich: Rich,
                  warning: WeatherWarning | None = None) -> None:
    """Composition, unanswered requests and the latest activations of one forum (the warning an activation came
    from is named once, on the forum's line, not again as its description)."""
    if state.description and not (warning is not None
                                  and names_warning(ctx, state.description, warnings.as_item(warning))):
        rich.br().text(state.description)
    rich.br().bold(ctx.t("status.members"))
    for function_id in state.composition(forum):
        rich.item().text(ctx.directory.function(function_id).name)
    for function_id in await convocations.added_functions(ctx.session, forum.id, state.activation_id):
        rich.item().text(f"{ctx.directory.function(function_id).name} ({ctx.t('status.added')})")
    await directions_from_above(ctx, forum, state, rich)
    actions = await meetings.open_actions(ctx.session, forum.id)
    if actions:
        rich.br().bold(ctx.t("status.open_actions"))
        for action in actions:
            owner = ctx.directory.function(action.owner_function).name if action.owner_function else "—"
            rich.item().text(f"#{action.id} {owner}: {action.text}")
            if action.due_at:
                rich.text(" — " + ctx.t("minutes.due", when=ctx.when(action.due_at)))
    requests = await store.pending_requests(ctx.session, forum.id)
    if requests:
        rich.br().bold(ctx.t("status.requests"))
        for request in requests:
            rich.item().text(ctx.t("status.requested_by", event=request.event, who=request.requested_by,
                                   when=ctx.when(request.requested_at)))
    past = await store.history(ctx.session, forum.id)
    if past:
        rich.br().bold(ctx.t("status.history"))
        for activation in past:
            rich.item()
            if activation.exercise:
                rich.text(ctx.t("status.exercise") + " ")
            rich.text(f"{ctx.t('status.mode.activated')}: {activation.event} {ctx.when(activation.started_at)}")
            if activation.ended_at:
                rich.text(", " + ctx.t("status.ended", when=ctx.when(activation.ended_at)))


@command("status", en="status", aliases=("läge", "lage"), args=(Arg("forum", converters.forum, optional=True),),
         reads_only=True)
async def status(ctx: Context, forum: Forum | None) -> list[Outgoing]:
    rich = Rich().bold(ctx.t("status.title"))
    changes = await meetings.changes(ctx.session)
    for item in [forum] if forum else ctx.directory.settings.forums:
        state = await store.forum_state(ctx.session, item.id)
        warning = await warnings.of_activation(ctx.session, state.activation_id) if state.active else None
        forum_line(ctx, item, state, rich, changes, warning)
        if forum is not None:
            await details(ctx, item, state, rich, warning)
    return [ctx.reply(rich)]
