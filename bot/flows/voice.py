"""The voice channel's service: who is rung when, and what a call's end means for the convocation.

Flows decide that a person is called and write the call row in the same transaction as the decision; only
`bot/voice/` knows the SIP user agent. A holder who has not acknowledged within the convocation's
`call_after` is rung (one call per person and convocation, another after two minutes if it was not
answered). The keys: 1 acknowledges as ✅ does, 2 acknowledges and connects to the conference, 9 declines
(the chair is told and the deputy convened at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.domain import convocation as policy
from bot.domain import voice as rules
from bot.domain.convocation import Ack, Call
from bot.domain.model import Forum
from bot.domain.voice import Spoken
from bot.flows.context import Context
from bot.flows.convocation import (
    acknowledge,
    decline,
    decline_messages,
    direct_messages,
    escalation_ping,
    pending_for,
    ref,
    tell_chair,
    text_convened,
)
from bot.messages import Message, Outgoing, on_matrix
from bot.state import convocations as store
from bot.state import forums as forum_store
from bot.state import repo
from bot.state import sms as sms_store
from bot.state import voice as voice_store
from bot.state.models import Convocation, VoiceCall
from bot.texts.rich import Rich


def key(convocation_id: int, user: str, attempt: int) -> str:
    return f"conv:{convocation_id}:{user}:{attempt}"


# ---- the ladder ----


async def call_unanswered(ctx: Context, summons_ids: Sequence[int]) -> list[Outgoing]:
    """The call step of the ladder: a call row for each holder of a due, unanswered summons who has a number
    (one per person and convocation). Nothing is dialled here; the voice adapter dials the rows."""
    now = ctx.clock.now()
    summonses = await store.by_ids(ctx.session, summons_ids)
    due = [s for s in summonses if s.ack_at is None and s.call_due_at is not None and s.call_due_at <= now]
    for summons in summonses:
        summons.call_due_at = None
        ctx.session.add(summons)
    if not due or ctx.directory.settings.voice is None:
        return []
    convocation_id = due[0].convocation_id
    people = list(dict.fromkeys(u for s in due for u in store.holders(s)))
    numbers = await sms_store.numbers_of(ctx.session, people)
    keys = {user: key(convocation_id, user, 1) for user in people if user in numbers}
    called = await voice_store.existing(ctx.session, list(keys.values()))
    for user, row_key in keys.items():
        if row_key not in called:
            ctx.session.add(VoiceCall(key=row_key, convocation_id=convocation_id, user_id=user,
                                      number=numbers[user].number, attempt=1, created_at=now, not_before=now))
    return []


# ---- how a call ended ----


@dataclass
class Answer:
    """What the voice adapter does with a call once the flow has recorded a key: hang up, or transfer."""

    transfer_to: str | None = None
    done: list[str] = field(default_factory=list)


async def ended(ctx: Context, call_id: int, state: str, digit: str | None = None, error: str | None = None,
                answer: Answer | None = None) -> list[Outgoing]:
    """A call has ended (or a key was pressed): recorded once, then what follows: acknowledged (1, 2),
    declined (9: chair told, deputy convened), tried again after two minutes (no answer, busy; once), or the
    deputy convened (no answer twice)."""
    now = ctx.clock.now()
    row = await voice_store.end(ctx.session, call_id, state, now, digit=digit, error=error)
    if row is None:
        return []
    convocation = await store.get(ctx.session, row.convocation_id)
    if convocation is None:
        return []
    forum = ctx.directory.forum(convocation.forum_id)
    after = rules.after_call(state, row.attempt, now)
    as_them = replace(ctx, incoming=replace(ctx.incoming, sender=row.user_id))
    out: list[Outgoing] = []
    await repo.audit(ctx.session, at=now, user_id=row.user_id, action="call", forum_id=forum.id,
                     event_id=ctx.incoming.event_id,
                     detail={"call": call_id, "attempt": row.attempt, "state": state, "digit": digit})
    if after.acknowledged:
        pending = await pending_for(as_them, None, convocation_id=convocation.id)
        done = await acknowledge(as_them, pending, Ack())
        functions = [f for item in done for f in item.functions]
        for function in functions:
            await repo.audit(ctx.session, at=now, user_id=row.user_id, function_id=function.id, action="acknowledge",
                             forum_id=forum.id, event_id=ctx.incoming.event_id,
                             detail={"channel": "voice", "digit": digit})
        if functions:
            rich = Rich().text(ctx.t("voice.acked_room", functions=", ".join(f.name for f in functions),
                                     digit=digit or "1")).text(" ").pill(row.user_id)
            out.append(Message(target=forum.room, body=rich.plain, html=rich.html))
        if answer is not None and state == rules.JOINED:
            answer.transfer_to = conference_address(ctx, forum)
    if after.retry_at is not None:
        ctx.session.add(VoiceCall(key=key(row.convocation_id, row.user_id, row.attempt + 1),
                                  convocation_id=row.convocation_id, user_id=row.user_id, number=row.number,
                                  attempt=row.attempt + 1, created_at=now, not_before=after.retry_at))
    if state == rules.DECLINED:  # key 9: as `2` by SMS
        pending = await pending_for(as_them, None, convocation_id=convocation.id)
        if pending and convocation.id is not None:
            _, functions, deputies = await decline(as_them, pending, "voice")
            out += await decline_messages(as_them, convocation.id, functions, deputies, channel="voice")
    elif after.deputy:
        out += await _deputies(ctx, forum, convocation, row, "unanswered")
    return out


async def unreached(ctx: Context, call_id: int) -> list[Outgoing]:
    """The trunk has taken none of the person's calls for as long as the ladder gives two calls: they count as
    not reached, as if the calls had gone unanswered (the chair is told, the deputy convened). The call itself
    waits and is dialled when the trunk takes calls again."""
    row = await voice_store.get(ctx.session, call_id)
    if row is None or row.state in rules.ENDS:
        return []
    convocation = await store.get(ctx.session, row.convocation_id)
    if convocation is None:
        return []
    summonses = await store.summonses(ctx.session, row.convocation_id)
    if not any(s.ack_at is None and row.user_id in store.holders(s) for s in summonses):
        return []
    forum = ctx.directory.forum(convocation.forum_id)
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=row.user_id, action="call", forum_id=forum.id,
                     event_id=ctx.incoming.event_id,
                     detail={"call": call_id, "attempt": row.attempt, "state": "unreached"})
    return await _deputies(ctx, forum, convocation, row, "unreached")


def conference_address(ctx: Context, forum: Forum) -> str | None:
    """Where key 2 connects: the bridge's SIP address, or its number through the trunk."""
    voice = ctx.directory.settings.voice
    if forum.conference.sip:
        return forum.conference.sip
    if forum.conference.phone and voice is not None:
        return f"sip:{forum.conference.phone}@{voice.domain}"
    return None


