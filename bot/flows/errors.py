"""The user's mistakes, as opposed to our bugs.

    UserError            a sentence for the user; nothing changes
    ├── BadArgument      an argument is missing, malformed or too long; usage follows
    ├── UnknownName      no forum/function/... by that name; suggestions follow
    └── NotAllowed       the sender may not do this; the attempt is audited

Anything else raised by a command is a bug: logged with a traceback and an incident id.
"""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A problem the user can fix. `key` and `values` select the text in `bot.texts`."""

    show_usage = False

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class BadArgument(UserError):
    show_usage = True


class UnknownName(UserError):
    """`kind` is forum, function, organisation, command or function_or_organisation: each has its own
    sentence, since the adjective agrees with the noun ("Okänt forum", "Okänd funktion")."""

    def __init__(self, kind: str, name: str, suggestions: list[str], known: list[str] | None = None) -> None:
        super().__init__(f"error.unknown.{kind}", name=name)
        self.kind = kind
        self.name = name
        self.suggestions = suggestions
        self.known = known or []


class NotAllowed(UserError):
    """Refused. `action` and `forum_id` go to the audit trail."""

    def __init__(self, key: str, *, action: str, forum_id: str | None = None, **values: Any) -> None:
        super().__init__(key, **values)
        self.action = action
        self.forum_id = forum_id
