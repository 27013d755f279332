"""What an event proves about its session, judged by the real dispatcher on a real database: a plaintext
command rings nobody in any room, a ✅ counts only from someone whose sessions are all verified, a changed
identity is refused until an administrator approves it, and the flood limit follows its setting.

The integration tests (`tests/integration/test_stolen_password.py`) show the same on the real homeserver
with Element's crypto stack; these show every room kind and every ✅ kind quickly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.commands.registry import REACTIONS, UNPROVEN_REACTIONS
from bot.config import parse_settings
from bot.domain import identity
from bot.domain.clock import FakeClock
from bot.domain.directory import Directory
from bot.messages import MESSAGE, Incoming, Message, Reaction, message_from_data
from bot.runtime.dispatch import Dispatcher
from bot.state import identities
from bot.state.db import Database
from bot.state.models import AuditEntry, Convocation, ForumStateRow, OutboxMessage, Summons
from bot.state.repo import transaction_id

TIB, SOS, ADMIN, BOT = "@tib:example.org", "@sos:example.org", "@admin:example.org", "@bot:example.org"
RSIB = "@rsib:example.org"
FORUM, HOME, LOG, DIRECT = "!forum:example.org", "!lst:example.org", "!logg:example.org", "!dm-tib:example.org"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
# Master keys as the homeserver serves them (unpadded base64 of 32 bytes).
OLD_KEY, NEW_KEY, THIRD_KEY = ("masterkeyAAAA" + "a" * 30, "masterkeyBBBB" + "b" * 30, "masterkeyCCCC" + "c" * 30)


def settings(url: str, security: dict[str, Any] | None = None, **bot: Any) -> Any:
    return parse_settings({
        "bot": {"admins": [ADMIN], "log_room": LOG, **bot},
        "security": security or {},
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": BOT},
        "database": {"url": url},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen", "home_room": HOME}, {"id": "sos", "name": "SOS"}],
        "function": [
            {"id": "lst-tib", "organisation": "lst", "name": "TiB", "may_convene": True, "holders": [TIB],
             "deputies": ["lst-rsib"]},
            {"id": "lst-rsib", "organisation": "lst", "name": "Samverkanskoordinator", "holders": [RSIB]},
            {"id": "sos-vb", "organisation": "sos", "name": "Vakthavande", "holders": [SOS]},
        ],
        "forum": [{"id": "samordnande", "name": "Samordnande", "level": "samordnande", "room": FORUM,
                   "chair": "lst-tib", "ordinary": ["lst-tib", "sos-vb"]}],
    })


class Bot:
    """The dispatcher over a fresh SQLite database, with what it would send."""

    def __init__(self, tmp_path: Path, security: dict[str, Any] | None = None, **bot: Any) -> None:
        self.settings = settings(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", security, **bot)
        self.db = Database(self.settings.database.url)
        self.clock = FakeClock(T0)
        self.dispatch = Dispatcher(self.db, Directory.build(self.settings), self.clock, bot_user=BOT)
        self.count = 0

    async def __aenter__(self) -> Bot:
        await self.db.migrate()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.db.close()

    async def pin_ahead(self, user_id: str, key: str | None) -> None:
        """As the bot's key query does before the person writes: the key served then (or none) is pinned."""
        await self.db.write(lambda session: identities.put(session, identity.pin_ahead(user_id, key), self.clock.now()))

    async def say(self, sender: str, body: str, room: str = FORUM, **proof: Any) -> str:
        self.count += 1
        event_id = f"$e{self.count}"
        await self.dispatch.handle(Incoming(room, sender, event_id, body, self.clock.now(),
                                            is_direct=room == DIRECT, **proof))
        return event_id

    async def react(self, sender: str, to: str, **proof: Any) -> str:
        self.count += 1
        event_id = f"$r{self.count}"
        await self.dispatch.handle_reaction(Reaction(FORUM, sender, event_id, to, "✅", self.clock.now(), **proof))
        return event_id

    async def rows(self, model: Any) -> list[Any]:
        async with self.db.session() as session:
            return list((await session.exec(select(model))).all())

    async def refusals(self) -> list[tuple[str, str, str]]:
        return [(a.user_id, a.action, json.loads(a.detail).get("reason", "")) for a in await self.rows(AuditEntry)
                if not a.allowed]

    async def said(self, cause: str) -> list[Message]:
        """What the bot would send because of event `cause`."""
        ids = {transaction_id(cause, i) for i in range(50)}
        return [m for r, m in await self._all() if r.txn_id in ids]

    async def say_all(self) -> list[Message]:
        """Everything the bot would send so far."""
        return [m for _, m in await self._all()]

    async def _all(self) -> list[tuple[OutboxMessage, Message]]:
        rows = sorted(await self.rows(OutboxMessage), key=lambda r: r.id or 0)
        data = [(r, json.loads(r.content)) for r in rows]
        return [(r, message_from_data(d[MESSAGE])) for r, d in data if MESSAGE in d]

    async def sent_as(self, ref_prefix: str) -> str:
        """Give the first outgoing message whose ref starts with `ref_prefix` an event id, as the outbox would."""
        async with self.db.session() as session:
            row = (await session.exec(select(OutboxMessage).where(col(OutboxMessage.ref).startswith(ref_prefix))
                                      .order_by(col(OutboxMessage.id)))).first()
            assert row is not None, ref_prefix
            row.event_id = f"$sent{row.id}"
            session.add(row)
            return row.event_id


