"""!lägesbild [forum] [vecka N | händelse] [fil]: the compiled situation picture; `fil` attaches the full
version as a file (only on request: a file notifies everyone in the room)."""

from __future__ import annotations

from dataclasses import replace

from bot.commands.registry import Arg, command
from bot.domain.names import normalise
from bot.flows.context import Context
from bot.flows.errors import UserError
from bot.flows.lagesbild import current_week, event_picture, picture_file, render, week_picture, week_title
from bot.messages import Outgoing
from bot.state import forums as forum_store

EVENT_WORDS = {"handelse", "event"}


WEEK_WORDS = {"vecka", "v", "v.", "week"}
FILE_WORDS = {"fil", "file"}


@command("lägesbild", en="sitrep", aliases=("lagesbild", "situation"),
         args=(Arg("which", optional=True, rest=True, max_length=100),),
         usage_override={"sv": "[forum] [vecka N | händelse] [fil]", "en": "[forum] [week N | event] [file]"},
         reads_only=True)
async def lagesbild(ctx: Context, which: str | None) -> list[Outgoing]:
    words = (which or "").split()
    as_file = bool(words) and normalise(words[-1]) in FILE_WORDS
    words = words[:-1] if as_file else words
    forum = ctx.directory.forums.get(words[0]) if words else None
    if forum is not None:
        words = words[1:]
    forum = forum or ctx.forum_here()
    if forum is None:
        raise UserError("report.which_forum")
    state = await forum_store.forum_state(ctx.session, forum.id)
    year, week = await current_week(ctx, forum)
    wanted = [normalise(w) for w in words]
    if (wanted and wanted[0] in EVENT_WORDS) or (not wanted and state.active):
        if not state.active:
            raise UserError("report.no_event", forum=forum.name)
        compiled = await event_picture(ctx, forum, state)
        title, name = ctx.t("report.event_title", event=state.event), f"{state.event}"
    else:
        if wanted:
            number = wanted[-1] if wanted[0] in WEEK_WORDS else wanted[0]
            if not number.isdecimal() or not 1 <= int(number) <= 53:
                raise UserError("report.bad_week")
            year, week = (year if int(number) <= week else year - 1), int(number)
        compiled = await week_picture(ctx, forum, state, year, week)
        title, name = week_title(ctx, week), f"{year}-v{week:02d}"
    reply = ctx.reply(render(ctx, forum, title, compiled, short=True))
    if not as_file:
        return [reply]
    full = render(ctx, forum, title, compiled, short=False)
    return [replace(reply, attachment=picture_file(forum, full, title, name))]
