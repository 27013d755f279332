"""!vem <funktion|organisation>: who holds a function now, until when, who is next, the deputies."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Function, Organisation
from bot.domain.roster import Duty, Roster
from bot.flows.context import Context
from bot.messages import Outgoing
from bot.texts.rich import Rich


def genitive(ctx: Context, name: str) -> str:
    """'Nacka kommuns', 'SOS Alarms'; in English, "Nacka kommun's"."""
    if ctx.lang == "en":
        return name + "'s"
    return name if name.endswith(("s", "x", "z")) else name + "s"


def duty_lines(ctx: Context, roster: Roster, duty: Duty, rich: Rich) -> None:
    rich.item().bold(duty.function.name).text(": ")
    rich.text(", ".join(duty.holders) if duty.holders else ctx.t("vem.nobody"))
    if duty.stand_in is not None:
        rich.text(" (" + ctx.t("vem.stand_in") + ")")
    if duty.source == "schedule":
        rich.text(" (" + ctx.t("vem.schedule", organisation=genitive(
            ctx, ctx.directory.organisation(duty.function.organisation).name)) + ")")
    if duty.until is not None:
        rich.text(" " + ctx.t("vem.until", when=ctx.when(duty.until)))
        if duty.next_holders:
            rich.text(", " + ctx.t("vem.next", who=", ".join(duty.next_holders)))
    now = ctx.clock.now()
    for deputy in roster.deputies(duty.function.id):
        holders = roster.holders(deputy.id, now)
        rich.br().text("   " + ctx.t("vem.deputy", function=deputy.name,
                                     who=", ".join(holders) if holders else ctx.t("vem.nobody")))


@command("vem", en="who", args=(Arg("function_or_organisation", converters.function_or_organisation, rest=True,
                                     max_length=200),), reads_only=True)
async def vem(ctx: Context, function_or_organisation: Function | Organisation) -> list[Outgoing]:
    roster = await ctx.roster()
    now = ctx.clock.now()
    functions = converters.functions_of(ctx, function_or_organisation)
    rich = Rich().bold(ctx.t("vem.title", when=ctx.when(now)))
    for function in functions:
        duty_lines(ctx, roster, roster.duty(function.id, now), rich)
    return [ctx.reply(rich)]