@pytest.mark.parametrize("room", [FORUM, DIRECT, HOME, LOG], ids=["forum", "direct", "home", "log"])
async def test_a_plaintext_command_changes_nothing_in_any_room_and_reading_stays_open(tmp_path: Path,
                                                                                     room: str) -> None:
    async with Bot(tmp_path) as bot:
        tried = await bot.say(TIB, "!aktivera samordnande klartextlarm", room, plaintext=True)
        assert await bot.rows(Convocation) == [], "nobody convened, nobody rung"
        assert await bot.refusals() == [(TIB, "command:aktivera", "error.plaintext")], "exactly one audit row"
        answer = await bot.said(tried)
        assert len(answer) == 1 and answer[0].target == room
        assert "tas inte emot okrypterade" in answer[0].body

        read = await bot.say(TIB, "!status samordnande", room, plaintext=True)
        assert "Samordnande" in (await bot.said(read))[0].body
        assert len(await bot.refusals()) == 1, "reading is not refused"

        await bot.say(TIB, "!aktivera samordnande storm", room)  # the same person from a verified session
        assert len(await bot.rows(Convocation)) == 1


async def test_the_commands_setting_any_takes_plaintext_as_before(tmp_path: Path) -> None:
    """A deployment that chose `commands_from = "any"` is not changed by the rule."""
    async with Bot(tmp_path, security={"commands_from": "any"}) as bot:
        await bot.say(TIB, "!aktivera samordnande storm", plaintext=True)
        assert len(await bot.rows(Convocation)) == 1 and await bot.refusals() == []


async def test_a_reset_identity_is_refused_told_once_and_restored_by_an_administrator(tmp_path: Path) -> None:
    async with Bot(tmp_path) as bot:
        await bot.pin_ahead(TIB, OLD_KEY)
        await bot.say(TIB, "!status", master_key=OLD_KEY)
        first = await bot.say(TIB, "!aktivera samordnande storm", master_key=NEW_KEY)
        second = await bot.say(TIB, "!kalla samordnande storm", master_key=NEW_KEY)
        assert await bot.rows(Convocation) == []
        assert [r for r in await bot.refusals() if r[1].startswith("command:")] == [
            (TIB, "command:aktivera", "error.identity_changed"), (TIB, "command:kalla", "error.identity_changed")]
        told = [m for m in await bot.say_all() if m.target == LOG]
        assert len(told) == 1, "the log room is told once"
        assert TIB in told[0].body and "10:00" in told[0].body and ". " not in told[0].body
        assert identity.fingerprint(NEW_KEY) in told[0].body, "the new key's fingerprint"
        assert "bytts ut" in (await bot.said(first))[0].body and "bytts ut" in (await bot.said(second))[0].body

        approve = f"!identitet godkänn {TIB} {identity.fingerprint(NEW_KEY)}"
        refused = await bot.say(SOS, approve)
        assert "administratörer" in (await bot.said(refused))[0].body or "administratör" in \
            (await bot.said(refused))[0].body
        listing = await bot.say(ADMIN, "!identitet")
        assert TIB in (await bot.said(listing))[0].body
        assert "ny nyckel " + identity.fingerprint(NEW_KEY) in (await bot.said(listing))[0].body
        for wrong in ("!identitet godkänn tib", "!identitet godkänn " + TIB, f"!identitet godkänn {TIB} abcd"):
            bad = await bot.say(ADMIN, wrong)
            assert "Användning: !identitet" in (await bot.said(bad))[0].body, wrong
        in_the_clear = await bot.say(ADMIN, approve, plaintext=True)  # the admin's password
        assert "okrypterade" in (await bot.said(in_the_clear))[0].body
        assert (ADMIN, "command:identitet", "error.plaintext") in await bot.refusals()
        approved = await bot.say(ADMIN, approve)
        assert "är godkänd" in (await bot.said(approved))[0].body
        again = await bot.say(ADMIN, approve)
        assert "Ingenting ändrades" in (await bot.said(again))[0].body
        approvals = [a for a in await bot.rows(AuditEntry) if a.action == "identity:approve" and a.allowed]
        assert [(a.user_id, json.loads(a.detail)["user"]) for a in approvals] == [(ADMIN, TIB)], "audited once"

        await bot.say(TIB, "!aktivera samordnande storm", master_key=NEW_KEY)
        assert len(await bot.rows(Convocation)) == 1, "the approved identity acts again"
        assert len([m for m in await bot.say_all() if m.target == LOG and "ny identitet" in m.body]) == 1


