"""Incoming message or reaction -> command -> state and replies, in one transaction.

A command either succeeds, and its state changes, outgoing messages and the handled mark
commit together; or it fails, its changes roll back, and the error reply and handled mark
commit in a second transaction. Either way the event is handled exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands import REGISTRY
from bot.commands.registry import REACTIONS, UNPROVEN_REACTIONS, Access, CommandSpec
from bot.config import Reloaded
from bot.domain.clock import Clock
from bot.domain.directory import Directory
from bot.domain.flood import Flood, Verdict
from bot.domain.rota import Schedule
from bot.flows import identity
from bot.flows.context import Context, StandInsRead
from bot.flows.errors import NotAllowed, UnknownName, UserError
from bot.messages import PRIORITY_ANSWER, Incoming, Message, Outgoing, Reaction, approves, matrix_reachable
from bot.ops import metrics
from bot.state import repo
from bot.state.db import Database, written
from bot.state.models import OutboxMessage, StandInRow
from bot.state.vault import Vault
from bot.texts import t
from bot.texts.rich import Rich

log = logging.getLogger(__name__)

_COMMAND = re.compile(r"(\S+)\s*(.*)", re.DOTALL)
MAX_BODY = 16_000  # characters; a longer command is answered with the limit and not run

Runner = Callable[[Context], Awaitable[list[Outgoing]]]
T = TypeVar("T")


def strip_reply_fallback(body: str) -> str:
    """Drop the '> <@user> quoted text' lines older clients put before a reply."""
    lines = body.splitlines()
    if not lines or not lines[0].startswith("> <"):
        return body
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).lstrip()


class Dispatcher:
    """Turns each event (a command, a reaction, due work) into one transaction: state, replies and the handled mark."""

    def __init__(self, db: Database, directory: Directory, clock: Clock,
                 on_enqueued: Callable[[frozenset[str], list[OutboxMessage]], None] = lambda tables, rows: None,
                 rooms: Mapping[str, str] | None = None, reload: Callable[[], Awaitable[Reloaded]] | None = None,
                 bot_user: str = "", forums_changed: Callable[[], Awaitable[None]] | None = None,
                 vault: Vault | None = None) -> None:
        self.db = db
        self.vault = vault
        # A forum formed or dissolved: the world is read again before the next event is handled.
        self.forums_changed = forums_changed
        self.bot_user = bot_user  # internal work runs as the bot
        self.reload = reload
        self.directory = directory
        self.clock = clock
        self.on_enqueued = on_enqueued
        self.rooms: Mapping[str, str] = rooms if rooms is not None else {}
        # One thing at a time: commands, reactions and timers never interleave their transactions.
        self._lock = asyncio.Lock()
        # Read by one command, used by the next, dropped when a transaction writes them: most commands
        # ask who holds what, and stand-ins change seldom.
        self._stand_ins: StandInsRead | None = None
        self.flood = Flood()
        self._identities: dict[str, str] = {}  # user -> the master key last noted for them
        self.schedules: dict[str, Schedule] = {}  # function id -> its duty schedule, as its feed has it

    @property
    def lang(self) -> str:
        return self.directory.settings.bot.language

    def parse(self, incoming: Incoming) -> tuple[str, str] | None:
        """(command word, the rest) if the message is a command, else None."""
        text = strip_reply_fallback(incoming.body).strip()
        prefix = self.directory.settings.bot.command_prefix
        if not text.startswith(prefix):
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
        if incoming.master_key is not None:
            await self._note_identity(incoming.sender, incoming.master_key, incoming.event_id)

        async def run(ctx: Context) -> list[Outgoing]:
            if len(incoming.body) > MAX_BODY:
                return await self._too_long(ctx, name)
            return await self._run_command(ctx, name, rest)

        await self._process(incoming, run, REGISTRY.find(name))

    async def handle_reaction(self, reaction: Reaction) -> None:
        """A ✅/👍 on one of the bot's messages does what that message asked for."""
        if not approves(reaction.key):
            return
        if reaction.master_key is not None:
            await self._note_identity(reaction.sender, reaction.master_key, reaction.event_id)
        incoming = Incoming(reaction.room_id, reaction.sender, reaction.event_id, reaction.key, reaction.sent_at,
                            master_key=reaction.master_key)

        async def run(ctx: Context) -> list[Outgoing]:
            if not await ctx.is_known():
                return []
            target = await repo.outbox_by_event(ctx.session, reaction.reacts_to)
            if target is None or not target.ref:
                return []
            kind, _, value = target.ref.partition(":")
            handler = REACTIONS.get(kind)
            if handler is None:
                return []
            # A ✅ acknowledges, confirms or approves, and no client encrypts it: it counts only when every
            # session of its sender is cross-signed by the identity the bot trusts.
            doubt = await self._doubt(ctx, device_unsigned=not reaction.all_signed, plaintext=False,
                                      unproven="error.unverified_sessions")
            if doubt is not None:
                unproven = UNPROVEN_REACTIONS.get(kind)
                if unproven is None:
                    raise NotAllowed(doubt, action=f"reaction:{kind}")
                return await unproven(ctx, value)
            return await handler(ctx, value)

        await self._process(incoming, run, None)

    async def handle_undecryptable(self, incoming: Incoming) -> None:
        """An encrypted message the bot has no key for: it may have been a command, so ask for it again."""

        async def run(ctx: Context) -> list[Outgoing]:
            if not await ctx.is_known():
                return []
            rich = Rich().text(ctx.t("error.undecryptable"))
            if incoming.device_unsigned:
                rich.br().text(ctx.t("error.unsigned_device"))
            return [ctx.reply(rich)]

        await self._process(incoming, run, None)

    async def run_internal(self, key: str, run: Runner) -> None:
        """Work the bot starts itself (an escalation, a failed delivery, an SMS that came in), handled once per
        `key`.

        It runs as the bot; a failure is logged with an incident id and nobody gets a reply.
        """
        internal = Incoming(room_id="", sender=self.bot_user, event_id=key, body=key, sent_at=self.clock.now())
        await self._process(internal, run, None)

    async def read(self, run: Callable[[Context], Awaitable[T]]) -> T:
        """Read what the bot keeps through the flows (the board's state), as the bot, in a session of its own:
        nothing is claimed, written or sent."""
        asking = Incoming(room_id="", sender=self.bot_user, event_id="", body="", sent_at=self.clock.now())
        async with self.db.session() as session:
            return await run(self._context(asking, session))

    async def drain(self) -> None:
        """Until the command or timer step in hand has finished."""
        async with self._lock:
            pass

    async def _process(self, incoming: Incoming, run: Runner, spec: CommandSpec | None) -> None:
        async def locked() -> None:
            async with self._lock:
                await self._process_locked(incoming, run, spec)

        await asyncio.shield(locked())  # a command, once begun, commits whole even if the caller is cancelled

    async def _process_locked(self, incoming: Incoming, run: Runner, spec: CommandSpec | None) -> None:
        messages: list[Outgoing]
        refused: NotAllowed | None = None
        try:
            async with self.db.session() as session:
                if not await repo.claim(session, incoming.event_id, incoming.room_id, self.clock.now()):
                    return  # handled before
                ctx = self._context(incoming, session)
                messages = matrix_reachable(await run(ctx))
                rows = await repo.enqueue(session, incoming.event_id, messages, self.clock.now())
            for counted in ctx.committed:
                counted()
            if spec is not None:
                metrics.COMMANDS.labels("ok").inc()
            tables = written(session)
            self._stand_ins = None if StandInRow.__tablename__ in tables else ctx.known_stand_ins
            if "formed_forum" in tables and self.forums_changed is not None:
                await self.forums_changed()
            self.on_enqueued(tables, rows)
            return
        except UserError as exc:
            messages = [self._error_reply(incoming, exc, spec)]
            refused = exc if isinstance(exc, NotAllowed) else None
            metrics.COMMANDS.labels("refused" if refused else "error").inc()
        except Exception:
            metrics.COMMANDS.labels("incident").inc()
            incident = uuid.uuid4().hex[:8]
            log.exception("incident %s: %r from %s in %s failed", incident, incoming.body[:100],
                          incoming.sender, incoming.room_id, extra={"incident": incident})
            messages = [self._reply(incoming, Rich().text(self._t("error.incident", incident=incident)))]
        if not incoming.room_id:
            messages = []  # internal work has nobody to answer
        async with self.db.session() as session:
            if not await repo.claim(session, incoming.event_id, incoming.room_id, self.clock.now()):
                return
            if refused is not None:
                await repo.audit(session, at=self.clock.now(), user_id=incoming.sender, action=refused.action,
                                 forum_id=refused.forum_id, allowed=False, event_id=incoming.event_id,
                                 detail={"reason": refused.key})
            rows = await repo.enqueue(session, incoming.event_id, messages, self.clock.now())
        self.on_enqueued(written(session), rows)

    async def _doubt(self, ctx: Context, *, device_unsigned: bool, plaintext: bool, unproven: str) -> str | None:
        """Why an event may not change state or ring phones, where only cross-signed sessions may (a stolen
        password alone must not ring forty phones): sent in the clear, from a session its owner has not
        cross-signed (`unproven`), or under an identity that changed and is not yet approved. None if it may."""
        if self.directory.settings.security.commands_from != "cross-signed":
            return None
        if plaintext:
            return "error.plaintext"
        if device_unsigned:
            return unproven
        key = ctx.incoming.master_key
        if key is not None and not await identity.trusted(ctx, ctx.sender, key):
            return "error.identity_new" if await identity.waits_first(ctx, ctx.sender) else "error.identity_changed"
        return None

    async def _note_identity(self, user_id: str, key: str, event_id: str) -> None:
        """Keep the master key a person's event came with: the first is pinned, a change is told once. Its own
        step, so that it holds even when the event itself is refused."""
        if self._identities.get(user_id) == key:
            return

        async def run(ctx: Context) -> list[Outgoing]:
            return await identity.observe(ctx, user_id, key)

        await self.run_internal(f"identity:{event_id}", run)
        self._identities[user_id] = key

    def _context(self, incoming: Incoming, session: AsyncSession) -> Context:
        return Context(incoming, session, self.directory, self.clock, self.lang, self.rooms, self.reload,
                       self.bot_user, self._stand_ins, self.vault, self.schedules)

    async def _too_long(self, ctx: Context, name: str) -> list[Outgoing]:
        """A command longer than the bot reads: a sentence with the limit, and a record of it; nothing else."""
        if not await ctx.is_known():
            return [ctx.reply(Rich().text(ctx.t("error.unknown_sender", user=ctx.sender)))]
        await repo.audit(ctx.session, at=self.clock.now(), user_id=ctx.sender, action=f"command:{name[:50]}",
                         allowed=False, event_id=ctx.incoming.event_id,
                         detail={"reason": "too long", "characters": len(ctx.incoming.body)})
        return [ctx.reply(Rich().text(ctx.t("error.message_too_long", command="!" + name[:50], limit=MAX_BODY,
                                            length=len(ctx.incoming.body))))]

    async def _run_command(self, ctx: Context, name: str, rest: str) -> list[Outgoing]:
        limit = self.directory.settings.bot.commands_per_minute
        verdict = self.flood.check(ctx.sender, self.clock.now(), limit)
        if verdict is not Verdict.OK:  # faster than a person types: one warning, then a minute of silence
            await repo.audit(ctx.session, at=self.clock.now(), user_id=ctx.sender, action=f"command:{name[:50]}",
                             allowed=False, event_id=ctx.incoming.event_id,
                             detail={"reason": f"flood: {verdict.value}"})
            if verdict is Verdict.IGNORE:
                return []
            return [ctx.reply(Rich().text(ctx.t("error.flood", limit=limit)))]
        if not await ctx.is_known():
            await repo.audit(ctx.session, at=self.clock.now(), user_id=ctx.sender, action=f"command:{name[:50]}",
                             allowed=False, event_id=ctx.incoming.event_id, detail={"reason": "unknown sender"})
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
        if not spec.reads_only:
            doubt = await self._doubt(ctx, device_unsigned=ctx.incoming.device_unsigned,
                                      plaintext=ctx.incoming.plaintext, unproven="error.unverified_session")
            if doubt is not None:
                raise NotAllowed(doubt, action=f"command:{spec.name}")
        arguments = spec.parse(ctx, rest)
        return await spec.run(ctx, **arguments)

    def _t(self, key: str, **values: object) -> str:
        return t(self.lang, key, **values)

    def _reply(self, incoming: Incoming, rich: Rich) -> Message:
        return Message(target=incoming.room_id, body=rich.plain, html=rich.html, reply_to=incoming.event_id,
                       thread_root=incoming.thread_root, priority=PRIORITY_ANSWER)

    def _error_reply(self, incoming: Incoming, exc: UserError, spec: CommandSpec | None) -> Message:
        text = self._t(exc.key, **exc.values)
        if isinstance(exc, NotAllowed):
            text = self._t("error.not_allowed", reason=text)
        rich = Rich().text(text)
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
