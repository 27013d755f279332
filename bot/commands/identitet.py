"""!identitet [godkänn @användare] (admins): whose identity changed, and the approval of a new one.

A person's identity is the cross-signing master key the bot first saw for them. A password is enough to
replace it, so after a change the person's state-changing commands and ✅ are refused until an
administrator, having asked the person by some other way than Matrix, approves the new key here.
"""

from __future__ import annotations

import re

from bot.commands.registry import Access, Arg, command
from bot.domain.names import normalise
from bot.flows import identity
from bot.flows.context import Context
from bot.flows.errors import BadArgument
from bot.messages import Outgoing
from bot.state import identities as store
from bot.texts.rich import Rich

APPROVE_WORDS = {"godkann", "approve"}
USER_ID = re.compile(r"@[^\s:]+:\S+")


@command("identitet", en="identity", aliases=("identiteter", "identities"), access=Access.ADMIN,
         args=(Arg("verb", optional=True), Arg("user", optional=True)),
         usage_override={"sv": "[godkänn @användare:server]", "en": "[approve @user:server]"})
async def identitet(ctx: Context, verb: str | None, user: str | None) -> list[Outgoing]:
    if verb is None:
        return [ctx.reply(await _changed(ctx))]
    if normalise(verb) not in APPROVE_WORDS or user is None or not USER_ID.fullmatch(user):
        raise BadArgument("identity.usage")
    if await identity.approve(ctx, user) is None:
        return [ctx.reply(Rich().text(ctx.t("identity.nothing", user=user)))]
    return [ctx.reply(Rich().text(ctx.t("identity.approved", user=user)))]


async def _changed(ctx: Context) -> Rich:
    """Everyone whose identity changed and waits for approval."""
    changed = await store.changed(ctx.session)
    if not changed:
        return Rich().text(ctx.t("identity.none_changed"))
    rich = Rich().bold(ctx.t("identity.changed_title"))
    for pin in changed:
        rich.item().pill(pin.user_id)
        if pin.changed_at is not None:
            rich.text(" " + ctx.t("identity.changed_at", when=ctx.when(pin.changed_at)))
    return rich
