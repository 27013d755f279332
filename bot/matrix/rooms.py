"""Rooms: aliases, joining the configured rooms, invitations, and the one direct room with each person
(marked in m.direct, replaced when the person leaves it, adopted when the person opens one)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from nio import (
    InviteMemberEvent,
    JoinedMembersResponse,
    JoinedRoomsResponse,
    JoinError,
    LocalProtocolError,
    MatrixRoom,
    ProfileGetError,
    RoomCreateError,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomInviteResponse,
    RoomPutStateResponse,
    RoomResolveAliasResponse,
    SyncResponse,
)
from nio.api import RoomPreset
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.matrix.session import RateLimited, Session, retry_after
from bot.state import repo
from bot.state.db import Database

log = logging.getLogger(__name__)

MOVED = "room_moved:"  # bot_state: an upgraded room's old id -> the id of the room that replaced it
REMOVED = "removed_from:"  # bot_state: a configured room the bot was put out of -> "<leave|ban> <by> <when>"

ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


DIRECT = "dm:"  # the bot's state key prefix for a person's direct room


class DirectRoomError(Exception):
    def __init__(self, user_id: str, answer: object) -> None:
        super().__init__(f"cannot open a direct room with {user_id}: {answer}")
        self.user_id = user_id



class Rooms:
    def __init__(self, session: Session, settings: Settings, db: Database) -> None:
        self.session = session
        self.client = session.client
        self.user_id = session.user_id
        self.settings = settings
        self.db = db
        self.stopped = False  # ends opening direct rooms when the bot stops
        self.aliases: dict[str, str] = {}
        self.direct_rooms: dict[str, str] = {}  # user id -> the direct room, as stored
        self._direct_locks: dict[str, asyncio.Lock] = {}
        self._direct_data_lock = asyncio.Lock()
        self._direct_changes: list[tuple[str, str, bool]] = []  # (user, room, add) waiting to be written
        self._direct_writes: set[asyncio.Task[None]] = set()
        self.configured_room_ids: set[str] = set()
        self.formed_rooms: set[str] = set()  # aliases of the forums formed for an event: created when first needed
        self._create_lock = asyncio.Lock()
        # Rooms joined during this run: their history from before the join is not answered.
        self.joined_at: dict[str, datetime] = {}
        self._profile_names: dict[str, str | None] = {}  # user -> the display name of their profile, once read
        # Direct rooms the bot stopped using because someone else was let in: nothing more is sent there.
        self.abandoned: set[str] = set()

    def configured_rooms(self) -> list[str]:
        rooms = [forum.room for forum in self.settings.forums]
        rooms += [org.home_room for org in self.settings.organisations if org.home_room]
        if self.settings.bot.log_room:
            rooms.append(self.settings.bot.log_room)
        return list(dict.fromkeys(rooms))

    async def resolve(self, room: str) -> str | None:
        """A room id for an alias or id (an upgraded room's id gives its replacement); None if the alias does
        not exist."""
        if room in self.aliases:
            return self.aliases[room]
        if room.startswith("!"):
            return room
        if room in self.formed_rooms:
            return await self.create_forum_room(room)
        answer = await self.client.room_resolve_alias(room)
        if isinstance(answer, RoomResolveAliasResponse):
            self.aliases[room] = str(answer.room_id)
            return self.aliases[room]
        log.warning("room %s cannot be resolved: %s", room, answer)
        return None

    async def create_forum_room(self, alias: str) -> str | None:
        """The room of a forum formed for an event, created under its alias with every holder of its functions
        invited and its chair a moderator. Idempotent by the alias: a room already made under it (before a
        restart, or by an attempt cut short) is used."""
        forum = next((f for f in self.settings.forums if f.room == alias), None)
        if forum is None:
            return None
        async with self._create_lock:
            if alias in self.aliases:
                return self.aliases[alias]
            holders = {f.id: f.holders for f in self.settings.functions}
            invite = [u for f in (forum.chair, *forum.members()) for u in holders.get(f, ()) if u != self.user_id]
            moderators = {u: 50 for u in holders.get(forum.chair, ()) if u != self.user_id}
            answer = await self._create(alias=alias.removeprefix("#").split(":", 1)[0], name=forum.name,
                                        preset=RoomPreset.private_chat, invite=list(dict.fromkeys(invite)))
            if isinstance(answer, RoomCreateResponse):
                room_id = str(answer.room_id)
                log.info("created %s (%s) for the forum %s", alias, room_id, forum.id)
                await self._raise_power(room_id, moderators)
            else:
                wait = retry_after(answer)
                if wait is not None:
                    raise RateLimited(f"creating the room of {forum.id}", wait)
                found = await self.client.room_resolve_alias(alias)
                if not isinstance(found, RoomResolveAliasResponse):
                    log.error("cannot create the room %s of %s: %s", alias, forum.id, answer)
                    return None
                room_id = str(found.room_id)
            self.aliases[alias] = room_id
            self.configured_room_ids.add(room_id)
            return room_id

    async def _create(self, invite: list[str], **options: Any) -> RoomCreateResponse | RoomCreateError:
        """Create a room, encrypted when the bot encrypts, and tell nio of it at once: encrypted, with the bot
        and those invited as its members. A sync can show a room half made, before its m.room.encryption
        event exists, and nothing may go into it in the clear; nor need its state be read back to send."""
        olm = self.client.olm
        answer = await self.client.room_create(invite=invite, initial_state=[ENCRYPTION] if olm else [], **options)
        if olm is not None and isinstance(answer, RoomCreateResponse):
            self.client.encrypted_rooms.add(answer.room_id)
            room = self.client.rooms.setdefault(answer.room_id, MatrixRoom(answer.room_id, self.user_id, True))
            room.encrypted = True
            room.add_member(self.user_id, None, None)
            for user_id in invite:
                room.add_member(user_id, None, None, invited=True)
            room.members_synced = True
            olm.update_tracked_users(room)
        return answer

    async def load_moves(self) -> None:
        """The upgraded rooms the bot followed: the configuration's old ids lead to the new rooms."""
        async with self.db.session() as session:
            moves = await repo.values_under(session, MOVED)
        for old, new in moves.items():
            self.aliases[old] = new

    async def follow_upgrade(self, old: str, new: str) -> bool:
        """A configured room was upgraded: from now on its old id, and the aliases that led to it, lead to the
        new room, which the bot joins (False when it cannot: it must be invited)."""
        for ref, room_id in list(self.aliases.items()):
            if room_id == old:
                self.aliases[ref] = new
        self.aliases[old] = new
        self.configured_room_ids.add(new)

        async def write(session: AsyncSession) -> None:
            await repo.set_value(session, MOVED + old, new)
            prefix = await repo.get_value(session, f"topic_prefix:{old}")  # the upgrade copied the topic with it
            if prefix is not None:
                await repo.set_value(session, f"topic_prefix:{new}", prefix)

        await self.db.write(write)
        return await self.join(new)

    async def is_joined(self, room_id: str, user_id: str) -> bool:
        """Whether the person is a member of the room now, as the homeserver says (not a lazily loaded list)."""
        members = await self.client.joined_members(room_id)
        return isinstance(members, JoinedMembersResponse) and any(m.user_id == user_id for m in members.members)

    async def display_name(self, room_id: str, user_id: str) -> str:
        """What people see as the person's name: their name in the room, else in another room the bot shares
        with them, else their profile's (read once), else the localpart of their id."""
        rooms = [self.client.rooms.get(room_id), *self.client.rooms.values()]
        for room in rooms:
            member = room.users.get(user_id) if room is not None else None
            if member is not None and member.display_name:
                return str(member.display_name)
        if user_id not in self._profile_names:
            try:
                answer = await asyncio.wait_for(self.client.get_displayname(user_id), 5)
            except (OSError, TimeoutError, aiohttp.ClientError, LocalProtocolError):
                answer = None
            found = getattr(answer, "displayname", None)
            self._profile_names[user_id] = found if isinstance(found, str) and found.strip() else None
        return self._profile_names[user_id] or user_id.removeprefix("@").split(":", 1)[0]

    async def note_removed(self, room_id: str, by: str, membership: str) -> None:
        """Put out of a configured room: written down for `health` until the bot is in the room again."""
        value = f"{membership} {by} {datetime.now(UTC).isoformat()}"
        await self.db.write(lambda session: repo.set_value(session, REMOVED + room_id, value))

    async def join_configured_rooms(self) -> None:
        """Join every room the configuration names; a missing room is logged, not fatal."""
        answer = await self.client.joined_rooms()
        already = set(answer.rooms) if isinstance(answer, JoinedRoomsResponse) else set()
        for room in self.configured_rooms():
            room_id = await self.resolve(room)
            if room_id is None:
                continue
            self.configured_room_ids.add(room_id)
            if room_id not in already:
                await self.join(room_id)

    async def join(self, room_id: str, attempts: int = 5) -> bool:
        """Join a room, waiting out rate limits a few times; False if it cannot be joined."""
        for _ in range(attempts):
            answer = await self.client.join(room_id)
            wait = retry_after(answer)
            if wait is None:
                break
            log.warning("joining %s: rate limited, waiting %.1f s", room_id, wait)
            await asyncio.sleep(wait)
        if isinstance(answer, JoinError):
            log.warning("cannot join %s: %s", room_id, answer.message)
            return False
        self.joined_at.setdefault(room_id, datetime.now(UTC))
        await self.db.write(lambda session: repo.delete_value(session, REMOVED + room_id))  # in it again
        return True

    async def direct_room(self, user_id: str) -> str:
        """The one direct room with a person: created once, stored and reused; one that someone else was let
        into is left and a new one opened."""
        room_id = self.direct_rooms.get(user_id)
        if room_id is not None and (others := self.others_in(room_id)):
            await self.abandon_direct(user_id, room_id, others[0])
        if user_id in self.direct_rooms:
            return self.direct_rooms[user_id]
        async with self._direct_locks.setdefault(user_id, asyncio.Lock()):  # one room, even when asked twice at once
            return await self._direct_room(user_id)

    async def _direct_room(self, user_id: str) -> str:
        if user_id in self.direct_rooms:
            return self.direct_rooms[user_id]
        profile = await self.client.get_profile(user_id)
        http_status = getattr(profile.transport_response, "status", None)
        if isinstance(profile, ProfileGetError) and (profile.status_code == "M_NOT_FOUND" or http_status == 404):
            raise DirectRoomError(user_id, "no such user")  # an invitation would go nowhere
        # Only the bot may invite: a direct room is for the bot and the person, and a password must not be
        # enough to let another account read what the bot sends there.
        answer = await self._create(is_direct=True, invite=[user_id], preset=RoomPreset.private_chat,
                                    power_level_override={"invite": 100})
        if not isinstance(answer, RoomCreateResponse):
            wait = retry_after(answer)
            if wait is not None:
                raise RateLimited(f"opening a direct room with {user_id}", wait)
            raise DirectRoomError(user_id, answer)
        room_id = str(answer.room_id)
        await self._adopt_direct(user_id, room_id)
        return room_id

    async def _adopt_direct(self, user_id: str, room_id: str) -> None:
        """Remember the direct room with a person, and mark it direct for the bot's own clients (m.direct)."""
        await self.db.write(lambda session: repo.set_value(session, f"{DIRECT}{user_id}", room_id))
        self.direct_rooms[user_id] = room_id
        self._mark_direct(user_id, room_id, add=True)

    def _mark_direct(self, user_id: str, room_id: str, *, add: bool) -> None:
        """Mark the room direct (or no longer) in m.direct, in the background: only the bot's own clients read
        it, and no message waits for it."""
        self._direct_changes.append((user_id, room_id, add))
        task = asyncio.create_task(self._write_direct_changes())
        self._direct_writes.add(task)
        task.add_done_callback(self._direct_writes.discard)

    async def settle(self) -> None:
        """Until the m.direct changes under way are written (at stop)."""
        await asyncio.gather(*self._direct_writes, return_exceptions=True)

    async def _write_direct_changes(self) -> None:
        """Read, change, write m.direct, one writer at a time; the changes that wait while one is written go
        together in the next write (forty direct rooms opened at once make two writes, not forty)."""
        async with self._direct_data_lock:
            changes, self._direct_changes = self._direct_changes, []
            if changes:
                await self._write_direct(changes)

    async def _write_direct(self, changes: list[tuple[str, str, bool]]) -> None:
        path = f"/user/{quote(self.user_id)}/account_data/m.direct"
        try:
            status, direct = await self.session.api("GET", path)
            direct = dict(direct) if status == 200 else {}
            for user_id, room_id, add in changes:
                rooms = [r for r in (direct.get(user_id) or []) if r != room_id]
                direct[user_id] = [*rooms, room_id] if add else rooms
            status, answer = await self.session.api("PUT", path, direct)
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            status, answer = 0, {"error": str(exc)}
        if status != 200:
            log.warning("cannot update m.direct for %s: %s", ", ".join(c[0] for c in changes), answer)

    async def forget_direct(self, user_id: str, room_id: str) -> None:
        """The person left (or refused) their direct room: the next message opens a new one."""
        if self.direct_rooms.get(user_id) != room_id:
            return
        log.info("%s left their direct room %s; the next message to them opens a new one", user_id, room_id)
        await self.db.write(lambda session: repo.delete_value(session, f"{DIRECT}{user_id}"))
        self.direct_rooms.pop(user_id, None)
        self._mark_direct(user_id, room_id, add=False)
        await self.client.room_leave(room_id)

    def person_of(self, room_id: str) -> str | None:
        """Whose direct room this is; None if it is nobody's."""
        return next((user for user, room in self.direct_rooms.items() if room == room_id), None)

    def others_in(self, room_id: str) -> list[str]:
        """Members of a person's direct room (joined or invited, as the bot's sync has them) other than the bot
        and the person."""
        person = self.person_of(room_id)
        room = self.client.rooms.get(room_id)
        if person is None or room is None:
            return []
        return sorted(u for u in room.users if u not in (self.user_id, person))

    def may_send(self, room_id: str) -> bool:
        """False for a direct room the bot stopped using, or one with a member besides the bot and the person:
        what the bot sends there (and the room key it shares) would reach that member too."""
        return room_id not in self.abandoned and not self.others_in(room_id)

    async def abandon_direct(self, user_id: str, room_id: str, other: str) -> bool:
        """Someone besides the person was let into their direct room: the bot stops using it (forgets it, sends
        nothing more there and leaves it); the next message opens a new one. False if already done."""
        if self.direct_rooms.get(user_id) != room_id:
            return False
        log.warning("%s was let into the direct room %s with %s: the bot leaves it and opens a new one when "
                    "needed", other, room_id, user_id)
        self.abandoned.add(room_id)
        await self.db.write(lambda session: repo.delete_value(session, f"{DIRECT}{user_id}"))
        self.direct_rooms.pop(user_id, None)
        self._mark_direct(user_id, room_id, add=False)
        await self.client.room_leave(room_id)
        return True

    async def open_direct_rooms(self, users: list[str]) -> int:
        """Open the direct room with everyone who may be convened, ahead of the first convocation.

        Homeservers limit room creation hard (Synapse: about one a minute after a burst of 10), so
        rooms opened now, at the homeserver's pace, are rooms a 03:00 convocation does not wait for.
        Returns how many were opened now.
        """
        opened = 0
        for user_id in users:
            while not self.stopped:
                if user_id in self.direct_rooms:
                    break
                try:
                    await self.direct_room(user_id)
                    opened += 1
                    break
                except RateLimited as exc:
                    await asyncio.sleep(exc.wait)
                except DirectRoomError as exc:
                    log.warning("%s", exc)
                    break
        if opened:
            log.info("opened %d direct rooms", opened)
        return opened

    async def invite_convened(self, room_id: str, users: list[str]) -> None:
        """The room of a forum formed for the event is invite-only: whoever it convenes and is not in it yet
        (called in later, standing in, on duty by rotation) is invited before the ping."""
        room = self.client.rooms.get(room_id)
        for user_id in users:
            if room is not None and user_id in room.users:
                continue
            answer = await self.client.room_invite(room_id, user_id)
            if not isinstance(answer, RoomInviteResponse) and "already in the room" not in str(answer):
                log.warning("cannot invite %s to %s: %s", user_id, room_id, answer)
            self.expect_member(room_id, user_id)  # the ping's room key is shared with them too

    async def _raise_power(self, room_id: str, users: dict[str, int]) -> None:
        """Give these people power in a room the bot created (after creation: whether the creator is listed in
        the power levels depends on the room version)."""
        if not users:
            return
        try:
            levels = await self.room_state(room_id, "m.room.power_levels")
        except ConnectionError as exc:
            log.warning("cannot read the power levels of %s: %s", room_id, exc)
            return
        answer = await self.client.room_put_state(room_id, "m.room.power_levels",
                                                  {**levels, "users": {**levels.get("users", {}), **users}})
        if not isinstance(answer, RoomPutStateResponse):
            log.warning("cannot give the chair power in %s: %s", room_id, answer)

    async def room_state(self, room_id: str, event_type: str) -> dict[str, Any]:
        """A room's current state event content; empty when the room has none."""
        answer = await self.client.room_get_state_event(room_id, event_type)
        if isinstance(answer, RoomGetStateEventResponse):
            return dict(answer.content)
        if getattr(answer, "status_code", None) != "M_NOT_FOUND":
            raise ConnectionError(f"reading {event_type} of {room_id}: {answer}")
        return {}

    async def make_known(self, room_id: str) -> None:
        """Tell nio of a room it has not seen since the start: it learns rooms from the syncs after the stored
        sync token only, and cannot encrypt for a room it does not know (a direct room quiet since the last
        run would never get its convocation). Its members and whether it is encrypted are read once."""
        if self.client.olm is None or room_id in self.client.rooms:
            return
        encryption = await self.room_state(room_id, "m.room.encryption")
        room = MatrixRoom(room_id, self.user_id, bool(encryption) or room_id in self.client.encrypted_rooms)
        self.client.rooms[room_id] = room
        members = await self.client.joined_members(room_id)  # nio adds them to the room it now knows
        if not isinstance(members, JoinedMembersResponse):
            del self.client.rooms[room_id]
            raise ConnectionError(f"reading the members of {room_id}: {members}")
        await self.session.query_keys()  # as nio does when it reads the members itself: their devices too
        log.info("%s was quiet since the last run: its %d members are read", room_id, len(members.members))

    def expect_member(self, room_id: str, user_id: str) -> None:
        """Count the person the bot invited to its direct room as a member, joined or not, so the room
        key of a message sent before they join is shared with their devices too (nio may not have
        seen the invitation: it only learns members from sync)."""
        room = self.client.rooms.get(room_id)
        if room is None or user_id in room.users:
            return
        room.add_member(user_id, None, None, invited=True)
        if room.encrypted and self.client.olm is not None:
            self.client.olm.update_tracked_users(room)
            self.client.invalidate_outbound_session(room_id)

    async def handle_invites(self, answer: SyncResponse) -> None:
        """Accept invitations from admins and to configured rooms; decline the rest."""
        for room_id, info in answer.rooms.invite.items():
            invitation = next((e for e in info.invite_state
                               if isinstance(e, InviteMemberEvent) and e.state_key == self.user_id), None)
            inviter = invitation.sender if invitation else None
            direct = bool(invitation and invitation.content.get("is_direct"))
            if direct and inviter in self.known_people():
                if await self.join(room_id):
                    log.info("joined the direct room %s that %s opened", room_id, inviter)
                    if await self._others_in_invited(room_id, inviter):
                        await self.client.room_leave(room_id)  # a direct room is for the bot and the person
                    elif inviter not in self.direct_rooms and await self._private_enough(room_id):
                        await self._adopt_direct(inviter, room_id)
            elif inviter in self.settings.bot.admins or room_id in self.configured_room_ids:
                if await self.join(room_id):
                    log.info("joined %s on invitation from %s", room_id, inviter)
            else:
                await self.client.room_leave(room_id)
                log.info("declined invitation to %s from %s (not an admin)", room_id, inviter)

    async def _others_in_invited(self, room_id: str, person: str) -> bool:
        """Whether a direct room someone opened has others in it or invited than the bot and that person (then
        it is no direct room: the bot leaves it). Unreadable members count as others."""
        status, answer = await self.session.api("GET", f"/rooms/{quote(room_id)}/members")
        members = answer.get("chunk") if status == 200 else None
        if not isinstance(members, list):
            log.warning("cannot read the members of the direct room %s (HTTP %s): the bot leaves it", room_id, status)
            return True
        others = sorted({str(m.get("state_key")) for m in members if isinstance(m, dict)
                         and m.get("content", {}).get("membership") in ("join", "invite")} - {self.user_id, person})
        if others:
            log.warning("the direct room %s that %s opened has others in it (%s): the bot leaves it", room_id,
                        person, ", ".join(others))
        return bool(others)

    async def _private_enough(self, room_id: str) -> bool:
        """Whether a direct room someone opened may carry their convocations: while the bot encrypts, only an
        encrypted one (anyone with the password can open one in the clear, and read it)."""
        if self.client.olm is None:
            return True
        answer = await self.client.room_get_state_event(room_id, "m.room.encryption")
        if isinstance(answer, RoomGetStateEventResponse) and answer.content.get("algorithm"):
            return True
        log.warning("the direct room %s is not encrypted: the bot answers there but sends no convocation to it",
                    room_id)
        return False

    def known_people(self) -> set[str]:
        """Everyone the configuration names: function holders and admins."""
        return {user for f in self.settings.functions for user in f.holders} | set(self.settings.bot.admins)

    async def load(self) -> None:
        """The direct rooms the bot has opened in earlier runs."""
        async with self.db.session() as session:
            self.direct_rooms = await repo.values_under(session, DIRECT)
