"""A rhythm while activated (scene 2: "en planerad samverkanskonferens"): the forum meets every so
often until it returns to ordinary mode. The next conference is planned when the rhythm is set and
each time one opens; it is announced quietly in the forum room, and the dial-in rings
`CONFERENCE_REMIND` before it like any conference called for later. The rhythm is kept per
activation (`!rytm` overrides the forum's `activated_rhythm`), so it ends with the activation."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.forums import ForumState
from bot.domain.model import RHYTHM_LONGEST, RHYTHM_SHORTEST, Forum
from bot.domain.record import duration
from bot.flows.context import Context
from bot.flows.convocation import CONFERENCE_REMIND, convene
from bot.messages import Message, Outgoing
from bot.state import convocations as conv_store
from bot.state import repo
from bot.texts.rich import Rich

SHORTEST, LONGEST = RHYTHM_SHORTEST, RHYTHM_LONGEST


def _key(forum: Forum) -> str:
    return f"rhythm:{forum.id}"


async def every(ctx: Context, forum: Forum, state: ForumState) -> timedelta | None:
    """The rhythm in force for the forum's current activation, if any."""
    if not state.active:
        return None
    stored = await repo.get_value(ctx.session, _key(forum))
    activation, _, seconds = (stored or "").partition(" ")
    if activation == str(state.activation_id):
        return timedelta(seconds=int(seconds)) if int(seconds) else None
    return forum.activated_rhythm


async def set_every(ctx: Context, forum: Forum, state: ForumState, gap: timedelta | None) -> None:
    await repo.set_value(ctx.session, _key(forum), f"{state.activation_id} {int(gap.total_seconds()) if gap else 0}")


async def plan_next(ctx: Context, forum: Forum, state: ForumState, after: datetime) -> list[Outgoing]:
    """Plan the next conference of the rhythm after `after`, quietly: the summonses are written now,
    the phones ring at the reminder before it."""
    gap = await every(ctx, forum, state)
    if gap is None or await conv_store.planned(ctx.session, forum.id, state.activation_id, ctx.clock.now()):
        return []
    starts = after + gap
    # Written now, sent at the reminder: the convocation in hand keeps its escalations.
    await convene(ctx, forum, state, kind="extra", starts_at=starts, escalate=False,
                  subject=ctx.t("rhythm.subject", every=duration(gap)),
                  rings_at=max(ctx.clock.now(), starts - CONFERENCE_REMIND))
    text = Rich().text(ctx.t("rhythm.next", when=ctx.when(starts), every=duration(gap)))
    return [Message(target=forum.room, body=text.plain, html=text.html)]
