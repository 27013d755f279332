"""Incoming message -> command -> state and replies, in one transaction.

A command either succeeds, and its state changes, outgoing messages and the handled mark
commit together; or it fails, its changes roll back, and the error reply and handled mark
commit in a second transaction. Either way the event is handled exactly once.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands import REGISTRY
from bot.commands.context import Context
from bot.commands.errors import NotAllowed, UnknownName, UserError
from bot.commands.registry import Access, CommandSpec
from bot.domain.clock import Clock
from bot.domain.directory import Directory
from bot.messages import Incoming, Message
from bot.state import repo
from bot.state.db import Database
from bot.texts import t
from bot.texts.rich import Rich

log = logging.getLogger(__name__)

_COMMAND = re.compile(r"(\S+)\s*(.*)", re.DOTALL)
MAX_BODY = 16_000  # characters; longer messages are not read as commands


def strip_reply_fallback(body: str) -> str:
    """Drop the '> <@user> quoted text' lines older clients put before a reply."""
    lines = body.splitlines()
    if not lines or not lines[0].startswith("> <"):
        return body
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).lstrip()


class Inbox:
    def __init__(self, db: Database, directory: Directory, clock: Clock,
                 on_enqueued: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.directory = directory
        self.clock = clock
        self.on_enqueued = on_enqueued

    @property
    def lang(self) -> str:
        return self.directory.settings.bot.language

    def parse(self, incoming: Incoming) -> tuple[str, str] | None:
        """(command word, the rest) if the message is a command, else None."""
        text = strip_reply_fallback(incoming.body).strip()
        prefix = self.directory.settings.bot.command_prefix
        if not text.startswith(prefix) or len(text) > MAX_BODY:
            return None
        match = _COMMAND.match(text[len(prefix):])
        if match is None or not match.group(1)[0].isalpha():
            return None
        return match.group(1), match.group(2)

    async def handle(self, incoming: Incoming) -> None:
        """Handle one message; safe to call twice with the same event."""
        parsed = self.parse(incoming)
        if parsed is None:
            return
        name, rest = parsed
        messages: list[Message]
        refused: NotAllowed | None = None
        try:
            async with self.db.session() as session:
                if await repo.is_handled(session, incoming.event_id):
                    return
                ctx = Context(incoming, session, self.directory, self.clock, self.lang)
                messages = await self._run(ctx, name, rest)
                await self._commit(session, incoming, messages)
            self.on_enqueued()
            return
        except UserError as exc:
            spec = REGISTRY.find(name)
            messages = [self._error_reply(incoming, exc, spec)]
            refused = exc if isinstance(exc, NotAllowed) else None
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("incident %s: command %r from %s in %s failed", incident, name,
                          incoming.sender, incoming.room_id)
            messages = [self._reply(incoming, Rich().text(self._t("error.incident", incident=incident)))]
        async with self.db.session() as session:
            if await repo.is_handled(session, incoming.event_id):
                return
            if refused is not None:
                await repo.audit(session, at=self.clock.now(), user_id=incoming.sender, action=refused.action,
                                 forum_id=refused.forum_id, allowed=False, event_id=incoming.event_id)
            await self._commit(session, incoming, messages)
        self.on_enqueued()

    async def _run(self, ctx: Context, name: str, rest: str) -> list[Message]:
        if not self.directory.is_known(ctx.sender):
            return [ctx.reply(Rich().text(ctx.t("error.unknown_sender", user=ctx.sender)))]
        spec = REGISTRY.find(name)
        if spec is None:
            rich = Rich().text(ctx.t("error.unknown_command", command="!" + name[:50]))
            suggestions = REGISTRY.suggest(name)
            if suggestions:
                rich.text(" " + ctx.t("error.did_you_mean", suggestions=" / ".join("!" + s for s in suggestions)))
            return [ctx.reply(rich.text(" " + ctx.t("error.see_help")))]
        if spec.access is Access.ADMIN and not self.directory.is_admin(ctx.sender):
            raise NotAllowed("error.admin_only", action=spec.name)
        arguments = spec.parse(ctx, rest)
        return await spec.run(ctx, **arguments)

    async def _commit(self, session: AsyncSession, incoming: Incoming, messages: list[Message]) -> None:
        await repo.enqueue(session, incoming.event_id, messages, self.clock.now())
        await repo.mark_handled(session, incoming.event_id, incoming.room_id, self.clock.now())

    def _t(self, key: str, **values: object) -> str:
        return t(self.lang, key, **values)

    def _reply(self, incoming: Incoming, rich: Rich) -> Message:
        return Message(target=incoming.room_id, body=rich.plain, html=rich.html, reply_to=incoming.event_id)

    def _error_reply(self, incoming: Incoming, exc: UserError, spec: CommandSpec | None) -> Message:
        rich = Rich().text(self._t(exc.key, **exc.values))
        if isinstance(exc, UnknownName):
            if exc.suggestions:
                rich.text(" " + self._t("error.did_you_mean", suggestions=" / ".join(exc.suggestions)))
            if exc.known:
                shown = exc.known[:12]
                rich.br().text(self._t("error.known_names", names=", ".join(shown)
                                       + (" …" if len(exc.known) > len(shown) else "")))
        if spec is not None and (exc.show_usage or isinstance(exc, UnknownName)):
            rich.br().text(self._t("error.usage", usage=spec.usage(self.lang)))
        return self._reply(incoming, rich)