async def test_an_identity_that_changes_back_is_trusted_and_a_third_key_is_told_again(tmp_path: Path) -> None:
    async with Bot(tmp_path) as bot:
        await bot.pin_ahead(TIB, OLD_KEY)
        await bot.say(TIB, "!status", master_key=NEW_KEY)
        await bot.say(TIB, "!aktivera samordnande storm", master_key=OLD_KEY)
        assert len(await bot.rows(Convocation)) == 1, "the pinned key is trusted again"
        await bot.say(TIB, "!status", master_key=THIRD_KEY)
        assert len([m for m in await bot.say_all() if m.target == LOG and "ny identitet" in m.body]) == 2


async def test_a_reaction_that_confirms_counts_only_when_every_session_is_verified(tmp_path: Path) -> None:
    async with Bot(tmp_path) as bot:
        await bot.say(SOS, "!aktivera samordnande storm")  # a member files a request; the TiB confirms
        request = await bot.sent_as("request:")
        refused = await bot.react(TIB, request, all_signed=False)
        assert await bot.rows(Convocation) == []
        assert await bot.refusals() == [(TIB, "reaction:request", "error.unverified_sessions")]
        answer = await bot.said(refused)
        assert len(answer) == 1 and "alla dina sessioner är verifierade" in answer[0].body

        await bot.pin_ahead(TIB, NEW_KEY)  # as the bot's key query pinned it before the TiB wrote
        await bot.react(TIB, request, all_signed=True, master_key=NEW_KEY)
        assert len(await bot.rows(Convocation)) == 1, "one tap from someone whose sessions are all verified"


async def test_a_reaction_under_a_changed_identity_confirms_nothing(tmp_path: Path) -> None:
    async with Bot(tmp_path) as bot:
        await bot.pin_ahead(TIB, OLD_KEY)
        await bot.say(SOS, "!aktivera samordnande storm")
        request = await bot.sent_as("request:")
        await bot.react(TIB, request, all_signed=True, master_key=NEW_KEY)
        assert await bot.rows(Convocation) == []
        assert (TIB, "reaction:request", "error.identity_changed") in await bot.refusals()


async def test_an_acknowledgement_from_an_account_with_an_unverified_session_does_not_stop_the_escalation(
        tmp_path: Path) -> None:
    async with Bot(tmp_path) as bot:
        await bot.say(TIB, "!kalla samordnande storm")
        convocation = await bot.sent_as("conv:")
        noted = await bot.react(TIB, convocation, all_signed=False)
        summons = {s.function_id: s for s in await bot.rows(Summons)}
        assert summons["lst-tib"].ack_at is None and summons["lst-tib"].ack_by == TIB
        assert await bot.refusals() == [(TIB, "acknowledge", "error.unverified_sessions")]
        told = await bot.said(noted)
        assert len(told) == 1 and told[0].target == f"user:{TIB}" and "räknas inte" in told[0].body

        bot.clock.advance(timedelta(minutes=5))
        await bot.dispatch.run_internal("escalate", lambda ctx: escalate(ctx))
        deputies = [s for s in await bot.rows(Summons) if s.deputy_for == "lst-tib"]
        assert [s.function_id for s in deputies] == ["lst-rsib"], "the deputy is convened as if nobody answered"
        report = await bot.say(SOS, "!kallelse samordnande")
        assert "medan en overifierad session fanns" in (await bot.said(report))[0].body

        await bot.react(SOS, await bot.sent_as("conv:"), all_signed=True)
        acked = {s.function_id: s.ack_by for s in await bot.rows(Summons) if s.ack_at is not None}
        assert SOS in acked.values(), "a verified person's ✅ acknowledges"


