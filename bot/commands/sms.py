"""!sms [nummer | kod N | av | status]: one's mobile number for the second channel, in a direct message.

`!sms <nummer>` (for example +46 70 174 06 01, fictitious) texts a six-digit code, `!sms kod 123456` confirms
it, `!sms` shows the number masked, `!sms av` removes it; `!sms status` (administrators) shows the gateway and
the SMS of each event.
"""

from __future__ import annotations

from datetime import datetime

from bot.commands.registry import Arg, command
from bot.domain.names import normalise
from bot.domain.sms import BadNumber, normalise_number
from bot.flows import sms as flow
from bot.flows.context import Context
from bot.flows.errors import BadArgument, NotAllowed, UserError
from bot.messages import Outgoing
from bot.state import forums as forum_store
from bot.state import repo
from bot.state import sms as store
from bot.texts.rich import Rich


@command("sms", en="sms", args=(Arg("sms_args", optional=True, rest=True),),
         usage_override={"sv": "[nummer | kod <kod> | av | status]", "en": "[number | code <code> | off | status]"})
async def sms(ctx: Context, sms_args: str | None) -> list[Outgoing]:
    configured = flow.settings(ctx)
    if configured is None:
        raise UserError("sms.off")
    words = (sms_args or "").split()
    first = normalise(words[0]) if words else ""
    if first == "status":
        if not ctx.directory.is_admin(ctx.sender):
            raise NotAllowed("error.admin_only", action="sms-status")
        return [ctx.reply(await _status(ctx, configured.max_per_event))]
    if not ctx.incoming.is_direct:  # a number is personal data: it does not belong in a shared room
        raise UserError("sms.direct_only")
    if not words:
        masked = await flow.shown(ctx)
        return [ctx.reply(Rich().text(ctx.t("sms.shown", number=masked) if masked else ctx.t("sms.none")))]
    if first in ("av", "off", "bort", "remove"):
        removed = await flow.remove(ctx)
        return [ctx.reply(Rich().text(ctx.t("sms.removed" if removed else "sms.none")))]
    if first in ("kod", "code"):
        if len(words) != 2:
            raise BadArgument("sms.code_missing")
        done, said = await flow.confirm(ctx, words[1])
        if done:
            said = ctx.t("sms.confirmed", number=said, after=int(configured.sms_after.total_seconds() // 60))
        return [ctx.reply(Rich().text(said))]
    try:
        number = normalise_number(" ".join(words), configured.country)
    except BadNumber:
        raise BadArgument("sms.bad_number") from None
    masked, out = await flow.register(ctx, number)
    return [ctx.reply(Rich().text(ctx.t("sms.code_sent", number=masked))), *out]


async def _status(ctx: Context, cap: int) -> Rich:
    gateway = await repo.get_value(ctx.session, store.GATEWAY)
    if gateway is None or gateway == "ok":
        rich = Rich().text(ctx.t("sms.gateway.ok" if gateway else "sms.gateway.unknown"))
    else:
        _, since, why = gateway.split(" ", 2)
        rich = Rich().text(ctx.t("sms.gateway.down", since=ctx.when(datetime.fromisoformat(since)), why=why))
    rich.br().text(ctx.t("sms.queued", count=await store.backlog(ctx.session)))
    for forum in ctx.directory.settings.forums:
        state = await forum_store.forum_state(ctx.session, forum.id)
        if state.active and state.activation_id:
            sent = await store.count(ctx.session, event_key=f"activation:{state.activation_id}", kind="convocation")
            rich.br().text(ctx.t("sms.sent_for", forum=forum.name, event=state.event, count=sent, cap=cap))
    return rich
