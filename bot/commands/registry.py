"""Command specs, argument parsing, generated usage and help.

A command is one `CommandSpec`: its Swedish name, English name, other aliases, its
arguments (each with a converter) and the handler. Usage lines and `!hjälp` are made from
the spec, so they always match what the parser accepts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from bot.domain.names import Index
from bot.flows.errors import BadArgument, UserError
from bot.messages import Outgoing
from bot.texts import t

if TYPE_CHECKING:
    from bot.flows.context import Context

Converter = Callable[["Context", str], Any]
Handler = Callable[..., Awaitable[list[Outgoing]]]
# A reaction (✅ 👍) on a message whose ref is "kind:value" calls the handler for kind with value.
ReactionHandler = Callable[["Context", str], Awaitable[list[Outgoing]]]
REACTIONS: dict[str, ReactionHandler] = {}
# What a ✅ does when it proves too little (a sender with a session its owner has not cross-signed, or an
# identity not yet approved). A kind without one is refused; "conv" records the acknowledgement without
# letting it stop the escalation.
UNPROVEN_REACTIONS: dict[str, ReactionHandler] = {}

MAX_REST = 2000  # characters of free text one argument may hold


class Access(Enum):
    KNOWN = "known"  # anyone the configuration names
    ADMIN = "admin"


@dataclass(frozen=True)
class Arg:
    """One declared argument. `rest` takes the rest of the line as free text."""

    name: str  # text key under "arg."
    convert: Converter | None = None
    optional: bool = False
    rest: bool = False
    max_length: int = MAX_REST

    def label(self, lang: str) -> str:
        return t(lang, f"arg.{self.name}")


@dataclass(frozen=True)
class CommandSpec:
    name: str  # Swedish, the primary name
    en: str
    run: Handler
    args: tuple[Arg, ...] = ()
    aliases: tuple[str, ...] = ()
    access: Access = Access.KNOWN
    # For commands whose words after the name are sub-commands, e.g. "!övning på".
    usage_override: dict[str, str] = field(default_factory=dict)
    # Changes nothing and rings nobody: open to a device its owner has not cross-signed.
    reads_only: bool = False

    def usage(self, lang: str) -> str:
        name = self.name if lang == "sv" else self.en
        if lang in self.usage_override:
            return f"!{name} {self.usage_override[lang]}".rstrip()
        parts = [f"!{name}"]
        for arg in self.args:
            label = arg.label(lang) + ("…" if arg.rest else "")
            parts.append(f"[{label}]" if arg.optional else f"<{label}>")
        return " ".join(parts)

    def help(self, lang: str) -> str:
        return t(lang, f"cmd.{self.name}")

    def parse(self, ctx: Context, text: str) -> dict[str, Any]:
        """Split `text` into the declared arguments and convert each one."""
        words = text.split()
        values: dict[str, Any] = {}
        for arg in self.args:
            if arg.rest:
                raw = _remainder(text, len(text.split()) - len(words))  # as written, line breaks kept
                words = []
            elif words and (not arg.optional or self._fits(ctx, arg, words[0])):
                raw = words.pop(0)
            else:
                raw = ""
            if not raw:
                if not arg.optional:
                    raise BadArgument("error.missing_arg", arg=arg.label(ctx.lang))
                values[arg.name] = None
                continue
            if len(raw) > arg.max_length:
                raise BadArgument("error.too_long", arg=arg.label(ctx.lang), limit=arg.max_length)
            values[arg.name] = arg.convert(ctx, raw) if arg.convert else raw
        if words:
            raise BadArgument("error.extra_args", extra=" ".join(words)[:100])
        return values

    def _fits(self, ctx: Context, arg: Arg, word: str) -> bool:
        """An optional argument followed by more arguments takes a word only if it converts."""
        later = self.args[self.args.index(arg) + 1:]
        if not later or arg.convert is None:
            return True
        try:
            arg.convert(ctx, word)
        except UserError:
            return False
        return True


def _remainder(text: str, skip: int) -> str:
    """`text` after its first `skip` words, exactly as written."""
    rest = text
    for _ in range(skip):
        rest = rest.lstrip().split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
    return rest.strip()


class Registry:
    """All commands, looked up by any of their names in any case, with or without å ä ö."""

    def __init__(self) -> None:
        self._specs: list[CommandSpec] = []
        self._index: Index[CommandSpec] = Index("command")

    def register(self, spec: CommandSpec) -> CommandSpec:
        for name in (spec.name, spec.en, *spec.aliases):
            if self._index.get(name) is not None:
                raise ValueError(f"command name {name!r} is already taken")
        self._specs.append(spec)
        self._index.add(spec, [spec.name, spec.en, *spec.aliases])
        return spec

    def find(self, name: str) -> CommandSpec | None:
        return self._index.get(name.lstrip("!"))

    def suggest(self, name: str) -> list[str]:
        return self._index.suggest(name.lstrip("!"))

    def all(self) -> Sequence[CommandSpec]:
        return tuple(self._specs)


REGISTRY = Registry()


def command(
    name: str,
    *,
    en: str,
    args: tuple[Arg, ...] = (),
    aliases: tuple[str, ...] = (),
    access: Access = Access.KNOWN,
    usage_override: dict[str, str] | None = None,
    reads_only: bool = False,
) -> Callable[[Handler], Handler]:
    """Register the decorated handler as a command; the handler gets its arguments by name."""

    def wrap(handler: Handler) -> Handler:
        REGISTRY.register(CommandSpec(name=name, en=en, run=handler, args=args, aliases=aliases,
                                      access=access, usage_override=usage_override or {}, reads_only=reads_only))
        return handler

    return wrap


def on_reaction(kind: str, *, unproven: bool = False) -> Callable[[ReactionHandler], ReactionHandler]:
    """Register what an approving reaction on a message with ref 'kind:…' does; with `unproven`, what it does
    when the sender's sessions prove too little (else such a ✅ is refused)."""

    def wrap(handler: ReactionHandler) -> ReactionHandler:
        (UNPROVEN_REACTIONS if unproven else REACTIONS)[kind] = handler
        return handler

    return wrap
