"""!budskap: a joint public message (gemensamt budskap) drafted, answered by each organisation and fixed.

    !budskap <forum> <text> [senast <tid>]   draft; rings the forum's composition
    !budskap ok <nr>                         your organisation stands behind it (✅ on the ping does the same)
    !budskap invänd <nr> <orsak>             your organisation objects, with the reason
    !budskap ändra <nr> <text>               a new version; the round starts again
    !budskap fastställ <nr>                  the final text: pinned, sent to the log and home rooms
    !budskap [nr]                            where one (or every open one) stands
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.commands import converters
from bot.commands.registry import Arg, command, on_reaction
from bot.domain.forums import ForumState
from bot.domain.model import Forum
from bot.domain.names import normalise
from bot.flows import joint_messages as flow
from bot.flows.context import Context
from bot.flows.convocation import answering_for
from bot.flows.errors import BadArgument, NotAllowed, UserError
from bot.flows.meetings import MAX_ENTRY, due_at_end
from bot.messages import Message, Outgoing
from bot.state import forums as forum_store
from bot.state import joint_messages as store
from bot.state import repo
from bot.state.models import JointMessage, JointMessageAnswer
from bot.texts.rich import Rich

APPROVE = {"ok", "godkann", "godkant", "approve", "yes", "ja"}
OBJECT = {"invand", "invandning", "object", "objection"}
REVISE = {"andra", "revidera", "revise"}
FIX = {"faststall", "fix", "publish", "publicera"}
STILL_OPEN = timedelta(days=14)  # in ordinary mode, how long an unfixed message is listed by !budskap


@command("budskap", en="message", aliases=("gemensamt-budskap",),
         args=(Arg("message", optional=True, rest=True, max_length=MAX_ENTRY + 40),),
         usage_override={"sv": "<forum> <text> [senast <tid>] | ok <nr> | invänd <nr> <orsak> | ändra <nr> <text> "
                               "| fastställ <nr> | [nr]",
                         "en": "<forum> <text> [by <time>] | ok <no> | object <no> <reason> | revise <no> <text> "
                               "| fix <no> | [no]"})
async def budskap(ctx: Context, message: str | None) -> list[Outgoing]:
    words = (message or "").split()
    if not words:
        return await open_ones(ctx)
    word = normalise(words[0])
    if word.lstrip("#").isdecimal():
        return await where(ctx, number(words[0]))
    if word in APPROVE | OBJECT | REVISE | FIX:
        if len(words) < 2:
            raise BadArgument("message.bad_number", given="")
        rest = " ".join(words[2:]).strip()
        if word in APPROVE:
            return await answer(ctx, number(words[1]), None, approved=True)
        if word in OBJECT:
            if not rest:
                raise BadArgument("message.reason_missing", number=number(words[1]))
            return await answer(ctx, number(words[1]), None, approved=False, reason=rest)
        if word in REVISE:
            return await revise(ctx, number(words[1]), rest)
        return await fix(ctx, number(words[1]))
    return await draft(ctx, converters.forum(ctx, words[0]), words[1:])


def number(raw: str) -> int:
    digits = raw.lstrip("#")
    if not digits.isdecimal() or len(digits) > 9:
        raise BadArgument("message.bad_number", given=raw[:20])
    return int(digits)


async def draft(ctx: Context, forum: Forum, words: list[str]) -> list[Outgoing]:
    state = await forum_store.forum_state(ctx.session, forum.id)
    author = (await ctx.authority(forum, state)).any
    if author is None:
        raise NotAllowed("message.draft_refused", action="message_draft", forum_id=forum.id, forum=forum.name)
    words, due = due_at_end(ctx, words)
    if not words:
        raise BadArgument("error.missing_arg", arg=ctx.t("arg.text"))
    text = " ".join(words)
    now = ctx.clock.now()
    message = await store.add(ctx.session, JointMessage(
        forum_id=forum.id, activation_id=state.activation_id, event=state.event, author=ctx.sender,
        author_function=author.id, created_at=now, due_at=due), text)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=author.id, action="message_draft",
                     forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"message": message.id})
    reply = Rich().text(ctx.t("message.drafted", number=message.id, forum=forum.name))
    return [ctx.reply(reply), *await flow.ask(ctx, forum, state, message, text)]


async def answer(ctx: Context, number: int, version: int | None, *, approved: bool,
                 reason: str | None = None) -> list[Outgoing]:
    """An organisation's answer to the version asked for now (or, from a ✅, to the version it was put on)."""
    message, forum, state = await flow.find(ctx, number)
    flow.still_open(message)
    function, _ = await answering_for(ctx, forum, state, "message.not_asked", "message_answer", number=number)
    organisation = ctx.directory.organisation(function.organisation).name
    if version is not None and version != message.version:
        raise UserError("message.old_version", number=number, version=version, current=message.version)
    now = ctx.clock.now()
    before = await flow.standing(ctx, forum, state, message)
    if approved and function.organisation in before.approved:
        return [ctx.reply(Rich().text(ctx.t("message.already_approved", organisation=organisation, number=number,
                                             version=message.version)))]
    ctx.session.add(JointMessageAnswer(message_id=number, version=message.version,
                                       organisation_id=function.organisation, function_id=function.id,
                                       user_id=ctx.sender, approved=approved, reason=reason, at=now))
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id,
                     action="message_approve" if approved else "message_object", forum_id=forum.id,
                     event_id=ctx.incoming.event_id, detail={"message": number, "version": message.version,
                                                             "reason": reason})
    key = "message.approved" if approved else "message.objected"
    rich = Rich().text(ctx.t(key, organisation=organisation, number=number, version=message.version,
                             reason=reason or ""))
    others = [o for o in (*before.waiting, *(o for o, _ in before.objected)) if o != function.organisation]
    if approved and not others:
        rich.br().text(ctx.t("message.all_approved", number=number))
    return [ctx.reply(rich)]