async def _deputies(ctx: Context, forum: Forum, convocation: Convocation, row: VoiceCall,
                    why: str) -> list[Outgoing]:
    """Convene at once the deputies of the functions `row`'s person holds in the convocation, and tell the
    chair `why`: unanswered (two calls), unreached (the trunk took no call)."""
    assert convocation.id is not None
    now = ctx.clock.now()
    roster = await ctx.roster()
    state = await forum_store.forum_state(ctx.session, forum.id)
    summonses = await store.summonses(ctx.session, convocation.id)
    theirs = [s for s in summonses if s.ack_at is None and row.user_id in store.holders(s)]
    convened = {s.function_id for s in summonses}
    deputies: list[Call] = []
    for summons in theirs:
        found = policy.deputy_calls(roster, summons.function_id, now, convened)
        convened |= {d.function.id for d in found}
        deputies += found
    sms_due = now if convocation.sms_after is not None else None
    call_due = now if convocation.call_after is not None else None
    for call in deputies:
        await store.summon(ctx.session, convocation.id, call.function.id, call.holders, now, due_at=None,
                           deputy_for=call.deputy_for, sms_due_at=sms_due if call.holders else None,
                           call_due_at=call_due if call.holders else None)
    functions = ", ".join(ctx.directory.function(s.function_id).name for s in theirs)
    text = ctx.t(f"voice.{why}", functions=functions,
                 deputies=", ".join(c.function.name for c in deputies) or ctx.t("voice.no_deputy"))
    out = await tell_chair(ctx, forum, state, text, ref(convocation))
    if deputies:
        again = [Call(ctx.directory.function(s.function_id), tuple(store.holders(s))) for s in theirs]
        out += escalation_ping(ctx, forum, state, convocation, again, deputies)
        out += await direct_messages(ctx, forum, state, convocation, deputies)
        out += await text_convened(ctx, convocation, [u for u in policy.people(deputies) if not on_matrix(u)])
    return out



# ---- what is said ----


def spoken(ctx: Context, convocation: Convocation) -> Spoken:
    forum = ctx.directory.forum(convocation.forum_id)
    starts = convocation.starts_at.astimezone(ctx.tz)
    days_ahead = (starts.date() - ctx.clock.now().astimezone(ctx.tz).date()).days
    event = convocation.event if convocation.mode == "activated" else None
    words = {name: ctx.t(f"voice.say.{name}") for name in ("today", "tomorrow", "date", "weekdays", "months")}
    return Spoken(exercise=convocation.exercise, event=event, forum=forum.name,
                  when=rules.spoken_time(starts, days_ahead, words), joins=conference_address(ctx, forum) is not None)


def script(ctx: Context, convocation: Convocation) -> str:
    """The words of this convocation's call, said twice."""
    words = {name: ctx.t(f"voice.say.{name}") for name in
             ("exercise", "activated", "convened", "when", "keys", "keys_join", "again")}
    return rules.script(spoken(ctx, convocation), words)


async def scripts(ctx: Context, convocation_ids: Sequence[int]) -> dict[int, str]:
    """The words of each convocation's call (the adapter renders each once)."""
    found: dict[int, str] = {}
    for convocation_id in convocation_ids:
        convocation = await store.get(ctx.session, convocation_id)
        if convocation is not None:
            found[convocation_id] = script(ctx, convocation)
    return found


# ---- what the chair sees ----


def shown(ctx: Context, row: VoiceCall) -> str:
    """'samtal: inget svar 03:07', 'samtal: kvitterat 03:08 (tryck 1)', 'samtal: ringer'."""
    at: datetime | None = row.ended_at or row.answered_at or row.dialled_at
    when = f" {at.astimezone(ctx.tz):%H:%M}" if at else ""
    key_pressed = f" ({ctx.t('voice.key', digit=row.digit)})" if row.digit else ""
    return ctx.t("voice.shown", state=ctx.t(f"voice.state.{row.state}") + when + key_pressed)


async def delivery(ctx: Context, convocation_id: int) -> dict[str, str]:
    """Each called person's latest call for a convocation, as the chair reads it."""
    found: dict[str, str] = {}
    for row in await voice_store.of_convocation(ctx.session, convocation_id):
        found[row.user_id] = shown(ctx, row)
    return found
