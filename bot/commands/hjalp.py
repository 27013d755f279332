"""!hjälp / !help: the commands a duty officer needs first, `!hjälp alla` for the rest, or one in detail.

Short enough for a phone screen; administrators' commands are shown to administrators only."""

from __future__ import annotations

from bot.commands.registry import REGISTRY, Access, Arg, CommandSpec, command
from bot.flows.context import Context
from bot.flows.errors import UnknownName
from bot.messages import Outgoing
from bot.texts.rich import Rich

FIRST = ("aktivera", "kalla", "kvittera", "kallelse", "vem", "status", "rapport", "lägesbild")  # `!hjälp`
ALL_WORDS = {"alla", "all"}
# The order of `!hjälp alla`. Commands not listed follow at the end.
HELP_ORDER = ("aktivera", "kalla", "kvittera", "kallelse", "kalla-in", "kalla-ut", "vem", "tjänstgör", "status",
              "rapport", "lägesbild", "ikapp", "möte", "upprop", "här", "beslut", "inriktning", "återfört", "åtgärd",
              "klar", "avvikelse", "åtgärder", "budskap", "info", "ångra", "protokoll", "export", "ordförande",
              "sekreterare", "schema", "kalender", "rytm", "flytta", "ställ-in", "bilda", "upplös", "avaktivera",
              "avslå", "övning", "ladda-om", "identitet", "hjälp")


def help_order(spec: CommandSpec) -> int:
    return HELP_ORDER.index(spec.name) if spec.name in HELP_ORDER else len(HELP_ORDER)


def command_name(ctx: Context, raw: str) -> CommandSpec | str:
    """A command, or 'all' for `!hjälp alla`."""
    if raw.strip().lower() in ALL_WORDS:
        return "all"
    spec = REGISTRY.find(raw)
    if spec is None:
        raise UnknownName("command", raw, ["!" + s for s in REGISTRY.suggest(raw)])
    return spec


@command("hjälp", en="help", aliases=("hjalp", "h", "?"), args=(Arg("command", command_name, optional=True),),
         reads_only=True)
async def help_command(ctx: Context, command: CommandSpec | str | None) -> list[Outgoing]:
    lang = ctx.lang
    rich = Rich()
    if isinstance(command, CommandSpec):
        rich.bold(command.usage(lang)).br().text(command.help(lang))
        other = command.en if lang == "sv" else command.name
        names = ", ".join("!" + n for n in (other, *command.aliases) if n != command.usage(lang))
        rich.br().text(ctx.t("help.aliases", aliases=names))
        if command.access is Access.ADMIN:
            rich.br().text(ctx.t("help.admin_only"))
        return [ctx.reply(rich)]
    admin = ctx.directory.is_admin(ctx.sender)
    shown = [s for s in sorted(REGISTRY.all(), key=help_order)
             if (command == "all" or s.name in FIRST) and (admin or s.access is not Access.ADMIN)]
    rich.bold(ctx.t("help.title" if command == "all" else "help.first"))
    for spec in shown:
        rich.item().code(spec.usage(lang)).text(" — " + spec.help(lang))
    rich.br().text(ctx.t("help.footer" if command == "all" else "help.more"))
    return [ctx.reply(rich)]
