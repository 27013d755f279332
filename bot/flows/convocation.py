"""The convocation machinery: convene a forum's functions, acknowledge, escalate, report.

Used by activation, `!kalla`, `!kalla-in` and (later) scheduled meetings. A convocation is
one ping in the forum room that mentions every holder, so everyone's phone rings from a
single event, plus one direct message per holder with the dial-in and how to acknowledge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain import convocation as policy
from bot.domain.convocation import Ack, Call
from bot.domain.forums import ForumState, conveners
from bot.domain.model import MEETING_KINDS, Forum, Function
from bot.domain.sms import fit
from bot.flows.context import Context
from bot.flows.errors import NotAllowed
from bot.messages import PRIORITY_DIRECT, PRIORITY_PING, Message, Outgoing, Sms, direct_target, on_matrix
from bot.ops import metrics
from bot.state import convocations as store
from bot.state import forums as forum_store
from bot.state import repo
from bot.state import sms as sms_store
from bot.state import voice as voice_store
from bot.state.models import Convocation, Summons
from bot.texts.rich import Rich

RECENT = timedelta(hours=24)  # how long a convocation can still be acknowledged
CONFERENCE_REMIND = timedelta(minutes=15)  # before a conference called for later, the dial-in rings again


def ref(convocation: Convocation) -> str:
    return f"conv:{convocation.id}"


def headline(ctx: Context, forum: Forum, state: ForumState) -> Rich:
    """'ÖVNING AKTIVERAT: Regionalt samordnande forum — snöoväder' or the forum in ordinary mode."""
    rich = Rich()
    if state.exercise:
        rich.bold(ctx.t("status.exercise")).text(" ")
    if state.active:
        return rich.bold(f"{ctx.t('status.mode.activated')}: {forum.name}").text(f" — {state.event}")
    return rich.bold(forum.name).text(f" — {ctx.t('status.mode.ordinary')}")


def notification(ctx: Context, forum: Forum, state: ForumState, convocation: Convocation, *, direct: bool = False,
                 reminder: bool = False) -> Rich:
    """The two lines a lock screen shows: what and when, then how to join and how to acknowledge.

    'AKTIVERAT snöoväder — Regionalt samordnande forum · konferens 03:15' (the day too when not today)
    '📞 Ring 08-123 456 78, PIN 4711 · kvittera med ✅'
    """
    rich = Rich()
    if reminder:
        rich.bold(ctx.t("conv.reminder")).text(" ")
    if convocation.exercise:
        rich.bold(ctx.t("status.exercise")).text(" ")
    if convocation.mode == "activated" and convocation.event:
        rich.bold(f"{ctx.t('status.mode.activated')} {convocation.event}").text(f" — {forum.name}")
    else:
        rich.bold(forum.name)
    starts = convocation.starts_at.astimezone(ctx.tz)
    today = starts.date() == ctx.clock.now().astimezone(ctx.tz).date()
    rich.text(" · " + ctx.t("conv.when", when=f"{starts:%H:%M}" if today else ctx.when(starts)))
    return rich.br().extend(join_line(ctx, forum, ctx.t("conv.ack_short_dm" if direct else "conv.ack_short")))


def join_line(ctx: Context, forum: Forum, then: str | None = None) -> Rich:
    """'📞 Ring 08-123 456 78, PIN 4711' (one tap dials the PIN too), or the video link; then `then`."""
    rich = Rich()
    tel = policy.dial_in(forum.conference)
    if tel and forum.conference.phone:
        pin = f", PIN {forum.conference.pin}" if forum.conference.pin else ""
        rich.text("📞 ").link(tel, ctx.t("conv.call", number=policy.readable_phone(forum.conference.phone)) + pin)
    elif forum.conference.url:
        rich.text("🎥 ").link(forum.conference.url, forum.conference.url)
    if then:
        rich.text(" · " if rich.plain else "").text(then)
    return rich


def details(ctx: Context, forum: Forum, convocation: Convocation, rich: Rich) -> Rich:
    """Subject, agenda and video, after the two lines of the notification."""
    if convocation.subject:
        rich.br().text(ctx.t("conv.subject", subject=convocation.subject))
    rich.br().text(ctx.t("conv.agenda", agenda=agenda(ctx, convocation.mode, convocation.kind)))
    if forum.conference.url and forum.conference.phone:
        rich.br().text("🎥 ").link(forum.conference.url, forum.conference.url)
    return rich


def agenda(ctx: Context, mode: str, kind: str) -> str:
    """The agenda of an activated conference, or of the kind of meeting (an older row's 'meeting' is weekly)."""
    if mode == "activated":
        return ctx.t("agenda.activated")
    return ctx.t(f"agenda.{kind if kind in MEETING_KINDS else 'veckomöte'}")


MENTIONS_PER_MESSAGE = 150  # keeps each ping well under Matrix's 64 KiB event limit


def pings(target: str, rich: Rich, users: Sequence[str], about: str | None) -> list[Outgoing]:
    """`rich` and a pill for each user: one ping, or several when the list is long."""
    out: list[Outgoing] = []
    for start in range(0, max(len(users), 1), MENTIONS_PER_MESSAGE):
        chunk = users[start:start + MENTIONS_PER_MESSAGE]
        message = Rich().extend(rich) if start == 0 else Rich().text("… ")
        if start == 0 and chunk:
            message.br()
        for i, user in enumerate(chunk):
            message.text(", " if i else "").pill(user)
        out.append(Message(target=target, body=message.plain, html=message.html, ping=True, mentions=tuple(chunk),
                           priority=PRIORITY_PING, ref=about))
    return out


def rings(users: Sequence[str], rich: Rich, about: str | None = None) -> list[Outgoing]:
    """The same words to each person by direct message, as `m.text` that rings their phone."""
    return [Message(target=direct_target(u), body=rich.plain, html=rich.html, ping=True, mentions=(u,),
                    priority=PRIORITY_DIRECT, ref=about) for u in users]


async def current_composition(ctx: Context, forum: Forum, state: ForumState) -> list[str]:
    """The functions of the forum's composition in its mode now, with those called in (adapted)."""
    added = await store.added_functions(ctx.session, forum.id, state.activation_id)
    return list(dict.fromkeys([*state.composition(forum), *added]))


async def composition_organisations(ctx: Context, forum: Forum, state: ForumState) -> list[str]:
    """The organisations of the forum's composition now, in order: those asked to answer for themselves."""
    functions = await current_composition(ctx, forum, state)
    return list(dict.fromkeys(ctx.directory.function(f).organisation for f in functions))


async def answering_for(ctx: Context, forum: Forum, state: ForumState, refusal: str, action: str,
                        **values: object) -> tuple[Function, list[str]]:
    """The sender's function in an organisation of the forum's composition (the one they answer for, seed 000:
    each actor decides for itself), and the composition's organisations; refused and audited without one."""
    asked = await composition_organisations(ctx, forum, state)
    function = next((f for f in await ctx.held() if f.organisation in asked), None)
    if function is None:
        raise NotAllowed(refusal, action=action, forum_id=forum.id, forum=forum.name, **values)
    return function, asked


async def convene(ctx: Context, forum: Forum, state: ForumState, *, kind: str, starts_at: datetime | None = None,
                  subject: str | None = None, function_ids: Sequence[str] | None = None,
                  into: Convocation | None = None, added: bool = False,
                  intro: Rich | None = None, escalate: bool = True, rings_at: datetime | None = None,
                  meeting_sms_after: timedelta | None = None,
                  meeting_call_after: timedelta | None = None, planned: bool = False) -> list[Outgoing]:
    """Convene the forum's composition (or `function_ids`) now; `into` adds to an existing convocation.

    Without `escalate` (a weekly meeting convened a day ahead) nobody is escalated; a reminder
    before the meeting takes that role, and the escalations of a convocation in hand go on.
    `rings_at`: planned quietly, the phones ring only then, and the time to acknowledge counts from it.
    Unacknowledged after `sms_wait` (a planned meeting's own `meeting_sms_after`), a holder gets one SMS;
    after `call_wait` (`meeting_call_after`), a voice call; a `planned` meeting is rung only if it sets
    `meeting_call_after`, activated or not.
    """
    now = ctx.clock.now()
    roster = await ctx.roster()
    replaced: list[Convocation] = []
    if into is None and escalate:
        await store.stop_escalations(ctx.session, forum.id)  # a new convocation supersedes the last one
        if function_ids is None:  # the whole composition, for a conference no later than theirs: replaced
            replaced = await store.end(ctx.session, await store.standing(ctx.session, forum.id,
                                                                         starts_by=starts_at or now), now, "replaced")
    if function_ids is None:
        function_ids = await current_composition(ctx, forum, state)
    first = [f.id for f in conveners(ctx.directory, forum)] + [state.chair_function(forum)]
    wait = sms_wait(ctx, state.active, meeting_sms_after)
    ring_wait = call_wait(ctx, state.active, meeting_call_after, planned=planned)
    convocation = into or await store.add(ctx.session, Convocation(
        forum_id=forum.id, kind=kind, activation_id=state.activation_id, event=state.event, subject=subject,
        mode=state.mode, exercise=state.exercise, created_at=now, created_by=ctx.sender, starts_at=starts_at or now,
        sms_after=int(wait.total_seconds()) if wait is not None else None,
        call_after=int(ring_wait.total_seconds()) if ring_wait is not None else None))
    assert convocation.id is not None
    sms_due = (rings_at or now) + timedelta(seconds=convocation.sms_after) if convocation.sms_after is not None \
        else None
    call_due = (rings_at or now) + timedelta(seconds=convocation.call_after) \
        if convocation.call_after is not None else None
    already = {s.function_id for s in await store.summonses(ctx.session, convocation.id)}
    call_list = [c for c in policy.calls(roster, function_ids, now, first) if c.function.id not in already]
    nobody = [c for c in call_list if not c.holders]
    deputies = [d for c in nobody for d in policy.deputy_calls(roster, c.function.id, now,
                                                               already | {x.function.id for x in call_list})]

    def sms_step(call: Call) -> datetime | None:
        if rings_at is not None and any(not on_matrix(u) for u in call.holders):
            return rings_at  # planned quietly: a holder without Matrix is texted when the phones ring
        return sms_due if call.holders else None

    for call in call_list:
        due = now + call.function.ack_within if call.holders and escalate else None
        await store.summon(ctx.session, convocation.id, call.function.id, call.holders, rings_at or now, due_at=due,
                           added=added, sms_due_at=sms_step(call), call_due_at=call_due if call.holders else None)
    for call in deputies:
        await store.summon(ctx.session, convocation.id, call.function.id, call.holders, rings_at or now,
                           due_at=None, deputy_for=call.deputy_for, sms_due_at=sms_step(call),
                           call_due_at=call_due if call.holders else None)
    everyone = call_list + deputies
    if into is None:
        ctx.committed.append(metrics.CONVOCATIONS.labels(kind).inc)
    # Those texted the convocation this one replaces are told so first; this one's SMS follows in its own time.
    out = await tell_texted_it_ended(ctx, forum, replaced, replaced_by=convocation)
    out += room_ping(ctx, forum, state, convocation, everyone, intro)
    out += await direct_messages(ctx, forum, state, convocation, everyone)
    if rings_at is None:  # a holder without Matrix has only the SMS: at once (planned quietly: at the ring)
        out += await text_convened(ctx, convocation, [u for u in policy.people(everyone) if not on_matrix(u)])
    if nobody:
        text = ctx.t("conv.nobody", functions=names([c.function for c in nobody]))
        out += await tell_chair(ctx, forum, state, text, ref(convocation))
    return out


def sms_wait(ctx: Context, active: bool, meeting_after: timedelta | None = None) -> timedelta | None:
    """How long a convocation waits for an acknowledgement before the SMS: the configured time while
    activated, a planned meeting's own setting, otherwise (or without SMS configured) no SMS."""
    configured = ctx.directory.settings.sms
    if configured is None:
        return None
    return meeting_after if meeting_after is not None else (configured.sms_after if active else None)


def call_wait(ctx: Context, active: bool, meeting_after: timedelta | None = None, *,
              planned: bool = False) -> timedelta | None:
    """How long a convocation waits for an acknowledgement before the voice call: a planned meeting only its
    own `call_after` (activated or not); otherwise `[voice] call_after` while activated; else (or without
    `[voice]`) no call."""
    configured = ctx.directory.settings.voice
    if configured is None:
        return None
    if planned:
        return meeting_after
    return configured.call_after if active else None


def room_ping(ctx: Context, forum: Forum, state: ForumState, convocation: Convocation,
              call_list: Sequence[Call], intro: Rich | None = None) -> list[Outgoing]:
    users = policy.people(call_list)
    rich = notification(ctx, forum, state, convocation).br()
    if intro is not None:
        rich.extend(intro).br()
    rich.text(ctx.t(f"conv.title.{convocation.kind}"))
    details(ctx, forum, convocation, rich)
    rich.br().text(ctx.t("conv.how_to_ack"))
    return pings(forum.room, rich, users, ref(convocation))


async def convened_by(ctx: Context, forum: Forum, convocation: Convocation) -> Rich | None:
    """'Sammankallad av Tjänsteman i beredskap (TiB), Länsstyrelsen Stockholm: @anna' (None for the schedule)."""
    roster = await ctx.roster()
    held = {f.id: f for f in roster.functions_of(convocation.created_by, convocation.created_at)}
    function = next((held[f] for f in (*(c.id for c in conveners(ctx.directory, forum)), *forum.members())
                     if f in held), None)
    if function is None:
        return None
    organisation = ctx.directory.organisation(function.organisation).name
    return Rich().text(ctx.t("conv.convened_by", function=function.name, organisation=organisation) + " ").pill(
        convocation.created_by)


async def others_to_ask(ctx: Context, forum: Forum, convocation: Convocation) -> Rich | None:
    """The forum's other conveners on duty now, as pills: whom to call if in doubt."""
    roster = await ctx.roster()
    now = ctx.clock.now()
    people = [(f, u) for f in conveners(ctx.directory, forum) for u in roster.holders(f.id, now)
              if u != convocation.created_by]
    if not people:
        return None
    rich = Rich().text(ctx.t("conv.questions") + " ")
    for i, (function, user) in enumerate(people[:3]):
        rich.text(", " if i else "").text(f"{function.name} ").pill(user)
    return rich


async def direct_messages(ctx: Context, forum: Forum, state: ForumState, convocation: Convocation,
                          call_list: Sequence[Call], reminder: bool = False) -> list[Outgoing]:
    """One message per person, naming every function they are convened for: the notification's two
    lines, then the event's description, who convened and whom to ask."""
    functions: dict[str, list[Call]] = {}
    for call in call_list:
        for user in call.holders:
            functions.setdefault(user, []).append(call)
    by = await convened_by(ctx, forum, convocation) if functions else None
    ask = await others_to_ask(ctx, forum, convocation) if functions else None
    out: list[Outgoing] = []
    for user, calls in functions.items():
        rich = notification(ctx, forum, state, convocation, direct=True, reminder=reminder).br()
        for call in calls:
            if call.deputy_for:
                principal = ctx.directory.function(call.deputy_for).name
                rich.text(ctx.t("conv.you_deputy", function=call.function.name, principal=principal)).br()
            else:
                rich.text(ctx.t("conv.you_as", function=call.function.name)).br()
        rich.text(ctx.t(f"conv.title.{convocation.kind}"))
        if convocation.mode == "activated" and state.description and state.activation_id == convocation.activation_id:
            rich.br().text(ctx.t("conv.description", description=state.description))
        if by is not None:
            rich.br().extend(by)
        details(ctx, forum, convocation, rich)
        rich.br().text(ctx.t("conv.how_to_ack_dm"))
        if ask is not None:
            rich.br().extend(ask)
        out += rings([user], rich, ref(convocation))
    return out


async def tell_chair(ctx: Context, forum: Forum, state: ForumState, text: str,
                     about: str | None = None) -> list[Outgoing]:
    """A ping for the chair and the conveners in the forum room, and a direct message to each of them."""
    roster = await ctx.roster()
    chair_ids = [state.chair_function(forum), *(f.id for f in conveners(ctx.directory, forum))]
    users = list(dict.fromkeys(u for f in chair_ids for u in roster.holders(f, ctx.clock.now())))
    rich = headline(ctx, forum, state).br().text(text)
    return [*pings(forum.room, rich, users, about), *rings(users, rich)]


def names(functions: Sequence[Function]) -> str:
    return ", ".join(f.name for f in functions)


# ---- acknowledgement ----


@dataclass(frozen=True)
class Acknowledged:
    forum: Forum
    functions: list[Function]


async def pending_for(ctx: Context, forum: Forum | None, convocation_id: int | None = None) -> list[Summons]:
    """The sender's unacknowledged summonses: in one convocation, or in each forum's conference on now and
    those planned after it (a rhythm's next conference may be acknowledged ahead)."""
    after = ctx.clock.now() - RECENT
    if convocation_id is not None:
        found = await store.get(ctx.session, convocation_id)
        recent = [found] if found is not None else []
    else:
        recent = list(await store.since(ctx.session, after, forum.id if forum else None))
    # Open in each forum: the latest conference that is on now (or about to be), and those planned after it.
    soon = ctx.clock.now() + CONFERENCE_REMIND
    current: set[str] = set()
    pending: list[Summons] = []
    for convocation in recent:  # newest first
        if convocation.forum_id in current or convocation.ended_at is not None:
            continue  # an older conference of a forum, or one that no longer stands
        if convocation.starts_at <= soon:
            current.add(convocation.forum_id)
        assert convocation.id is not None
        pending += [s for s in await store.summonses(ctx.session, convocation.id)
                    if s.ack_at is None and ctx.sender in store.holders(s)]
    return pending


async def acknowledge(ctx: Context, pending: Sequence[Summons], ack: Ack) -> list[Acknowledged]:
    """Record the acknowledgement on each summons; a deputy's answer also reaches its principal."""
    now = ctx.clock.now()
    note = "deputy" if ack.deputy else (f"joins {ack.joins_at.isoformat()}" if ack.joins_at else None)
    done: dict[int, Acknowledged] = {}
    for summons in pending:
        summons.ack_at, summons.ack_by, summons.ack_note, summons.due_at = now, ctx.sender, note, None
        summons.sms_due_at = None
        ctx.session.add(summons)
        if summons.deputy_for:
            for other in await store.summonses(ctx.session, summons.convocation_id):
                if other.function_id == summons.deputy_for and other.ack_at is None:
                    other.ack_at, other.ack_by, other.due_at, other.sms_due_at = now, ctx.sender, None, None
                    other.ack_note = f"deputy:{summons.function_id}"
                    ctx.session.add(other)
        convocation = await store.get(ctx.session, summons.convocation_id)
        assert convocation is not None and convocation.id is not None
        entry = done.setdefault(convocation.id, Acknowledged(ctx.directory.forum(convocation.forum_id), []))
        entry.functions.append(ctx.directory.function(summons.function_id))
        ctx.committed.append(metrics.ACKNOWLEDGEMENTS.inc)
    await voice_store.cancel_unwanted(ctx.session, list(done), now)  # acknowledged: no call waits for them
    return list(done.values())


UNPROVEN = "unproven:"  # ack_note of a summons acknowledged by a ✅ that proves no verified session: "unproven:<iso>"


def note_unproven_ack(ctx: Context, pending: Sequence[Summons]) -> list[Summons]:
    """Note who answered and when, leaving the summons unacknowledged: its escalation goes on."""
    for summons in pending:
        summons.ack_by, summons.ack_note = ctx.sender, UNPROVEN + ctx.clock.now().isoformat()
        ctx.session.add(summons)
    return list(pending)


async def decline(ctx: Context, pending: Sequence[Summons], channel: str) -> tuple[Forum, list[Function], list[Call]]:
    """The sender cannot come (`2` / `nej` by SMS, key 9 in a call): each summons is marked declined, its timers
    stop, and the
    deputies of its function are convened at once; the chair is told in the forum room. Returns the forum, the
    functions declined and the deputies convened (the caller adds the messages `decline_messages` makes)."""
    now = ctx.clock.now()
    roster = await ctx.roster()
    convocation = await store.get(ctx.session, pending[0].convocation_id)
    assert convocation is not None and convocation.id is not None
    forum = ctx.directory.forum(convocation.forum_id)
    convened = {s.function_id for s in await store.summonses(ctx.session, convocation.id)}
    deputies: list[Call] = []
    for summons in pending:  # an acknowledgement given before is withdrawn: the answer is now 'cannot come'
        summons.declined_at, summons.due_at, summons.sms_due_at, summons.call_due_at = now, None, None, None
        summons.ack_at = summons.ack_by = None
        summons.ack_note = f"declined:{channel}"
        ctx.session.add(summons)
        found = policy.deputy_calls(roster, summons.function_id, now, convened)
        convened |= {d.function.id for d in found}
        deputies += found
    sms_due = now + timedelta(seconds=convocation.sms_after) if convocation.sms_after is not None else None
    call_due = now + timedelta(seconds=convocation.call_after) if convocation.call_after is not None else None
    for call in deputies:
        await store.summon(ctx.session, convocation.id, call.function.id, call.holders, now,
                           due_at=now + call.function.ack_within if call.holders else None,
                           deputy_for=call.deputy_for, sms_due_at=sms_due if call.holders else None,
                           call_due_at=call_due if call.holders else None)
    return forum, [ctx.directory.function(s.function_id) for s in pending], deputies


CONVENED_NOW, ALREADY_CONVENED, NO_DEPUTY = "now", "already", "none"


async def deputy_outcome(ctx: Context, functions: Sequence[Function],
                         deputies: Sequence[Call]) -> tuple[str, list[Function]]:
    """What a decline did for the functions' deputies: convened now (and which), already convened before
    (which), or none, the functions have no deputy."""
    if deputies:
        return CONVENED_NOW, [c.function for c in deputies]
    roster = await ctx.roster()
    already = list(dict.fromkeys(d for f in functions for d in roster.deputies(f.id)))
    return (ALREADY_CONVENED, already) if already else (NO_DEPUTY, [])


async def decline_messages(ctx: Context, convocation_id: int, functions: Sequence[Function],
                           deputies: Sequence[Call], *, changed: bool = False, channel: str = "sms") -> list[Outgoing]:
    """The chair told in the forum room who cannot come (`changed`: after acknowledging) and which deputies are
    convened; the deputies' ping, direct message and (without Matrix) SMS."""
    convocation = await store.get(ctx.session, convocation_id)
    assert convocation is not None
    forum = ctx.directory.forum(convocation.forum_id)
    state = await forum_store.forum_state(ctx.session, forum.id)
    said = ctx.t("conv.declined_after_ack" if changed else "conv.declined", user=ctx.sender,
                 functions=names(functions), channel=ctx.t(f"conv.channel.{channel}"))
    outcome, which = await deputy_outcome(ctx, functions, deputies)
    said += " " + {CONVENED_NOW: ctx.t("conv.deputies", functions=names(which)),
                   ALREADY_CONVENED: ctx.t("conv.deputy_already", functions=names(which)),
                   NO_DEPUTY: ctx.t("conv.no_deputy")}[outcome]
    out = await tell_chair(ctx, forum, state, said, ref(convocation))
    if deputies:
        out += room_ping(ctx, forum, state, convocation, deputies)
        out += await direct_messages(ctx, forum, state, convocation, deputies)
        out += await text_convened(ctx, convocation, [u for u in policy.people(deputies) if not on_matrix(u)])
    return out


def ack_text(ctx: Context, acknowledged: Sequence[Acknowledged], ack: Ack) -> Rich:
    rich = Rich()
    for i, item in enumerate(acknowledged):
        if i:
            rich.br()
        rich.text(ctx.t("ack.done", forum=item.forum.name, functions=", ".join(f.name for f in item.functions)))
    if ack.joins_at:
        rich.text(" " + ctx.t("ack.joins", when=ctx.when(ack.joins_at)))
    if ack.deputy:
        rich.text(" " + ctx.t("ack.deputy"))
    return rich


# ---- escalation ----


async def escalate(ctx: Context, convocation_id: int, summons_ids: Sequence[int]) -> list[Outgoing]:
    """Move the due, still unanswered summonses of one convocation to their next step."""
    now = ctx.clock.now()
    convocation = await store.get(ctx.session, convocation_id)
    if convocation is None or convocation.ended_at is not None:
        return []
    forum = ctx.directory.forum(convocation.forum_id)
    state = await forum_store.forum_state(ctx.session, forum.id)
    roster = await ctx.roster()
    all_summons = await store.summonses(ctx.session, convocation_id)
    due = [s for s in all_summons if s.id in summons_ids and s.ack_at is None and s.due_at and s.due_at <= now]
    remind = [s for s in due if s.step == policy.CONVENED]
    report = [s for s in due if s.step == policy.ESCALATED]
    out: list[Outgoing] = []
    if remind:
        convened = {s.function_id for s in all_summons}
        again = [Call(ctx.directory.function(s.function_id), tuple(store.holders(s))) for s in remind]
        deputies: list[Call] = []
        for summons in remind:
            deputies += policy.deputy_calls(roster, summons.function_id, now, convened)
            convened |= {d.function.id for d in deputies}
        sms_due = now + timedelta(seconds=convocation.sms_after) if convocation.sms_after is not None else None
        call_due = now + timedelta(seconds=convocation.call_after) if convocation.call_after is not None else None
        for call in deputies:
            await store.summon(ctx.session, convocation_id, call.function.id, call.holders, now, due_at=None,
                               deputy_for=call.deputy_for, sms_due_at=sms_due if call.holders else None,
                               call_due_at=call_due if call.holders else None)
        out += escalation_ping(ctx, forum, state, convocation, again, deputies)
        out += await direct_messages(ctx, forum, state, convocation, again, reminder=True)
        out += await direct_messages(ctx, forum, state, convocation, deputies)
        out += await text_convened(ctx, convocation, [u for u in policy.people(deputies) if not on_matrix(u)])
        reached = await store.reach(ctx.session, convocation_id)
        unopened = [u for call in again for u in call.holders if reached.get(u) == store.UNOPENED]
        if unopened:  # they cannot see the convocation in their direct room: the chair must reach them
            out += await tell_chair(ctx, forum, state, ctx.t("conv.unopened", users=", ".join(unopened)),
                                    ref(convocation))
        waiting = {u for call in again for u in call.holders}
        no_sms = [r.user_id for r in await sms_store.of_ref(ctx.session, ref(convocation))
                  if r.user_id in waiting and r.state == sms_store.FAILED]
        if no_sms:
            out += await tell_chair(ctx, forum, state, ctx.t("conv.sms_failed", users=", ".join(no_sms)),
                                    ref(convocation))
    if report:
        text = ctx.t("conv.not_reached", functions=names([ctx.directory.function(s.function_id) for s in report]))
        out += await tell_chair(ctx, forum, state, text, ref(convocation))
    for summons in remind + report:
        ctx.committed.append(metrics.ESCALATIONS.inc)
        summons.step += 1
        ack_within = ctx.directory.function(summons.function_id).ack_within
        summons.due_at = policy.next_due(summons.convened_at, ack_within, summons.step)
        ctx.session.add(summons)
    return out


def escalation_ping(ctx: Context, forum: Forum, state: ForumState, convocation: Convocation,
                    again: Sequence[Call], deputies: Sequence[Call]) -> list[Outgoing]:
    rich = notification(ctx, forum, state, convocation, reminder=True).br().text(
        ctx.t("conv.unanswered", functions=", ".join(c.function.name for c in again)))
    if deputies:
        rich.br().text(ctx.t("conv.deputies", functions=", ".join(c.function.name for c in deputies)))
    rich.br().text(ctx.t("conv.how_to_ack"))
    return pings(forum.room, rich, policy.people([*again, *deputies]), ref(convocation))


async def undelivered(ctx: Context, convocation_id: int, user_id: str, reason: str) -> list[Outgoing]:
    """A holder's direct message could not be delivered: mark it and tell the chair once."""
    convocation = await store.get(ctx.session, convocation_id)
    if convocation is None:
        return []
    from bot.state import forums as forum_store

    forum = ctx.directory.forum(convocation.forum_id)
    state = await forum_store.forum_state(ctx.session, forum.id)
    hit = [s for s in await store.summonses(ctx.session, convocation_id) if user_id in store.holders(s)]
    for summons in hit:
        summons.undeliverable = f"{user_id}: {reason}"[:300]
        ctx.session.add(summons)
    functions = [ctx.directory.function(s.function_id) for s in hit]
    if not functions:
        return []
    rich = headline(ctx, forum, state).br().text(ctx.t("conv.undeliverable", user=user_id,
                                                       functions=", ".join(f.name for f in functions)))
    return [Message(target=forum.room, body=rich.plain, html=rich.html, priority=PRIORITY_DIRECT)]


# ---- the second channel ----


def event_key(convocation: Convocation) -> str:
    """What the cost cap counts by: the activation, or the convocation itself in ordinary mode."""
    return f"activation:{convocation.activation_id}" if convocation.activation_id else f"conv:{convocation.id}"


def sender_name(ctx: Context, forum: Forum) -> str:
    """Who an SMS about a forum is from: the organisation that convenes it ('Länsstyrelsen Stockholm')."""
    found = conveners(ctx.directory, forum)
    return ctx.directory.organisation(found[0].organisation).name if found else ctx.t("sms.sender")


def sms_when(ctx: Context, at: datetime) -> str:
    local = at.astimezone(ctx.tz)
    return f"{local:%H:%M}" if local.date() == ctx.clock.now().astimezone(ctx.tz).date() else ctx.when(local)


def sms_head(ctx: Context, convocation: Convocation, word: str | None = None) -> list[str]:
    """ÖVNING (once), the word (AKTIVERAT, AVSLUTAT, INSTÄLLT, FLYTTAD, Kallelse) and the event: how every SMS
    about a convocation begins. The event (index 2) is shortened before the forum's name that follows it
    (index 4): `fit(parts, *SHRINK)`."""
    exercise = ctx.t("sms.exercise") if convocation.exercise else ""
    event = convocation.event if convocation.mode == "activated" and convocation.event else ""
    if word is None:
        word = ctx.t("sms.word.activated") if event else ctx.t("sms.word.convened")
    return [exercise, word, f" {event}" if event else "", ": "]


SHRINK = (2, 4)  # the event's name, then the forum's


def signature(ctx: Context, forum: Forum | None) -> str:
    """' /Länsstyrelsen Stockholm': who sends, at the end of every SMS."""
    return ctx.t("sms.signature", sender=sender_name(ctx, forum) if forum else ctx.t("sms.sender"))


def convocation_text(ctx: Context, forum: Forum, convocation: Convocation, code: str = "") -> str:
    """What, when, how to join, how to acknowledge and who sends, in one GSM message: 'AKTIVERAT snöoväder:
    Regionalt samordnande forum, konf 03:15. Ring 08-123 456 78 PIN 4711. Svara 1 = kvittera /Länsstyrelsen
    Stockholm' (`code`, when the number has another convocation open: 'Svara 1A = kvittera')."""
    when = ctx.t("sms.when", when=sms_when(ctx, convocation.starts_at))
    return fit([*sms_head(ctx, convocation), forum.name, when, dial_text(ctx, forum), ctx.t("sms.ack", code=code),
                signature(ctx, forum)], *SHRINK)


def dial_text(ctx: Context, forum: Forum) -> str:
    if not forum.conference.phone:
        return ""
    return ctx.t("sms.dial_pin" if forum.conference.pin else "sms.dial",
                 number=policy.readable_phone(forum.conference.phone), pin=forum.conference.pin or "")


def ended_text(ctx: Context, forum: Forum, convocation: Convocation, moved_to: datetime | None = None,
               replaced_by: Convocation | None = None) -> str:
    """'AVSLUTAT snöoväder: Regionalt samordnande forum. Kallelsen gäller inte längre. /Länsstyrelsen
    Stockholm'; moved, 'FLYTTAD: Regionalt samordnande forum, ny tid 11:00. Ring …'; replaced, 'ERSATT brand:
    Regionalt samordnande forum. Gäller inte längre; ny kallelse: gasläcka. /…'."""
    if replaced_by is not None:
        new_event = replaced_by.event if replaced_by.mode == "activated" and replaced_by.event else ""
        tail = ctx.t("sms.replaced_by", event=new_event) if new_event and new_event != convocation.event \
            else ctx.t("sms.replaced")
        return fit([*sms_head(ctx, convocation, ctx.t("sms.word.replaced")), forum.name, tail, signature(ctx, forum)],
                   *SHRINK)
    if moved_to is None:
        word = ctx.t("sms.word.ended" if convocation.mode == "activated" else "sms.word.cancelled")
        return fit([*sms_head(ctx, convocation, word), forum.name, ctx.t("sms.ended"), signature(ctx, forum)],
                   *SHRINK)
    return fit([*sms_head(ctx, convocation, ctx.t("sms.word.moved")), forum.name,
                ctx.t("sms.moved", when=sms_when(ctx, moved_to)), dial_text(ctx, forum), signature(ctx, forum)],
               *SHRINK)


async def tell_texted_it_ended(ctx: Context, forum: Forum, ended: Sequence[Convocation],
                               moved_to: datetime | None = None, *,
                               replaced_by: Convocation | None = None) -> list[Outgoing]:
    """One short SMS to each person the gateway took one of these convocations' SMS for: it is over (or
    moved to `moved_to`, or replaced by `replaced_by`). Nobody who was not texted gets one, and nobody gets two."""
    out: list[Outgoing] = []
    told: set[str] = set()
    for convocation in ended:
        assert convocation.id is not None
        rows = await sms_store.texted(ctx.session, ref(convocation))
        # Called out and told so, and not called in again since: the end is no news to them.
        released = {r.user_id: r.created_at for r in await sms_store.of_ref(ctx.session, ref(convocation))
                    if r.key.startswith(f"released:{ref(convocation)}:")}
        convened: dict[str, datetime] = {}
        for summons in await store.summonses(ctx.session, convocation.id):
            for user in store.holders(summons):
                convened[user] = max(convened.get(user, summons.convened_at), summons.convened_at)
        for row in rows:
            if row.user_id is None or row.user_id in told:
                continue
            if row.user_id in released and convened.get(row.user_id, released[row.user_id]) <= released[row.user_id]:
                continue
            told.add(row.user_id)
            key = f"moved:{ref(convocation)}:{moved_to.isoformat()}" if moved_to else f"end:{ref(convocation)}"
            out.append(Sms(key=f"{key}:{row.user_id}", kind="notice", number=row.number,
                           lookup=row.lookup, text=ended_text(ctx, forum, convocation, moved_to, replaced_by),
                           user_id=row.user_id, ref=ref(convocation), event_key=event_key(convocation)))
    return out


async def tell_texted_released(ctx: Context, forum: Forum, convocation: Convocation, functions: Sequence[Function],
                               people: Sequence[str]) -> list[Outgoing]:
    """Functions called out (`!kalla-ut`): each of `people` the gateway took this convocation's SMS for gets one
    short SMS that they are released (a holder without Matrix has no other way to learn it); nobody else."""
    wanted = set(people)
    rows = [r for r in await sms_store.texted(ctx.session, ref(convocation)) if r.user_id in wanted]
    keys = {r.user_id: f"released:{ref(convocation)}:{r.user_id}" for r in rows if r.user_id}
    sent = await sms_store.existing(ctx.session, list(keys.values()))
    text = fit([*sms_head(ctx, convocation, ctx.t("sms.word.released")), forum.name,
                ctx.t("sms.released", functions=names(functions)), signature(ctx, forum)], *SHRINK)
    out: list[Outgoing] = []
    for row in rows:
        key = keys.get(row.user_id or "")
        if key is None or key in sent:
            continue
        sent.add(key)
        out.append(Sms(key=key, kind="notice", number=row.number, lookup=row.lookup, text=text,
                       user_id=row.user_id, ref=ref(convocation), event_key=event_key(convocation)))
    return out


async def text_convened(ctx: Context, convocation: Convocation, people: Sequence[str]) -> list[Outgoing]:
    """One SMS for the convocation to each of `people` who has a number and has not had it yet, within the
    event's cap (reaching it is told to the chair once). Nothing without SMS configured."""
    configured = ctx.directory.settings.sms
    if configured is None or not people or convocation.ended_at is not None:
        return []
    forum = ctx.directory.forum(convocation.forum_id)
    numbers = await sms_store.numbers_of(ctx.session, people)
    keys = {user: f"{ref(convocation)}:{user}" for user in people if user in numbers}
    texted = await sms_store.existing(ctx.session, list(keys.values()))
    cap_key = event_key(convocation)
    sent = await sms_store.count(ctx.session, event_key=cap_key, kind="convocation")
    text = convocation_text(ctx, forum, convocation)
    busy = await sms_store.texted_since(ctx.session, [numbers[u].lookup for u in keys], ctx.clock.now() - RECENT)
    out: list[Outgoing] = []
    for user, key in keys.items():
        if key in texted:
            continue
        if sent >= configured.max_per_event:
            out += await _cap_reached(ctx, forum, convocation, configured.max_per_event)
            break
        sent += 1
        phone = numbers[user]
        others = {c.id: letter for c, letter in await open_texted(ctx, phone.lookup, user)
                  if c.id != convocation.id} if phone.lookup in busy else {}
        code = await fresh_code(ctx, phone.lookup, set(others.values())) if phone.lookup in busy else CODES[0]
        out.append(Sms(key=key, kind="convocation", number=phone.number, lookup=phone.lookup,
                       text=convocation_text(ctx, forum, convocation, code) if others else text,
                       user_id=user, ref=ref(convocation), event_key=cap_key, code=code))
    return out


CODES = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # a reply's letter (`1A`); I and O left out, read as 1 and 0


async def answered_texted(ctx: Context, lookup: str, user: str) -> list[tuple[Convocation, str]]:
    """The convocations texted to a number that still stand and that this person has acknowledged themselves
    (by SMS or ✅) and not declined, newest first, each with its letter: a `2` may still change the answer."""
    return await _texted_standing(ctx, lookup, lambda s: own_answer(s, user))


def own_answer(summons: Summons, user: str) -> bool:
    """Whether `user` holds this summons and acknowledged it themselves (not declined, not via a deputy)."""
    return (user in store.holders(summons) and summons.ack_at is not None and summons.ack_by == user
            and summons.declined_at is None and not (summons.ack_note or "").startswith("deputy:"))


async def fresh_code(ctx: Context, lookup: str, open_codes: set[str]) -> str:
    """A letter this number has not been given within RECENT, so a late `1A` for a convocation that has ended
    never answers a new one; when all have been, one no open convocation of the number carries."""
    used = {row.code for row in await sms_store.convocations_to(ctx.session, lookup, ctx.clock.now() - RECENT)
            if row.code}
    return next((c for c in CODES if c not in used), None) or next(c for c in CODES if c not in open_codes)


async def open_texted(ctx: Context, lookup: str, user: str) -> list[tuple[Convocation, str]]:
    """The convocations texted to a number that still stand and wait for this person's answer, newest first,
    each with the letter its SMS carries."""
    return await _texted_standing(
        ctx, lookup, lambda s: s.ack_at is None and s.declined_at is None and user in store.holders(s))


async def _texted_standing(ctx: Context, lookup: str,
                           wanted: Callable[[Summons], bool]) -> list[tuple[Convocation, str]]:
    """The convocations texted to a number within RECENT that still stand and have a summons `wanted`, newest
    first, each with the letter its SMS carries."""
    found: list[tuple[Convocation, str]] = []
    seen: set[str] = set()
    for row in await sms_store.convocations_to(ctx.session, lookup, ctx.clock.now() - RECENT):
        if row.ref is None or row.ref in seen:
            continue
        seen.add(row.ref)
        convocation = await store.get(ctx.session, int(row.ref.partition(":")[2]))
        if convocation is None or convocation.ended_at is not None or convocation.id is None:
            continue
        if any(wanted(s) for s in await store.summonses(ctx.session, convocation.id)):
            found.append((convocation, row.code or CODES[0]))
    return found


async def _cap_reached(ctx: Context, forum: Forum, convocation: Convocation, cap: int) -> list[Outgoing]:
    key = f"sms:cap:{event_key(convocation)}"
    if await repo.get_value(ctx.session, key):
        return []
    await repo.set_value(ctx.session, key, ctx.clock.now().isoformat())
    state = await forum_store.forum_state(ctx.session, forum.id)
    return await tell_chair(ctx, forum, state, ctx.t("sms.cap_reached", cap=cap,
                                                   event=convocation.event or forum.name), ref(convocation))
