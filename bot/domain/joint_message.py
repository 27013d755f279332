"""Where a joint message (gemensamt budskap) stands: which organisations stand behind the version
asked for, which object and why, which have not answered. Seed 000: "formulera gemensamma budskap"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    organisation: str
    version: int
    approved: bool
    reason: str | None = None


@dataclass(frozen=True)
class Standing:
    approved: tuple[str, ...]
    objected: tuple[tuple[str, str], ...]  # (organisation, reason)
    waiting: tuple[str, ...]

    @property
    def everyone_approved(self) -> bool:
        return not self.objected and not self.waiting


def standing(organisations: Sequence[str], answers: Sequence[Answer], version: int) -> Standing:
    """The latest answer of each organisation to `version` counts; answers to earlier versions do not
    (a revision starts the round again) and neither do organisations outside `organisations`."""
    latest: dict[str, Answer] = {}
    for answer in answers:
        if answer.version == version:
            latest[answer.organisation] = answer
    ordered = list(dict.fromkeys(organisations))
    return Standing(
        approved=tuple(o for o in ordered if o in latest and latest[o].approved),
        objected=tuple((o, latest[o].reason or "") for o in ordered if o in latest and not latest[o].approved),
        waiting=tuple(o for o in ordered if o not in latest),
    )
