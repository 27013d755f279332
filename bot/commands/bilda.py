"""!bilda <namn> <funktion|organisation…> [nivå <nivå>]: form a forum for the event in hand (seed 000:
verkställande forums "bildas vid behov"). Typed in the room of an activated forum by whoever may convene
it or chairs it: the bot creates the new forum's room, invites every holder of its functions, and
activates and convenes it for the same event. It works like any forum until !upplös, or until the
forum that formed it goes back to ordinary mode."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.forums import LEVELS, MAX_FORMED_NAME, formed_id
from bot.domain.model import Function
from bot.domain.names import normalise
from bot.flows.context import Context
from bot.flows.errors import BadArgument, UserError
from bot.flows.formed import form
from bot.messages import Outgoing
from bot.state import formed as store
from bot.state import forums as forum_store
from bot.texts.rich import Rich

LEVEL_WORDS = ("nivå", "level")


def _level(words: list[str]) -> tuple[str, list[str]]:
    """'… nivå samordnande' at the end -> ('samordnande', the words before); verkställande without it."""
    if len(words) >= 2 and normalise(words[-2]) in {normalise(w) for w in LEVEL_WORDS}:
        level = next((lv for lv in LEVELS if normalise(lv) == normalise(words[-1])), None)
        if level is None:
            raise BadArgument("formed.bad_level", level=words[-1], levels=", ".join(LEVELS))
        return level, words[:-2]
    return "verkställande", words


def _functions(ctx: Context, words: list[str]) -> list[Function]:
    """Functions or organisations, separated by spaces ('trv-tib sll-tib') or commas ('TiB Nacka, SOS')."""
    text = " ".join(words)
    items = [item.strip() for item in text.split(",")] if "," in text else words
    found = [f for item in items if item for f in
             converters.functions_of(ctx, converters.function_or_organisation(ctx, item))]
    return list({f.id: f for f in found}.values())


@command("bilda", en="form", args=(Arg("name_functions", rest=True, max_length=500),),
         usage_override={"sv": "<namn> <funktion|organisation…> [nivå verkställande|samordnande]",
                         "en": "<name> <function|organisation…> [level verkställande|samordnande]"})
async def bilda(ctx: Context, name_functions: str) -> list[Outgoing]:
    parent = ctx.forum_here()
    if parent is None:
        raise BadArgument("formed.where")
    state = await forum_store.forum_state(ctx.session, parent.id)
    chair = await ctx.convener_or_chair(parent, state, "formed.refused", "form_forum")
    if not state.active:
        raise UserError("formed.parent_not_active", forum=parent.name, forum_id=parent.id)
    name, *words = name_functions.split()
    level, words = _level(words)
    if not words:
        raise BadArgument("error.missing_arg", arg=ctx.t("arg.who_forum"))
    functions = _functions(ctx, words)
    forum_id = formed_id(name, await store.ids_taken(ctx.session))  # configured names: refused just below
    if forum_id is None:
        raise BadArgument("formed.bad_name", name=name[:60], limit=MAX_FORMED_NAME)
    known = (ctx.directory.forums, ctx.directory.functions, ctx.directory.organisations)
    if any(index.get(word) for index in known for word in (name, forum_id)):
        raise BadArgument("formed.name_taken", name=name)
    forum, out = await form(ctx, parent, state, chair, forum_id, name, level, functions)
    assert forum.conference.url is not None
    names = ", ".join(ctx.directory.function(f).name for f in forum.activated)
    done = Rich().text(ctx.t("formed.done", forum=forum.name, level=level, event=state.event, functions=names))
    done.br().text(ctx.t("formed.room") + " ").link(forum.conference.url, forum.room)
    done.br().text(ctx.t("formed.how_to_end", forum_id=forum.id, parent=parent.name))
    return [ctx.reply(done), *out]
