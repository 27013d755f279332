"""!kalla <forum> [igen] [tid] [ämne…]: convene an (extra) conference now or for a time.

A second convocation of the same forum within `reconvene_within` (a phone that resends, two conveners at
once) rings nobody: it asks for `!kalla <forum> igen`."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.domain.names import normalise
from bot.domain.timeparse import TIME_EXAMPLES, looks_like_time, split_when
from bot.flows.context import Context
from bot.flows.convocation import convene
from bot.flows.errors import BadArgument
from bot.messages import Message, Outgoing
from bot.state import convocations as store
from bot.state import forums as forum_store
from bot.state import repo
from bot.texts.rich import Rich

MAX_SUBJECT = 200
AGAIN = frozenset({"igen", "again"})


@command("kalla", en="convene", args=(Arg("forum", converters.forum), Arg("time_subject", optional=True, rest=True)),
         usage_override={"sv": "<forum> [igen] [tid] [ämne…]", "en": "<forum> [again] [time] [subject…]"})
async def kalla(ctx: Context, forum: Forum, time_subject: str | None) -> list[Outgoing]:
    state = await forum_store.forum_state(ctx.session, forum.id)
    function = await ctx.convener_or_chair(forum, state, "kalla.refused", "convene")
    now = ctx.clock.now()
    words = (time_subject or "").split()
    again = bool(words) and normalise(words[0]) in AGAIN
    if again:
        words = words[1:]
    starts_at, rest = split_when(words, now, ctx.tz)
    if starts_at is None and looks_like_time(words):  # '25:99' is a mistake, never a subject to ring on
        raise BadArgument("kalla.bad_time", time=" ".join(words[:3]), examples=TIME_EXAMPLES)
    if starts_at is not None and starts_at < now:
        raise BadArgument("kalla.past", when=ctx.when(starts_at), examples=TIME_EXAMPLES)
    subject = " ".join(rest) or None
    if subject and len(subject) > MAX_SUBJECT:
        raise BadArgument("error.too_long", arg=ctx.t("arg.subject"), limit=MAX_SUBJECT)
    latest = await store.latest(ctx.session, forum.id)
    window = ctx.directory.settings.bot.reconvene_within
    if not again and latest is not None and now - latest.created_at < window and latest.created_by != ctx.bot_user:
        await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="convene",
                         forum_id=forum.id, allowed=False, event_id=ctx.incoming.event_id,
                         detail={"reason": "convened moments ago", "convocation": latest.id})
        minutes = max(1, int((now - latest.created_at).total_seconds() // 60))
        return [ctx.reply(Rich().text(ctx.t("kalla.recent", forum=forum.name, minutes=minutes,
                                            when=ctx.when(latest.created_at), forum_id=forum.id)))]
    out = await convene(ctx, forum, state, kind="extra", starts_at=starts_at, subject=subject)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="convene",
                     forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"starts_at": (starts_at or now).isoformat(), "subject": subject})
    reached = sum(1 for m in out if isinstance(m, Message) and m.target.startswith("user:") and m.ref)
    done = Rich().text(ctx.t("kalla.done", forum=forum.name, when=ctx.when(starts_at or now), count=reached))
    if subject:  # what was not read as the time, shown back: a wrong reading is seen before anyone acts on it
        done.br().text(ctx.t("kalla.subject", subject=subject))
    return [ctx.reply(done), *out]