async def escalate(ctx: Any) -> list[Any]:
    from bot.flows.convocation import escalate as run
    summonses = [s for s in await ctx_rows(ctx)]
    return await run(ctx, summonses[0].convocation_id, [s.id for s in summonses])


async def ctx_rows(ctx: Any) -> list[Summons]:
    return list((await ctx.session.exec(select(Summons))).all())


@pytest.mark.parametrize("limit", [3, 25])
async def test_the_flood_limit_follows_its_setting(tmp_path: Path, limit: int) -> None:
    async with Bot(tmp_path, commands_per_minute=limit) as bot:
        for _ in range(limit):
            bot.clock.advance(timedelta(seconds=1))
            await bot.say(SOS, "!status")
        assert await bot.refusals() == [], f"{limit} a minute pass"
        warned = await bot.say(SOS, "!status")
        warning = await bot.said(warned)
        assert len(warning) == 1 and f"fler än {limit} kommandon" in warning[0].body
        silent = await bot.say(SOS, "!status")
        assert await bot.said(silent) == [], "then silence"
        assert [r[2] for r in await bot.refusals()] == ["flood: warn", "flood: ignore"]


async def test_every_kind_of_tick_that_changes_something_is_refused_from_an_account_with_an_unverified_session(
        tmp_path: Path) -> None:
    """Every message a ✅ acts on (a request, an SMHI proposal, a joint message, a direction, a roll call, a
    convocation, and any added later): one answer, one audit row, nothing done."""
    async with Bot(tmp_path) as bot:
        async with bot.db.session() as session:
            for kind in REACTIONS:
                session.add(OutboxMessage(txn_id=f"t-{kind}", target=FORUM, content="{}", created_at=T0,
                                          not_before=T0, event_id=f"$about-{kind}", ref=f"{kind}:1"))
        for kind in REACTIONS:
            tick = await bot.react(TIB, f"$about-{kind}", all_signed=False)
            if kind in UNPROVEN_REACTIONS:
                continue  # noted instead, and its escalation goes on: shown above for the convocation
            assert len(await bot.said(tick)) == 1, kind
            assert [r for r in await bot.refusals() if r[1] == f"reaction:{kind}"] == [
                (TIB, f"reaction:{kind}", "error.unverified_sessions")], kind
        assert set(REACTIONS) >= {"request", "budskap", "återfört", "rollcall", "conv"}
        assert set(UNPROVEN_REACTIONS) == {"conv"}, "only one's own acknowledgement is noted"
        assert await bot.rows(Convocation) == []


async def test_an_administrator_whose_own_identity_changed_cannot_approve_it(tmp_path: Path) -> None:
    """A thief with an administrator's password resets that identity: it cannot approve itself; another
    administrator can."""
    async with Bot(tmp_path, admins=[ADMIN, "@admin2:example.org"]) as bot:
        await bot.pin_ahead(ADMIN, OLD_KEY)
        await bot.pin_ahead("@admin2:example.org", THIRD_KEY)
        approve = f"!identitet godkänn {ADMIN} {identity.fingerprint(NEW_KEY)}"
        tried = await bot.say(ADMIN, approve, master_key=NEW_KEY)
        assert "bytts ut" in (await bot.said(tried))[0].body
        assert [a for a in await bot.rows(AuditEntry) if a.action == "identity:approve"] == []
        await bot.say("@admin2:example.org", approve, master_key=THIRD_KEY)
        assert len([a for a in await bot.rows(AuditEntry) if a.action == "identity:approve"]) == 1


