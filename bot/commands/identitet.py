"""!identitet [godkänn @användare fingeravtryck] (admins): whose identity waits for approval, and the approval
of one new key.

A person's identity is the cross-signing master key the bot trusts for them. A password is enough to create
or replace it, so after a change (or a first identity the bot did not see ahead of time) the person's
state-changing commands and ✅ are refused until an administrator, having compared the fingerprint with the
person by some other way than Matrix, approves that key here. Only the key named is approved: if the
identity was reset again in between, nothing is.
"""

from __future__ import annotations

import re

from bot.commands.registry import Access, Arg, command
from bot.domain.identity import fingerprint as readable
from bot.domain.names import normalise
from bot.flows import identity
from bot.flows.context import Context
from bot.flows.errors import BadArgument
from bot.messages import Outgoing
from bot.state import identities as store
from bot.texts.rich import Rich

APPROVE_WORDS = {"godkann", "approve"}
USER_ID = re.compile(r"@[^\s:]+:\S+")
KEY = re.compile(r"[A-Za-z0-9+/]{43}")  # an unpadded base64 ed25519 key, as Matrix writes keys


@command("identitet", en="identity", aliases=("identiteter", "identities"), access=Access.ADMIN,
         args=(Arg("verb", optional=True), Arg("user", optional=True), Arg("fingerprint", optional=True, rest=True)),
         usage_override={"sv": "[godkänn @användare:server fingeravtryck]", "en": "[approve @user:server fingerprint]"})
async def identitet(ctx: Context, verb: str | None, user: str | None, fingerprint: str | None) -> list[Outgoing]:
    if verb is None:
        return [ctx.reply(await _waiting(ctx))]
    typed = "".join((fingerprint or "").split())
    if normalise(verb) not in APPROVE_WORDS or user is None or not USER_ID.fullmatch(user) \
            or not KEY.fullmatch(typed):
        raise BadArgument("identity.usage")
    outcome, pin = await identity.approve(ctx, user, typed)
    if outcome is identity.Approval.APPROVED:
        return [ctx.reply(Rich().text(ctx.t("identity.approved", user=user)))]
    if outcome is identity.Approval.OTHER_KEY and pin is not None:
        return [ctx.reply(Rich().text(ctx.t("identity.other_key", user=user, fingerprint=readable(pin.seen))))]
    return [ctx.reply(Rich().text(ctx.t("identity.nothing", user=user)))]


async def _waiting(ctx: Context) -> Rich:
    """Everyone whose new identity waits for approval, with the fingerprint of the key that waits."""
    changed = await store.changed(ctx.session)
    if not changed:
        return Rich().text(ctx.t("identity.none_changed"))
    rich = Rich().bold(ctx.t("identity.changed_title"))
    for pin in changed:
        rich.item().pill(pin.user_id)
        key = "identity.first_key" if pin.first else "identity.new_key"
        rich.text(" " + ctx.t(key, fingerprint=readable(pin.seen)))
        if pin.changed_at is not None:
            rich.text(" " + ctx.t("identity.changed_at", when=ctx.when(pin.changed_at)))
    return rich
