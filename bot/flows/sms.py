"""The second channel's service: who is texted when (the ladder), acknowledgement by reply, numbers.

Flows decide that a person is texted and write an `Sms`; only `bot/sms/` knows the gateway. A holder who
has not acknowledged within the convocation's `sms_after` gets one SMS per convocation; a reply `1` from
a registered number acknowledges that person's open summonses of the convocation it answers, as ✅ does.
An SMS never changes a forum's state.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from bot.domain.convocation import Ack, Call, parse_ack
from bot.domain.model import Forum, Function, SmsOptions
from bot.domain.sms import ACK, DECLINE, UNCLEAR, fit, mask, parse_reply
from bot.flows.context import Context
from bot.flows.convocation import (
    ALREADY_CONVENED,
    CONVENED_NOW,
    NO_DEPUTY,
    RECENT,
    acknowledge,
    answered_texted,
    decline,
    decline_messages,
    deputy_outcome,
    open_texted,
    own_answer,
    pending_for,
    signature,
    sms_when,
    text_convened,
)
from bot.flows.errors import UserError
from bot.messages import Outgoing, Sms, SmsIn
from bot.state import convocations as store
from bot.state import repo
from bot.state import sms as sms_store
from bot.state.models import Convocation, SmsCode
from bot.state.vault import Vault

CODE_VALID = timedelta(minutes=15)
CODE_TRIES = 3
CODES_PER_DAY = 3
UNKNOWN_ANSWERED = "sms:unknown:"  # bot_state: an unknown number was answered (once a day)


def settings(ctx: Context) -> SmsOptions | None:
    return ctx.directory.settings.sms


def vault(ctx: Context) -> Vault:
    if ctx.vault is None:
        raise UserError("sms.off")
    return ctx.vault


# ---- the ladder ----


async def text_unanswered(ctx: Context, summons_ids: Sequence[int]) -> list[Outgoing]:
    """The SMS step of the ladder: one SMS to each holder of a due, unanswered summons who has a number."""
    now = ctx.clock.now()
    summonses = await store.by_ids(ctx.session, summons_ids)
    due = [s for s in summonses if s.ack_at is None and s.sms_due_at is not None and s.sms_due_at <= now]
    for summons in summonses:
        summons.sms_due_at = None
        ctx.session.add(summons)
    if not due:
        return []
    convocation = await store.get(ctx.session, due[0].convocation_id)
    if convocation is None:
        return []
    people = list(dict.fromkeys(u for s in due for u in store.holders(s)))
    return await text_convened(ctx, convocation, people)


# ---- acknowledgement by reply ----


async def reply(ctx: Context, incoming: SmsIn) -> list[Outgoing]:
    """A reply to the bot's number, as people write it: `1` (`ok`, `ja`, `kvittera`) acknowledges, `1 kommer
    10:15` with an arrival time, `2` (`nej`) says the person cannot come and the deputy is convened at once;
    `1A` / `2A` name one of several open convocations, a bare one answers the latest. Every answer names the
    forum and the convocations still open. Unknown numbers change nothing, and are audited."""
    now = ctx.clock.now()
    phone = await sms_store.owner(ctx.session, incoming.lookup)
    if phone is None:
        await _audit(ctx, "sms-reply", None, False, incoming, "unknown number")
        key = UNKNOWN_ANSWERED + incoming.lookup
        last = await repo.get_value(ctx.session, key)
        if last is not None and now - datetime.fromisoformat(last) < timedelta(hours=24):
            return []  # answered once today: a number that keeps writing gets no more texts
        await repo.set_value(ctx.session, key, now.isoformat())
        return [_answer(ctx, incoming, None, None, ctx.t("sms.reply.unknown"))]
    user = phone.user_id
    as_them = replace(ctx, incoming=replace(ctx.incoming, sender=user))
    said = parse_reply(incoming.text)
    if said.kind == UNCLEAR:
        await _audit(ctx, "sms-reply", user, False, incoming, "not understood")
        return [_answer(ctx, incoming, user, None, ctx.t("sms.reply.help"))]
    open_ = await open_texted(ctx, incoming.lookup, user)
    # A `2` may also change an acknowledgement (by SMS or ✅) of a convocation that still stands.
    answered = await answered_texted(ctx, incoming.lookup, user) if said.kind == DECLINE else []
    if not open_ and not answered:
        return [await _nothing_open(ctx, incoming, user)]
    choices = [*open_, *answered]  # a bare `2` answers the latest open one, else the latest acknowledged
    chosen = next((item for item in choices if item[1] == said.code), None) if said.code else choices[0]
    if chosen is None:
        asked = f"{1 if said.kind == ACK else 2}{said.code}"
        return [_answer(ctx, incoming, user, None, ctx.t("sms.reply.no_code", code=asked) + _still_open(ctx, open_))]
    convocation, _ = chosen
    assert convocation.id is not None
    forum = ctx.directory.forum(convocation.forum_id)
    others = _still_open(ctx, [item for item in open_ if item is not chosen])
    if said.kind == DECLINE:
        changed = chosen in answered
        pending = [s for s in await store.summonses(ctx.session, convocation.id)
                   if own_answer(s, user)] if changed else \
            [s for s in await pending_for(as_them, None, convocation_id=convocation.id) if s.declined_at is None]
        _, functions, deputies = await decline(as_them, pending, "sms")
        for function in functions:
            await repo.audit(ctx.session, at=now, user_id=user, function_id=function.id, action="decline",
                             forum_id=forum.id, event_id=ctx.incoming.event_id,
                             detail={"channel": "sms", "after_acknowledging": changed})
        told = await decline_messages(as_them, convocation.id, functions, deputies, changed=changed)
        text = await _declined_text(ctx, forum, functions, deputies)
        return [_answer(ctx, incoming, user, forum, text + others), *told]
    pending = [s for s in await pending_for(as_them, None, convocation_id=convocation.id) if s.declined_at is None]
    ack, note = Ack(), ""
    if said.rest and re.search(r"\d", said.rest):  # a time in the comment is the arrival time
        try:
            ack = parse_ack(said.rest, now, ctx.tz)
        except ValueError:
            note = ctx.t("sms.reply.bad_time")
    done = await acknowledge(as_them, pending, ack)
    functions = [f for item in done for f in item.functions]
    for function in functions:
        await repo.audit(ctx.session, at=now, user_id=user, function_id=function.id, action="acknowledge",
                         forum_id=forum.id, event_id=ctx.incoming.event_id,
                         detail={"channel": "sms", "joins_at": ack.joins_at.isoformat() if ack.joins_at else None})
    if ack.joins_at:
        note = ctx.t("sms.reply.joins", when=sms_when(ctx, ack.joins_at))  # the day too, when not today
    text = ctx.t("sms.reply.acked", forum=forum.name, functions=", ".join(f.name for f in functions))
    return [_answer(ctx, incoming, user, forum, text + note + others)]


async def _declined_text(ctx: Context, forum: Forum, functions: Sequence[Function], deputies: Sequence[Call]) -> str:
    """What a `2` did, as it is: the deputies convened now (named), already convened, or none to convene."""
    outcome, which = await deputy_outcome(ctx, functions, deputies)
    short = ", ".join(f.name for f in which)
    return ctx.t("sms.reply.declined", forum=forum.name) + {
        CONVENED_NOW: ctx.t("sms.reply.deputies", deputies=short),
        ALREADY_CONVENED: ctx.t("sms.reply.deputy_already", deputies=short),
        NO_DEPUTY: ctx.t("sms.reply.no_deputy")}[outcome]


def _still_open(ctx: Context, open_: Sequence[tuple[Convocation, str]]) -> str:
    """' Öppen även: Regionalt inriktande forum, svara 1B.' for each convocation still waiting."""
    return "".join(ctx.t("sms.reply.open", forum=ctx.directory.forum(c.forum_id).name, code=code)
                   for c, code in open_)


async def _nothing_open(ctx: Context, incoming: SmsIn, user: str) -> Sms:
    """Nothing waits for this person's answer: the convocation has ended, is answered already, or is old."""
    texted = await sms_store.latest_to(ctx.session, incoming.lookup, "convocation")
    convocation = await store.get(ctx.session, int(texted.ref.partition(":")[2])) if texted and texted.ref else None
    if convocation is None or ctx.clock.now() - convocation.created_at > RECENT:
        await _audit(ctx, "sms-reply", user, False, incoming, "no convocation in the last 24 hours")
        return _answer(ctx, incoming, user, None, ctx.t("sms.reply.stale"))
    forum = ctx.directory.forum(convocation.forum_id)
    if convocation.ended_at is not None:
        await _audit(ctx, "sms-reply", user, False, incoming, f"convocation {convocation.ended_why}")
        return _answer(ctx, incoming, user, forum, ctx.t("sms.reply.ended", forum=forum.name))
    return _answer(ctx, incoming, user, forum, ctx.t("sms.reply.nothing", forum=forum.name))


def _answer(ctx: Context, incoming: SmsIn, user: str | None, forum: Forum | None, text: str) -> Sms:
    """The answer to a reply, signed."""
    return Sms(key=f"reply:{incoming.gateway_id}", kind="reply", number=incoming.number, lookup=incoming.lookup,
               text=fit([text, signature(ctx, forum)], 0), user_id=user)


async def _audit(ctx: Context, action: str, user: str | None, allowed: bool, incoming: SmsIn, reason: str) -> None:
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=user or incoming.masked, action=action,
                     allowed=allowed, event_id=ctx.incoming.event_id, detail={"reason": reason,
                                                                               "number": incoming.masked})


# ---- numbers ----


async def register(ctx: Context, number: str) -> tuple[str, list[Outgoing]]:
    """`!sms +46…`: text a six-digit code to the number; it counts once the code comes back. Returns the
    number masked and the SMS."""
    box = vault(ctx)
    now = ctx.clock.now()
    if await sms_store.count(ctx.session, user_id=ctx.sender, kind="code", since=now - timedelta(days=1)) \
            >= CODES_PER_DAY:
        raise UserError("sms.too_many_codes")
    code = f"{secrets.randbelow(1_000_000):06d}"
    lookup = box.lookup(number)
    sealed = box.seal(number)
    await sms_store.put_code(ctx.session, SmsCode(user_id=ctx.sender, number=sealed, lookup=lookup,
                                                  code=box.lookup(f"{ctx.sender}:{code}"), created_at=now,
                                                  expires_at=now + CODE_VALID))
    text = fit([ctx.t("sms.code", code=code), signature(ctx, None)], 0)
    return mask(number), [Sms(key=f"code:{ctx.incoming.event_id}", kind="code", number=sealed, lookup=lookup,
                              text=text, user_id=ctx.sender)]


async def confirm(ctx: Context, code: str) -> tuple[bool, str]:
    """`!sms kod 123456`: (True, the number masked) once it counts; (False, the answer) for a wrong code,
    which is written down (three wrong codes end the attempt), so it is no error that would roll it back."""
    box = vault(ctx)
    pending = await sms_store.code_of(ctx.session, ctx.sender)
    if pending is None:
        raise UserError("sms.no_code")
    if pending.expires_at <= ctx.clock.now():
        await sms_store.drop_code(ctx.session, ctx.sender)
        return False, ctx.t("sms.expired")
    if box.lookup(f"{ctx.sender}:{code.strip()}") != pending.code:
        pending.tries += 1
        ctx.session.add(pending)
        if pending.tries < CODE_TRIES:
            return False, ctx.t("sms.bad_code", left=CODE_TRIES - pending.tries)
        await sms_store.drop_code(ctx.session, ctx.sender)
        await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="sms-register",
                         allowed=False, event_id=ctx.incoming.event_id, detail={"reason": "wrong code 3 times"})
        return False, ctx.t("sms.too_many_tries")
    await sms_store.set_number(ctx.session, ctx.sender, pending.number, pending.lookup, "self", ctx.clock.now())
    await sms_store.drop_code(ctx.session, ctx.sender)
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="sms-register",
                     event_id=ctx.incoming.event_id)
    return True, mask(box.open(pending.number))


async def shown(ctx: Context) -> str | None:
    """The sender's number, masked; None without one."""
    phone = await sms_store.number_of(ctx.session, ctx.sender)
    return mask(vault(ctx).open(phone.number)) if phone else None


async def remove(ctx: Context) -> bool:
    removed = await sms_store.remove_number(ctx.session, ctx.sender)
    await sms_store.drop_code(ctx.session, ctx.sender)
    if removed:
        await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="sms-remove",
                         event_id=ctx.incoming.event_id)
    return removed


# ---- what the chair sees ----


async def delivery(ctx: Context, convocation_id: int) -> dict[str, str]:
    """Each texted person's SMS for a convocation: 'SMS levererat 03:04', 'SMS kunde inte levereras', …"""
    found: dict[str, str] = {}
    for row in await sms_store.of_ref(ctx.session, f"conv:{convocation_id}"):
        if row.user_id is None:
            continue
        if row.state == sms_store.DELIVERED and row.delivered_at:
            found[row.user_id] = ctx.t("sms.state.delivered", when=f"{row.delivered_at.astimezone(ctx.tz):%H:%M}")
        else:
            found[row.user_id] = ctx.t(f"sms.state.{row.state}")
    return found
