"""The configured world, indexed: forums, functions and organisations by any of their names.

Pure lookups over the configuration; who holds a function *now* is the roster's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from bot.domain.model import Forum, Function, Organisation, Region
from bot.domain.names import Index

T = TypeVar("T")


def _known(index: Index[T], name: str) -> T:
    """A name the configuration has already checked; KeyError means a bug, not a user mistake."""
    found = index.get(name)
    if found is None:
        raise KeyError(name)
    return found


@dataclass(frozen=True)
class Directory:
    settings: Region
    forums: Index[Forum]
    functions: Index[Function]
    organisations: Index[Organisation]
    # Forums formed for an event and since dissolved: found by id for what the record names, never by name.
    dissolved: Mapping[str, Forum] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Region, dissolved: Iterable[Forum] = ()) -> Directory:
        forums: Index[Forum] = Index("forum")
        functions: Index[Function] = Index("function")
        organisations: Index[Organisation] = Index("organisation")
        for forum in settings.forums:
            forums.add(forum, [forum.id, *forum.aliases, forum.name])
        for org in settings.organisations:
            organisations.add(org, [org.id, *org.aliases, org.name])
        for func in settings.functions:
            functions.add(func, [func.id, *func.aliases, func.name])
        return cls(settings, forums, functions, organisations, {f.id: f for f in dissolved})

    def function(self, function_id: str) -> Function:
        return _known(self.functions, function_id)

    def forum(self, forum_id: str) -> Forum:
        if forum_id in self.dissolved and self.forums.get(forum_id) is None:
            return self.dissolved[forum_id]
        return _known(self.forums, forum_id)

    def organisation(self, org_id: str) -> Organisation:
        return _known(self.organisations, org_id)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.settings.bot.admins

    def listed_functions(self, user_id: str) -> list[Function]:
        """Functions that name this person among their holders, whoever is on duty now."""
        return [f for f in self.settings.functions if user_id in f.holders]