async def revise(ctx: Context, number: int, text: str) -> list[Outgoing]:
    message, forum, state = await flow.find(ctx, number)
    flow.still_open(message)
    if message.author != ctx.sender:
        await ctx.convener_or_chair(forum, state, "message.revise_refused", "message_revise")
    if not text:
        raise BadArgument("error.missing_arg", arg=ctx.t("arg.text"))
    now = ctx.clock.now()
    version = await store.revise(ctx.session, message, text, ctx.sender, now)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, action="message_revise", forum_id=forum.id,
                     event_id=ctx.incoming.event_id, detail={"message": number, "version": version})
    reply = Rich().text(ctx.t("message.revised", number=number, version=version))
    return [ctx.reply(reply), *await flow.ask(ctx, forum, state, message, text)]


async def fix(ctx: Context, number: int) -> list[Outgoing]:
    message, forum, state = await flow.find(ctx, number)
    function = await ctx.convener_or_chair(forum, state, "message.fix_refused", "message_fix")
    flow.still_open(message)
    before = await flow.standing(ctx, forum, state, message)
    out = await flow.fix(ctx, forum, state, message, function)
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, function_id=function.id,
                     action="message_fix", forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"message": number, "version": message.version})
    reply = Rich().text(ctx.t("message.fixed", number=number, version=message.version))
    if not before.everyone_approved:
        flow.standing_text(ctx, message, before, reply)
    return [ctx.reply(reply), *out]


async def where(ctx: Context, number: int) -> list[Outgoing]:
    message, forum, state = await flow.find(ctx, number)
    return [ctx.reply(await _where(ctx, message, forum, state))]


async def _where(ctx: Context, message: JointMessage, forum: Forum,
                 state: ForumState) -> Rich:
    rich = Rich().bold(ctx.t("message.title", number=message.id, version=message.version)).text(f" — {forum.name}")
    if message.fixed_at:
        rich.text(" · " + ctx.t("message.fixed_at", when=ctx.when(message.fixed_at)))
    elif message.due_at:
        rich.text(" · " + ctx.t("message.due", when=ctx.when(message.due_at)))
    rich.br().text(f"”{await flow.text_of(ctx, message)}”")
    return flow.standing_text(ctx, message, await flow.standing(ctx, forum, state, message), rich)


async def open_ones(ctx: Context) -> list[Outgoing]:
    """Every joint message not yet fixed of each forum's activation now (or, in ordinary mode, of the last
    fortnight), each with where it stands."""
    rich = Rich()
    for message in await store.not_fixed(ctx.session):
        forum = ctx.directory.forum(message.forum_id)
        state = await forum_store.forum_state(ctx.session, forum.id)
        old = message.activation_id is None and message.created_at < ctx.clock.now() - STILL_OPEN
        if message.activation_id != state.activation_id or old:
            continue  # of an activation that has ended, or long ago
        if rich.plain:
            rich.br()
        rich.extend(await _where(ctx, message, forum, state))
    if not rich.plain:
        rich.text(ctx.t("message.none_open"))
    return [ctx.reply(rich)]


@on_reaction("budskap")
async def approve_by_reaction(ctx: Context, value: str) -> list[Outgoing]:
    """A ✅ on the ping approves the version it was put on; the answer is a quiet notice in the forum room."""
    number_text, _, version_text = value.partition(":")
    replies = await answer(ctx, int(number_text), int(version_text), approved=True)
    return [replace(m, reply_to=None) if isinstance(m, Message) else m for m in replies]
