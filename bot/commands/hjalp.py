"""!hjälp / !help: every command with its usage, or one command in detail."""

from __future__ import annotations

from bot.commands.registry import REGISTRY, Access, Arg, CommandSpec, command
from bot.flows.context import Context
from bot.flows.errors import UnknownName
from bot.messages import Outgoing
from bot.texts.rich import Rich

# The order of `!hjälp`: what a duty officer needs first. Commands not listed follow at the end.
HELP_ORDER = ("aktivera", "kalla", "kvittera", "kallelse", "kalla-in", "vem", "tjänstgör", "status",
              "rapport", "lägesbild", "ikapp", "möte", "upprop", "här", "beslut", "inriktning", "åtgärd", "info",
              "ångra", "protokoll", "ordförande", "sekreterare", "schema", "kalender", "flytta", "ställ-in",
              "avaktivera", "avslå", "övning", "ladda-om", "hjälp")


def help_order(spec: CommandSpec) -> int:
    return HELP_ORDER.index(spec.name) if spec.name in HELP_ORDER else len(HELP_ORDER)


def command_name(ctx: Context, raw: str) -> CommandSpec:
    spec = REGISTRY.find(raw)
    if spec is None:
        raise UnknownName("command", raw, ["!" + s for s in REGISTRY.suggest(raw)])
    return spec


@command("hjälp", en="help", aliases=("hjalp", "h", "?"), args=(Arg("command", command_name, optional=True),))
async def help_command(ctx: Context, command: CommandSpec | None) -> list[Outgoing]:
    lang = ctx.lang
    rich = Rich()
    if command is not None:
        rich.bold(command.usage(lang)).br().text(command.help(lang))
        other = command.en if lang == "sv" else command.name
        names = ", ".join("!" + n for n in (other, *command.aliases) if n != command.usage(lang))
        rich.br().text(ctx.t("help.aliases", aliases=names))
        if command.access is Access.ADMIN:
            rich.br().text(ctx.t("help.admin_only"))
        return [ctx.reply(rich)]
    rich.bold(ctx.t("help.title"))
    for spec in sorted(REGISTRY.all(), key=help_order):
        rich.item().code(spec.usage(lang)).text(" — " + spec.help(lang))
    rich.br().text(ctx.t("help.footer"))
    return [ctx.reply(rich)]
