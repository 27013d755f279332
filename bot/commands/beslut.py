"""The meeting log: !beslut, !inriktning, !åtgärd <funktion> <text> [senast <tid>], !info, !ångra.

An entry belongs to the forum's open meeting, or, between meetings, to its current event; with
neither there is nothing to attach it to. Decisions and directions are echoed to the log room.
`!ångra` withdraws the author's last entry; it stays in the log, marked as withdrawn.
"""

from __future__ import annotations

from datetime import datetime

from bot.commands import converters
from bot.commands.context import Context
from bot.commands.convene import rings
from bot.commands.errors import BadArgument, UserError
from bot.commands.mote import member_function, which_forum
from bot.commands.registry import Arg, command
from bot.config import Forum, Function
from bot.domain.names import normalise
from bot.domain.timeparse import TIME_EXAMPLES, parse_when
from bot.messages import Message, Outgoing
from bot.state import forums as forum_store
from bot.state import meetings as store
from bot.state import repo
from bot.state.models import LogEntry
from bot.texts.rich import Rich

MAX_ENTRY = 1000
BY = {"senast", "by", "before"}


async def log(ctx: Context, kind: str, text: str, owner: Function | None = None,
              due: datetime | None = None) -> list[Outgoing]:
    forum = which_forum(ctx, None)
    author = await member_function(ctx, forum, f"log_{kind}")
    state = await forum_store.forum_state(ctx.session, forum.id)
    meeting = await store.open_meeting(ctx.session, forum.id)
    if meeting is None and not state.active:
        raise UserError("log.nowhere", forum=forum.name)
    now = ctx.clock.now()
    entry = await store.add_entry(ctx.session, LogEntry(
        forum_id=forum.id, meeting_id=meeting.id if meeting else None, activation_id=state.activation_id,
        event=state.event, kind=kind, text=text, author=ctx.sender, author_function=author.id, at=now,
        owner_function=owner.id if owner else None, due_at=due))
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=author.id, action=f"log_{kind}",
                     forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"entry": entry.id})
    label = ctx.t(f"log.kind.{kind}")
    out: list[Outgoing] = [ctx.reply(Rich().text(ctx.t("log.noted", kind=label, number=entry.id)))]
    if kind in ("decision", "direction"):
        out += echo(ctx, forum, state.event, label, entry, author)
    return out


def echo(ctx: Context, forum: Forum, event: str | None, label: str, entry: LogEntry,
         author: Function) -> list[Outgoing]:
    """A decision or direction, as made, in the log room."""
    log_room = ctx.directory.settings.bot.log_room
    if not log_room:
        return []
    rich = Rich().bold(f"{label.upper()} #{entry.id}").text(f" — {forum.name}" + (f" ({event})" if event else ""))
    rich.br().text(entry.text).br().text(f"{author.name} ({ctx.sender}), {ctx.when(entry.at)}")
    return [Message(target=log_room, body=rich.plain, html=rich.html)]


@command("beslut", en="decision", args=(Arg("text", rest=True, max_length=MAX_ENTRY),))
async def beslut(ctx: Context, text: str) -> list[Outgoing]:
    return await log(ctx, "decision", text)


@command("inriktning", en="direction", args=(Arg("text", rest=True, max_length=MAX_ENTRY),))
async def inriktning(ctx: Context, text: str) -> list[Outgoing]:
    return await log(ctx, "direction", text)


@command("info", en="information", args=(Arg("text", rest=True, max_length=MAX_ENTRY),))
async def info(ctx: Context, text: str) -> list[Outgoing]:
    return await log(ctx, "info", text)


def parse_action(ctx: Context, text: str) -> tuple[Function, str, datetime | None]:
    """'trv-tlc röj E4 senast 18:00' -> (the function, 'röj E4', 18:00)."""
    words = text.split()
    owner: Function | None = None
    for size in (3, 2, 1):
        if len(words) > size - 1:
            found = ctx.directory.functions.get(" ".join(words[:size]))
            if found is not None:
                owner, words = found, words[size:]
                break
    if owner is None:
        if not words:
            raise BadArgument("error.missing_arg", arg=ctx.t("arg.function"))
        owner, words = converters.function(ctx, words[0]), words[1:]  # unknown: "did you mean"
    due = None
    cut = max((i for i, w in enumerate(words) if normalise(w) in BY), default=None)
    if cut is not None:
        try:
            due = parse_when(" ".join(words[cut + 1:]), ctx.clock.now(), ctx.tz)
        except ValueError:
            raise BadArgument("log.bad_due", examples=TIME_EXAMPLES) from None
        words = words[:cut]
    if not words:
        raise BadArgument("error.missing_arg", arg=ctx.t("arg.text"))
    return owner, " ".join(words), due


@command("åtgärd", en="action", aliases=("atgard",), args=(Arg("action", rest=True, max_length=MAX_ENTRY),),
         usage_override={"sv": "<funktion> <text> [senast <tid>]", "en": "<function> <text> [by <time>]"})
async def atgard(ctx: Context, action: str) -> list[Outgoing]:
    owner, text, due = parse_action(ctx, action)
    return await log(ctx, "action", text, owner, due)


@command("ångra", en="undo", aliases=("angra",))
async def angra(ctx: Context) -> list[Outgoing]:
    forum = which_forum(ctx, None)
    entry = await store.last_entry_by(ctx.session, forum.id, ctx.sender)
    if entry is None:
        raise UserError("log.nothing_to_undo")
    entry.withdrawn_at = ctx.clock.now()
    ctx.session.add(entry)
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="log_withdraw", forum_id=forum.id,
                     event_id=ctx.incoming.event_id, detail={"entry": entry.id})
    label = ctx.t(f"log.kind.{entry.kind}")
    return [ctx.reply(Rich().text(ctx.t("log.withdrawn", kind=label, number=entry.id, text=entry.text[:100])))]


async def remind_action(ctx: Context, action_id: int) -> list[Outgoing]:
    """Before an action is due, its owner function hears about it by direct message."""
    action = await store.get_entry(ctx.session, action_id)
    if action is None or action.reminded_at is not None or action.owner_function is None or action.due_at is None:
        return []
    action.reminded_at = ctx.clock.now()
    ctx.session.add(action)
    owner = ctx.directory.function(action.owner_function)
    rich = Rich().text(ctx.t("action.reminder", number=action.id, function=owner.name, when=ctx.when(action.due_at),
                             text=action.text))
    holders = (await ctx.roster()).holders(owner.id, ctx.clock.now())
    return rings(holders, rich)
