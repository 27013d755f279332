"""From SMHI's warning to the activation: each look at SMHI's list proposes activating a forum when a warning
that concerns the region first reaches the configured level, or rises; keeps the proposal up to date by editing
it (ringing nobody); marks it when the warning is cancelled or expires; and keeps an activated forum that came
from a warning informed, quietly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain import forums as forums_model
from bot.domain import warnings as model
from bot.domain.forums import ForumState
from bot.domain.model import Forum
from bot.domain.warnings import Area, Change, WarningItem
from bot.feeds.http import silent
from bot.flows.context import Context
from bot.flows.convocation import pings
from bot.flows.forums import heading, holders_of
from bot.messages import Message, Outgoing
from bot.state import forums as forum_store
from bot.state import repo
from bot.state import warnings as store
from bot.state.models import ActivationRow, WarningProposal, WeatherWarning
from bot.texts.rich import Rich

REF = "warning"  # outbox ref "warning:<proposal id>": a ✅ on it activates


def span(ctx: Context, item: WarningItem) -> str:
    """'fre 06:00 - lör 18:00' (with an en dash) in the bot's time zone (the date when it is not within the week)."""

    def short(instant: datetime) -> str:
        return ctx.when(instant, within_week=True)

    if item.starts_at and item.ends_at:
        return f"{short(item.starts_at)} – {short(item.ends_at)}"
    if item.starts_at:
        return ctx.t("warnings.from", when=short(item.starts_at))
    if item.ends_at:
        return ctx.t("warnings.until", when=short(item.ends_at))
    return ""


def headline(ctx: Context, item: WarningItem, left: Sequence[Area] = ()) -> str:
    """'SMHI: RÖD varning snöfall, Stockholms län, fre 06:00 - lör 18:00': the lock screen's first line; the areas
    the warning no longer covers (`left`) are not named in it."""
    options = ctx.directory.settings.warnings
    areas = [a for a in (model.region_areas(item, options) if options else item.areas) if a not in left]
    names = ", ".join((a.sv if ctx.lang == "sv" else a.en) or str(a.id) for a in areas)
    event = (item.event_sv if ctx.lang == "sv" else item.event_en).lower()
    parts = [ctx.t("warnings.headline_message", event=event) if item.level not in model.LEVELS[1:]
             else ctx.t("warnings.headline", level=ctx.t(f"warnings.level.{item.level}"), event=event)]
    parts += [p for p in (names, span(ctx, item)) if p]
    return ", ".join(parts)


def names_warning(ctx: Context, text: str, item: WarningItem) -> bool:
    """Whether a text (an activation's description) begins by naming this warning, at any level."""
    event = (item.event_sv if ctx.lang == "sv" else item.event_en).lower()
    named = [ctx.t("warnings.headline", level=ctx.t(f"warnings.level.{level}"), event=event)
             for level in model.LEVELS[1:]]
    return text.startswith((*named, ctx.t("warnings.headline_message", event=event)))


def stale_note(ctx: Context, since: datetime, fault: str | None) -> str:
    """Why the warnings may be out of date: SMHI has not answered at all since the last good copy, or it has
    answered meanwhile, with something unusable (the fault kept is then such an answer)."""
    return ctx.t("warnings.stale" if silent(fault) else "warnings.stale_unreadable", when=ctx.when(since))


def smhi_text(ctx: Context, item: WarningItem, rich: Rich) -> Rich:
    """SMHI's own words, quoted unaltered, with the source named (SMHI's terms of use)."""
    texts = [(t.title_sv, t.text_sv) if ctx.lang == "sv" else (t.title_en or t.title_sv, t.text_en or t.text_sv)
             for t in item.texts]
    texts = [(title, text) for title, text in texts if text]
    rich.br().text(ctx.t("warnings.source", when=ctx.when(item.published)))
    for title, text in texts:
        if title:
            rich.br().bold(title)
        rich.quote(text)
    return rich


@dataclass(frozen=True)
class Status:
    """Where a proposal stands, as its message shows it: open (asking), answered by an activation, superseded by a
    higher level, no longer the region's, or gone from SMHI's list."""

    activated: ActivationRow | None = None  # the activation it led to
    superseded_by: str | None = None  # the level of the newer proposal
    left: tuple[Area, ...] = ()  # the region's areas the warning no longer covers (it stands elsewhere)
    gone: bool = False

    @property
    def open(self) -> bool:
        return self.activated is None and self.superseded_by is None and not self.left and not self.gone


def _areas(ctx: Context, areas: Sequence[Area]) -> str:
    return ", ".join((a.sv if ctx.lang == "sv" else a.en) or str(a.id) for a in areas)


