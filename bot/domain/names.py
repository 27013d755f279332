"""Name matching the way people type on a phone: any case, with or without å ä ö.

`Index` maps every id and alias of a kind of thing (forum, function, organisation,
command) to the thing, and answers an unknown name with the closest known names.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


def normalise(name: str) -> str:
    """Fold case and strip diacritics: 'Lägesbild' and 'lagesbild' match."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", name).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()


@dataclass
class Index(Generic[T]):
    """Lookup by normalised id or alias, with 'did you mean' suggestions."""

    kind: str
    _items: dict[str, T] = field(default_factory=dict)
    _shown: dict[str, str] = field(default_factory=dict)

    def add(self, item: T, names: Iterable[str]) -> None:
        for name in names:
            key = normalise(name)
            if key:
                self._items.setdefault(key, item)
                self._shown.setdefault(key, name)

    def get(self, name: str) -> T | None:
        return self._items.get(normalise(name))

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """The closest known names, as they are written in the configuration."""
        keys = difflib.get_close_matches(normalise(name), list(self._items), n=limit * 3, cutoff=0.6)
        seen: set[int] = set()
        shown = []
        for key in keys:
            item = id(self._items[key])
            if item not in seen:
                seen.add(item)
                shown.append(self._shown[key])
        return shown[:limit]

    def names(self) -> list[str]:
        return sorted(self._shown.values(), key=normalise)
