"""Argument converters: a word typed by a person -> a configured thing, or a clear error."""

from __future__ import annotations

from typing import Any

from bot.domain.model import Forum, Function, Organisation
from bot.domain.names import Index
from bot.flows.context import Context
from bot.flows.errors import UnknownName, UserError


def _lookup(ctx: Context, index: Index[Any], kind: str, raw: str) -> Any:
    found = index.get(raw)
    if found is None:
        raise UnknownName(kind, raw, index.suggest(raw), [item.id for item in _unique(index)])
    return found


def _unique(index: Index[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for name in index.names():
        item = index.get(name)
        if item is not None:
            seen.setdefault(item.id, item)
    return list(seen.values())


def forum(ctx: Context, raw: str) -> Forum:
    result: Forum = _lookup(ctx, ctx.directory.forums, "forum", raw)
    return result


def function(ctx: Context, raw: str) -> Function:
    result: Function = _lookup(ctx, ctx.directory.functions, "function", raw)
    return result


def organisation(ctx: Context, raw: str) -> Organisation:
    result: Organisation = _lookup(ctx, ctx.directory.organisations, "organisation", raw)
    return result


def function_or_organisation(ctx: Context, raw: str) -> Function | Organisation:
    """A function or an organisation by any of its names, several words allowed ('Nacka TiB')."""
    found: Function | Organisation | None = ctx.directory.functions.get(raw) or ctx.directory.organisations.get(raw)
    if found is not None:
        return found
    suggestions = list(dict.fromkeys(ctx.directory.functions.suggest(raw) + ctx.directory.organisations.suggest(raw)))
    known = [item.id for item in _unique(ctx.directory.functions)]
    raise UnknownName("function_or_organisation", raw, suggestions[:3], known)


def functions_of(ctx: Context, found: Function | Organisation) -> list[Function]:
    """A function itself, or every function of an organisation."""
    if isinstance(found, Function):
        return [found]
    return [f for f in ctx.directory.settings.functions if f.organisation == found.id]


def who_and_forum(ctx: Context, text: str) -> tuple[Function | Organisation, Forum]:
    """'trafikverket samordnande' -> (Trafikverket, the forum); without a forum word, the room's forum."""
    words = text.split()
    name, forum = text, None
    if len(words) > 1:
        last = ctx.directory.forums.get(words[-1])
        if last is not None and not (ctx.directory.functions.get(text) or ctx.directory.organisations.get(text)):
            name, forum = " ".join(words[:-1]), last
    found = function_or_organisation(ctx, name)
    forum = forum or ctx.forum_here()
    if forum is None:
        raise UserError("kalla.which_forum")
    return found, forum