def proposal_message(ctx: Context, item: WarningItem, proposal: WarningProposal, forum: Forum,
                     status: Status | None = None) -> Rich:
    """The proposal as its message shows it: a mark in front when it is no longer open, the warning on line 1, the
    question (or what answered it) on line 2, SMHI's words after."""
    status = status or Status()
    rich = Rich()
    level = ctx.t(f"warnings.level.{status.superseded_by}") if status.superseded_by else ""
    if status.gone:
        rich.bold(ctx.t("warnings.gone_mark")).text(" ")
    elif status.left:
        rich.bold(ctx.t("warnings.left_mark", areas_upper=_areas(ctx, status.left).upper())).text(" ")
    elif status.superseded_by:
        rich.bold(ctx.t("warnings.superseded_mark", level=level)).text(" ")
    rich.bold(headline(ctx, item, status.left)).br()
    if status.activated is not None:
        activation = status.activated
        function = ctx.directory.functions.get(activation.started_by_function or "")
        who = function.name if function is not None else activation.started_by
        rich.text(ctx.t("warnings.activated_by", forum=forum.id, event=activation.event, who=who,
                        sender=activation.started_by, time=f"{activation.started_at.astimezone(ctx.tz):%H:%M}"))
    elif status.gone:
        rich.text(ctx.t("warnings.gone_line"))
    elif status.left:
        rich.text(ctx.t("warnings.left_line", areas=_areas(ctx, status.left)))
    elif status.superseded_by:
        rich.text(ctx.t("warnings.superseded_line", level=level))
    elif proposal.quiet:
        rich.text(ctx.t("warnings.already_active", forum=forum.id))
    else:
        rich.text(ctx.t("warnings.propose", forum=forum.id, event=proposal.event))
    return smhi_text(ctx, item, rich)


async def observe(ctx: Context, items: Sequence[WarningItem]) -> list[Outgoing]:
    """One look at SMHI's list: what is new, raised, updated or gone since the last look."""
    options = ctx.directory.settings.warnings
    if options is None:
        return []
    now = ctx.clock.now()
    ours = [item for item in items if model.concerns(item, options)]
    out: list[Outgoing] = []
    linked_told: set[str] = set()
    for item in ours:
        row = await store.get(ctx.session, item.key)
        what = model.change(store.seen(row) if row is not None and row.gone_at is None else None, item)
        await store.save(ctx.session, item, now)
        if what is Change.SAME:
            continue
        earlier = list(await store.proposals_of(ctx.session, item.key))
        # one proposal per warning, forum and level, whichever of its areas in the region came first: nobody is
        # rung twice for one warning, and one activation answers it
        warning_wide = list(await store.proposals_of_warning(ctx.session, item.warning_id))
        proposed = [p.forum_id for p in earlier]
        if what is Change.UPDATED or (what is Change.NEW and earlier):
            # the newest proposal to each forum shows it (one marked gone or left is open again when the warning
            # is back); older ones stay as they were
            out += await _edit_all(ctx, item, list({p.forum_id: p for p in earlier}.values()))
        for wanted in model.proposals(item, options):
            if any(p.forum_id == wanted.forum_id and model.rank(p.level) >= model.rank(item.level)
                   for p in warning_wide):
                continue
            out += await _propose(ctx, item, wanted)
            proposed.append(wanted.forum_id)
            out += await _edit_all(ctx, item, [p for p in warning_wide if p.forum_id == wanted.forum_id],
                                   superseded_by=item.level)  # the lower level's proposal says it is answered
        if what is not Change.NEW and item.warning_id not in linked_told:  # once a look for the warning
            linked_told.add(item.warning_id)
            out += await _tell_linked(ctx, item, "warnings.linked_updated", skip=proposed if what is Change.RAISED
                                      else [])
    present = {item.key for item in ours}
    elsewhere = {item.key: item for item in items if item.key not in present}
    standing = {item.warning_id for item in ours}  # a proposal is shared by the warning's areas: it stays as it
    # is while another of them covers the region, and is marked once when the last one goes
    for row in await store.in_force(ctx.session):
        if row.key in present:
            continue
        if row.warning_id in standing:
            await store.mark_gone(ctx.session, row, now)
        else:
            standing.add(row.warning_id)
            out += await _gone(ctx, row, elsewhere.get(row.key))
    return out


async def _propose(ctx: Context, item: WarningItem, wanted: model.Proposal) -> list[Outgoing]:
    """One proposal in the forum's room: it rings those on duty who may convene the forum, unless the forum is
    activated already (then it is posted quietly)."""
    if ctx.directory.forums.get(wanted.forum_id) is None:
        return []
    forum = ctx.directory.forum(wanted.forum_id)
    state = await forum_store.forum_state(ctx.session, forum.id)
    proposal = await store.add_proposal(ctx.session, WarningProposal(
        warning_key=item.key, forum_id=forum.id, level=item.level, event=wanted.event, proposed_at=ctx.clock.now(),
        quiet=state.active))
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="warning_proposal",
                     forum_id=forum.id, detail={"warning": item.key, "level": item.level, "event": wanted.event,
                                                "quiet": state.active})
    rich = heading(ctx, state).extend(proposal_message(ctx, item, proposal, forum))
    ref = f"{REF}:{proposal.id}"
    if state.active:
        return [Message(target=forum.room, body=rich.plain, html=rich.html, ref=ref)]
    people = await holders_of(ctx, [f.id for f in forums_model.conveners(ctx.directory, forum)])
    return pings(forum.room, rich, people, ref)