async def test_a_first_identity_shown_with_the_persons_own_command_waits_for_an_administrator(
        tmp_path: Path) -> None:
    """An identity the bot did not pin ahead of time (a password is enough to create an account's first
    cross-signing keys): refused, audited, told to the log room once with its fingerprint, until approved."""
    async with Bot(tmp_path) as bot:
        first = await bot.say(TIB, "!aktivera samordnande storm", master_key=NEW_KEY)
        second = await bot.say(TIB, "!kalla samordnande storm", master_key=NEW_KEY)
        assert await bot.rows(Convocation) == []
        assert [r for r in await bot.refusals() if r[1] != "identity:first"] == [
            (TIB, "command:aktivera", "error.identity_new"), (TIB, "command:kalla", "error.identity_new")]
        assert [r for r in await bot.refusals() if r[1] == "identity:first"] == [
            (TIB, "identity:first", "error.identity_new")], "audited once"
        for cause in (first, second):
            assert "är ny för mig" in (await bot.said(cause))[0].body
        told = [m for m in await bot.say_all() if m.target == LOG]
        assert len(told) == 1, "the log room is told once"
        assert "första identitet" in told[0].body and TIB in told[0].body and "10:00" in told[0].body
        assert identity.fingerprint(NEW_KEY) in told[0].body and ". " not in told[0].body, "one sentence"

        await bot.say(SOS, "!aktivera samordnande storm")  # a member's request: the TiB's ✅ confirms nothing
        await bot.react(TIB, await bot.sent_as("request:"), all_signed=True, master_key=NEW_KEY)
        assert await bot.rows(Convocation) == []
        assert (TIB, "reaction:request", "error.identity_new") in await bot.refusals()

        listing = await bot.say(ADMIN, "!identitet")
        assert "första nyckel " + identity.fingerprint(NEW_KEY) in (await bot.said(listing))[0].body
        approved = await bot.say(ADMIN, f"!identitet godkänn {TIB} {identity.fingerprint(NEW_KEY)}")
        assert "är godkänd" in (await bot.said(approved))[0].body
        await bot.say(TIB, "!aktivera samordnande storm", master_key=NEW_KEY)
        assert len(await bot.rows(Convocation)) == 1, "approved, the identity acts"
        assert len([m for m in await bot.say_all() if m.target == LOG and "identitet" in m.body]) == 1, "told once"


async def test_an_identity_that_appears_on_an_account_the_bot_saw_without_one_waits_for_an_administrator(
        tmp_path: Path) -> None:
    async with Bot(tmp_path) as bot:
        await bot.pin_ahead(TIB, None)  # the key query at the bot's start: no cross-signing yet
        await bot.say(TIB, "!aktivera samordnande storm", master_key=NEW_KEY)
        assert await bot.rows(Convocation) == []
        assert (TIB, "command:aktivera", "error.identity_new") in await bot.refusals()
        assert len([m for m in await bot.say_all() if m.target == LOG and "första identitet" in m.body]) == 1


async def test_an_identity_pinned_ahead_of_time_acts_at_once_and_its_tick_confirms(tmp_path: Path) -> None:
    """The positive control: the bot pinned the key from a key query before the person wrote."""
    async with Bot(tmp_path) as bot:
        await bot.pin_ahead(TIB, OLD_KEY)
        await bot.say(SOS, "!aktivera samordnande storm")
        await bot.react(TIB, await bot.sent_as("request:"), all_signed=True, master_key=OLD_KEY)
        assert len(await bot.rows(Convocation)) == 1, "one tap confirms"
        ended = await bot.say(TIB, "!avaktivera samordnande", master_key=OLD_KEY)
        assert (await bot.rows(ForumStateRow))[0].mode == "ordinary", "a typed command acts at once"
        assert len(await bot.said(ended)) >= 1
        assert await bot.refusals() == []
        assert [m for m in await bot.say_all() if m.target == LOG and "identitet" in m.body] == []


async def test_an_approval_names_one_key_and_a_newer_reset_in_between_is_not_approved(tmp_path: Path) -> None:
    async with Bot(tmp_path) as bot:
        await bot.pin_ahead(TIB, OLD_KEY)
        await bot.say(TIB, "!status", master_key=NEW_KEY)  # reset once: the administrator reads this fingerprint
        await bot.say(TIB, "!status", master_key=THIRD_KEY)  # and again, before the approval
        tried = await bot.say(ADMIN, f"!identitet godkänn {TIB} {identity.fingerprint(NEW_KEY)}")
        answer = (await bot.said(tried))[0].body
        assert "bytts ut igen" in answer and identity.fingerprint(THIRD_KEY) in answer
        assert "Ingenting godkändes" in answer
        await bot.say(TIB, "!aktivera samordnande storm", master_key=THIRD_KEY)
        assert await bot.rows(Convocation) == [], "the newer key is not approved"
        assert (ADMIN, "identity:approve", "identity.other_key") in await bot.refusals()

        for user in (SOS, "@okand:example.org"):  # nothing waits for SOS; nobody is known by the other id
            nothing = await bot.say(ADMIN, f"!identitet godkänn {user} {identity.fingerprint(OLD_KEY)}")
            said = await bot.said(nothing)
            assert len(said) == 1 and "Ingenting ändrades" in said[0].body and said[0].body.count(". ") == 1
        assert [r for r in await bot.refusals() if r[2] == "identity.nothing"] == [
            (ADMIN, "identity:approve", "identity.nothing")] * 2
        assert [a for a in await bot.rows(AuditEntry) if a.action == "identity:approve" and a.allowed] == []
