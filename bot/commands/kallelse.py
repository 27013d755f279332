"""!kallelse [forum]: who was convened, who acknowledged, who was escalated, who is not reached."""

from __future__ import annotations

from datetime import datetime

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.convocation import ESCALATED, REPORTED
from bot.domain.forums import ForumState
from bot.domain.model import Forum
from bot.flows import sms as sms_flow
from bot.flows import voice as voice_flow
from bot.flows.context import Context
from bot.flows.convocation import RECENT, UNPROVEN, headline
from bot.flows.errors import UserError
from bot.messages import Outgoing
from bot.state import convocations as store
from bot.state import forums as forum_store
from bot.state.models import Convocation, Summons
from bot.texts.rich import Rich


def _ack_note(ctx: Context, summons: Summons) -> str:
    note = summons.ack_note or ""
    if note.startswith("joins "):
        return ", " + ctx.t("kallelse.joins", when=ctx.when(datetime.fromisoformat(note.removeprefix("joins "))))
    if note == "deputy":
        return ", " + ctx.t("kallelse.sends_deputy")
    if note.startswith("deputy:"):
        return ", " + ctx.t("kallelse.via_deputy", function=ctx.directory.function(note.removeprefix("deputy:")).name)
    return ""


def summons_line(ctx: Context, summons: Summons, reached: dict[str, str], rich: Rich,
                 texted: dict[str, str] | None = None, called: dict[str, str] | None = None) -> None:
    function = ctx.directory.function(summons.function_id)
    people = store.holders(summons)
    rich.item()
    if summons.ack_at is not None:
        rich.text(f"✅ {function.name} — ")
        if summons.ack_by:
            rich.pill(summons.ack_by).text(" ")
        rich.text(f"{ctx.when(summons.ack_at)}{_ack_note(ctx, summons)}")
        if called and summons.ack_by in called:
            rich.text(f" ({called[summons.ack_by]})")
        return
    mark = "❌" if summons.step >= REPORTED or not people or summons.undeliverable or summons.declined_at else "⏳"
    rich.text(f"{mark} {function.name} — ")
    for i, person in enumerate(people):
        rich.text(", " if i else "").pill(person)
        shown = [ctx.t("kallelse.reach." + reached[person])] if person in reached else []
        shown += [texted[person]] if texted and person in texted else []
        shown += [called[person]] if called and person in called else []
        if shown:
            rich.text(f" ({' · '.join(shown)})")
    if not people:
        rich.text(ctx.t("kallelse.nobody"))
    if summons.deputy_for:
        rich.text(" (" + ctx.t("kallelse.deputy_for", function=ctx.directory.function(summons.deputy_for).name) + ")")
    if summons.ack_note and summons.ack_note.startswith(UNPROVEN):
        at = datetime.fromisoformat(summons.ack_note.removeprefix(UNPROVEN))
        rich.text(" · " + ctx.t("kallelse.unproven_ack", user=summons.ack_by or "", when=ctx.when(at)))
    if summons.undeliverable:
        rich.text(" · " + ctx.t("kallelse.undeliverable"))
    if summons.declined_at:
        rich.text(f" · {ctx.t('kallelse.declined')} {ctx.when(summons.declined_at)}")
    if summons.step == ESCALATED:
        rich.text(" · " + ctx.t("kallelse.escalated"))
    elif summons.step >= REPORTED:
        rich.text(" · " + ctx.t("kallelse.not_reached"))


async def report(ctx: Context, forum: Forum, state: ForumState, convocation: Convocation) -> Rich:
    assert convocation.id is not None
    summonses = await store.summonses(ctx.session, convocation.id)
    acked = sum(1 for s in summonses if s.ack_at is not None)
    reached = await store.reach(ctx.session, convocation.id)
    states = list(reached.values())
    sent = sum(1 for s in states if s in (store.SENT, store.UNOPENED, store.JOINED, store.READ))
    joined = sum(1 for s in states if s in (store.JOINED, store.READ))
    rich = headline(ctx, forum, state).br()
    title = ctx.t(f"conv.title.{convocation.kind}")
    sent_at, starts = ctx.when(convocation.created_at), ctx.when(convocation.starts_at)
    rich.text(ctx.t("kallelse.sent", title=title, sent=sent_at) if sent_at == starts else
              ctx.t("kallelse.when", title=title, sent=sent_at, starts=starts))
    rich.br().bold(ctx.t("kallelse.counts", acked=acked, total=len(summonses)))
    rich.text(" · " + ctx.t("kallelse.delivery", sent=sent, total=len(states), joined=joined,
                            read=states.count(store.READ)))
    if store.FAILED in states:
        rich.text(" · " + ctx.t("kallelse.failed", failed=states.count(store.FAILED)))
    texted = await sms_flow.delivery(ctx, convocation.id)
    called = await voice_flow.delivery(ctx, convocation.id)
    for summons in sorted(summonses, key=lambda s: (s.ack_at is not None, s.id or 0)):
        summons_line(ctx, summons, reached, rich, texted, called)
    return rich


@command("kallelse", en="convocation", aliases=("roll",), args=(Arg("forum", converters.forum, optional=True),),
         reads_only=True)
async def kallelse(ctx: Context, forum: Forum | None) -> list[Outgoing]:
    forum = forum or ctx.forum_here()
    if forum is None:
        recent = await store.since(ctx.session, ctx.clock.now() - RECENT)
        if not recent:
            raise UserError("kallelse.which_forum")
        forum = ctx.directory.forum(recent[0].forum_id)
    convocation = await store.latest(ctx.session, forum.id)
    if convocation is None:
        return [ctx.reply(Rich().text(ctx.t("kallelse.none", forum=forum.name)))]
    state = await forum_store.forum_state(ctx.session, forum.id)
    return [ctx.reply(await report(ctx, forum, state, convocation))]