async def status_of(ctx: Context, proposal: WarningProposal, later: Sequence[WarningProposal] = ()) -> Status:
    """Where a proposal stands by what the bot keeps: the activation it led to, a newer one at a higher level."""
    higher = [p.level for p in later if p.forum_id == proposal.forum_id and model.rank(p.level)
              > model.rank(proposal.level)]
    return Status(activated=await store.activation(ctx.session, proposal.activation_id),
                  superseded_by=max(higher, key=model.rank) if higher else None)


async def _edit_all(ctx: Context, item: WarningItem, proposals: Sequence[WarningProposal], gone: bool = False,
                    superseded_by: str | None = None, left: tuple[Area, ...] = ()) -> list[Outgoing]:
    """Each proposal's message shows the warning as it is now, and where the proposal stands: an edit, which
    rings nobody (one still open keeps its mentions in its new content; one answered mentions nobody)."""
    out: list[Outgoing] = []
    every = await store.proposals_of_warning(ctx.session, item.warning_id)
    for proposal in proposals:
        sent = await repo.first_sent(ctx.session, f"{REF}:{proposal.id}")
        if sent is None or ctx.directory.forums.get(proposal.forum_id) is None:
            continue  # not delivered yet (it goes out as it was; the next change edits it)
        forum = ctx.directory.forum(proposal.forum_id)
        state = await forum_store.forum_state(ctx.session, forum.id)
        status = replace(await status_of(ctx, proposal, every), gone=gone, left=left)
        if superseded_by is not None:
            status = replace(status, superseded_by=superseded_by)
        shown = replace(item, level=proposal.level) if status.superseded_by else item  # as it was proposed
        rich = heading(ctx, state).extend(proposal_message(ctx, shown, proposal, forum, status))
        asking = status.open and not proposal.quiet
        mentions = tuple(await holders_of(ctx, [f.id for f in forums_model.conveners(ctx.directory, forum)])) \
            if asking else ()
        out.append(Message(target=forum.room, body=rich.plain, html=rich.html, ping=asking, mentions=mentions,
                           replaces=sent))
    return out


async def answered(ctx: Context, activation_id: int | None) -> list[Outgoing]:
    """An activation that answers a proposal: the proposal's message says who activated it and when (edited,
    quietly), so that nobody else answers it."""
    proposal = await store.proposal_of_activation(ctx.session, activation_id)
    row = await store.get(ctx.session, proposal.warning_key) if proposal is not None else None
    if proposal is None or row is None:
        return []
    return await _edit_all(ctx, store.as_item(row), [proposal], gone=row.gone_at is not None)


async def _tell_linked(ctx: Context, item: WarningItem, key: str, skip: Sequence[str] = (),
                       with_text: bool = True, left: Sequence[Area] = ()) -> list[Outgoing]:
    """A forum activated from this warning hears of its change in its room, as a quiet notice."""
    out: list[Outgoing] = []
    for forum, state in await activated_from(ctx, item.key):
        if forum.id in skip:
            continue
        rich = heading(ctx, state).bold(ctx.t(key, event=state.event or "", areas=_areas(ctx, left))).br().text(
            headline(ctx, item, left))
        if with_text:
            smhi_text(ctx, item, rich)
        out.append(Message(target=forum.room, body=rich.plain, html=rich.html))
    return out


async def activated_from(ctx: Context, key: str) -> list[tuple[Forum, ForumState]]:
    """The forums activated now by an activation that came from this warning."""
    activations = set(await store.activations_of(ctx.session, key))
    if not activations:
        return []
    found = []
    for forum in ctx.directory.settings.forums:
        state = await forum_store.forum_state(ctx.session, forum.id)
        if state.active and state.activation_id in activations:
            found.append((forum, state))
    return found


async def _gone(ctx: Context, row: WeatherWarning, elsewhere: WarningItem | None = None) -> list[Outgoing]:
    """Cancelled or expired, or no longer the region's though it stands elsewhere (`elsewhere`, as SMHI has it
    now): its proposals say which (edited, quietly), and a forum activated from it is told."""
    await store.mark_gone(ctx.session, row, ctx.clock.now())
    item = store.as_item(row)
    options = ctx.directory.settings.warnings
    if elsewhere is not None and options is not None:
        left = model.region_areas(item, options)
        out = await _edit_all(ctx, item, await store.proposals_of_warning(ctx.session, row.warning_id), left=left)
        return out + await _tell_linked(ctx, item, "warnings.linked_left", with_text=False, left=left)
    out = await _edit_all(ctx, item, await store.proposals_of_warning(ctx.session, row.warning_id), gone=True)
    return out + await _tell_linked(ctx, item, "warnings.linked_gone", with_text=False)
