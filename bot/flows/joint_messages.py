"""Joint public messages (gemensamt budskap, seed 000: "formulera gemensamma budskap"): a draft rings the
forum's composition, each organisation stands behind it or objects with a reason, the chair revises
(the round starts again) and fixes the final text, which is pinned in the forum room and sent to the
log room and every home room of the composition. Every version and answer is kept."""

from __future__ import annotations

from bot.domain import joint_message as policy
from bot.domain.forums import ForumState
from bot.domain.model import Forum, Function
from bot.flows.context import Context
from bot.flows.convocation import composition_organisations, current_composition, pings
from bot.flows.errors import UserError
from bot.messages import Message, Outgoing
from bot.state import forums as forum_store
from bot.state import joint_messages as store
from bot.state import meetings as meeting_store
from bot.state.models import JointMessage, LogEntry
from bot.texts.rich import Rich


def ref(message: JointMessage) -> str:
    """What a ✅ on the ping approves: this message, this version."""
    return f"budskap:{message.id}:{message.version}"


async def find(ctx: Context, number: int) -> tuple[JointMessage, Forum, ForumState]:
    message = await store.get(ctx.session, number)
    if message is None:
        raise UserError("message.no_such", number=number)
    forum = ctx.directory.forum(message.forum_id)
    return message, forum, await forum_store.forum_state(ctx.session, forum.id)


def still_open(message: JointMessage) -> None:
    if message.fixed_at is not None:
        raise UserError("message.already_fixed", number=message.id)


async def text_of(ctx: Context, message: JointMessage) -> str:
    versions = await store.versions(ctx.session, message.id or 0)
    return next(v.text for v in versions if v.version == message.version)


async def ask(ctx: Context, forum: Forum, state: ForumState, message: JointMessage, text: str) -> list[Outgoing]:
    """One ping in the forum room that rings every holder of the composition: what, by when, how to answer."""
    roster = await ctx.roster()
    now = ctx.clock.now()
    users = list(dict.fromkeys(u for f in await current_composition(ctx, forum, state) for u in roster.holders(f, now)))
    rich = Rich()
    if state.exercise:
        rich.bold(ctx.t("status.exercise")).text(" ")
    title = "message.ask" if message.version == 1 else "message.ask_revised"
    rich.bold(ctx.t(title, number=message.id, version=message.version)).text(f" — {forum.name}")
    if message.due_at:
        rich.text(" · " + ctx.t("message.due", when=ctx.when(message.due_at)))
    rich.br().text(ctx.t("message.how", number=message.id))
    rich.br().text(f"”{text}”")
    return pings(forum.room, rich, users, ref(message))


async def standing(ctx: Context, forum: Forum, state: ForumState, message: JointMessage) -> policy.Standing:
    answers = [policy.Answer(a.organisation_id, a.version, a.approved, a.reason)
               for a in await store.answers(ctx.session, message.id or 0)]
    return policy.standing(await composition_organisations(ctx, forum, state), answers, message.version)


def standing_text(ctx: Context, message: JointMessage, now: policy.Standing, rich: Rich) -> Rich:
    """'Står bakom: … · Invändningar: … (orsak) · Inte svarat: …'."""
    name = ctx.directory.organisation
    none = ctx.t("message.nobody")
    rich.item().text(ctx.t("message.approved_by", names=", ".join(name(o).name for o in now.approved) or none))
    if now.objected:
        rich.item().text(ctx.t("message.objections", names="; ".join(f"{name(o).name}: {why}"
                                                                     for o, why in now.objected)))
    rich.item().text(ctx.t("message.waiting", names=", ".join(name(o).name for o in now.waiting) or none))
    return rich


async def fix(ctx: Context, forum: Forum, state: ForumState, message: JointMessage,
              function: Function) -> list[Outgoing]:
    """The final text: fixed, in the meeting log (and so the minutes), pinned in the forum room and sent,
    quietly, to the log room and every home room of the composition."""
    now = ctx.clock.now()
    text = await text_of(ctx, message)
    where = await standing(ctx, forum, state, message)
    message.fixed_at, message.fixed_by, message.fixed_function = now, ctx.sender, function.id
    ctx.session.add(message)
    meeting = await meeting_store.open_meeting(ctx.session, forum.id)
    await meeting_store.add_entry(ctx.session, LogEntry(
        forum_id=forum.id, meeting_id=meeting.id if meeting else None, activation_id=message.activation_id,
        event=message.event, kind="message", text=text, author=ctx.sender, author_function=function.id, at=now))
    rich = Rich()
    if state.exercise:
        rich.bold(ctx.t("status.exercise")).text(" ")
    rich.bold(ctx.t("message.fixed_title", number=message.id)).text(
        f" — {forum.name}" + (f" ({message.event})" if message.event else ""))
    rich.br().text(f"”{text}”")
    behind = ", ".join(ctx.directory.organisation(o).name for o in where.approved) or ctx.t("message.nobody")
    rich.br().text(ctx.t("message.fixed_by", function=function.name, when=ctx.when(now), names=behind))
    log_room = ctx.directory.settings.bot.log_room
    homes = [ctx.directory.organisation(o).home_room for o in await composition_organisations(ctx, forum, state)]
    rooms = dict.fromkeys(r for r in [log_room, *homes] if r and r != forum.room)
    return [Message(target=forum.room, body=rich.plain, html=rich.html, pin=True, pin_stays=True),
            *(Message(target=room, body=rich.plain, html=rich.html) for room in rooms)]


async def time_is_up(ctx: Context, message_id: int) -> list[Outgoing]:
    """When the time for answers has passed: the author hears, once, where the message stands."""
    message = await store.get(ctx.session, message_id)
    if message is None or message.fixed_at is not None or message.due_told_at is not None:
        return []
    message.due_told_at = ctx.clock.now()
    ctx.session.add(message)
    forum = ctx.directory.forum(message.forum_id)
    state = await forum_store.forum_state(ctx.session, forum.id)
    rich = Rich().bold(ctx.t("message.time_up", number=message.id)).text(f" — {forum.name}")
    rich.br().text(ctx.t("message.time_up_how", number=message.id))
    standing_text(ctx, message, await standing(ctx, forum, state, message), rich)
    return pings(forum.room, rich, [message.author], ref(message))
