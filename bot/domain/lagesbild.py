"""Lägesbild: each actor's situation report, and the compiled regional picture.

A report is free text with optional fields (`konsekvenser: … ; åtgärder: …`, Swedish or English
names, any order, on one line or several). The compiled picture takes each organisation's latest
report of the week (or event), groups the statements field by field — coordination needs,
consequences, measures and needs first — and lists who has not reported. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.names import normalise

# (key, names people type: Swedish and English). The order is the order of the compiled picture.
FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("samordning", ("behov av samordning", "samordningsbehov", "samordning", "coordination",
                    "need for coordination", "coordination needs")),
    ("konsekvenser", ("konsekvenser", "konsekvens", "consequences", "consequence", "impact")),
    ("atgarder", ("vidtagna åtgärder", "åtgärder", "atgarder", "measures", "measures taken", "actions taken")),
    ("behov", ("behov av stöd", "behov", "resurser", "stöd", "needs", "resources", "support", "support needed")),
    ("planerat", ("planerade åtgärder", "planerat", "planned", "planned measures")),
    ("handelse", ("händelse", "event")),
    ("omfattning", ("omfattning", "berörda", "scope", "affected")),
    ("kommunikation", ("kommunikation", "budskap", "communication", "public messages")),
    ("bedomning", ("bedömning", "prognos", "assessment", "forecast")),
    ("giltig", ("giltig till", "giltig", "valid until", "valid")),
)
FIELD_KEYS = tuple(key for key, _ in FIELDS)
_NAMES = {normalise(name): key for key, names in FIELDS for name in names}
_NO_CHANGE = {"ingen forandring", "inga forandringar", "oforandrat", "no change", "no changes", "unchanged"}
_SEGMENT = re.compile(r"[;\n]")
_LABEL = re.compile(r"^\s*([^:]{1,40}):\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Parsed:
    text: str  # free text: what is not in a field, and fields with unknown names, as written
    fields: dict[str, str] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()  # field names not recognised (kept in the text)
    no_change: bool = False

    @property
    def empty(self) -> bool:
        return not self.text and not self.fields and not self.no_change


def parse(raw: str) -> Parsed:
    """`konsekvenser: … ; åtgärder: …` and free text -> fields and text; 'ingen förändring' noted."""
    if normalise(raw).strip(" .!") in _NO_CHANGE:
        return Parsed("", no_change=True)
    fields: dict[str, str] = {}
    free: list[str] = []
    unknown: list[str] = []
    for segment in _SEGMENT.split(raw):
        if not segment.strip():
            continue
        match = _LABEL.match(segment)
        key = _NAMES.get(normalise(match.group(1))) if match else None
        if match and key:
            value = match.group(2).strip()
            if value:
                fields[key] = f"{fields[key]}; {value}" if key in fields else value
            continue
        if match and len(match.group(1).split()) <= 3 and not match.group(1).strip().startswith("http"):
            unknown.append(match.group(1).strip())
        free.append(segment.strip())
    return Parsed("\n".join(free), fields, tuple(unknown))


def week_of(instant: datetime, tz: ZoneInfo) -> tuple[int, int]:
    """(ISO year, ISO week) of an instant in local time: 2027-01-01 is week 53 of 2026."""
    year, week, _ = instant.astimezone(tz).isocalendar()
    return year, week


@dataclass(frozen=True)
class Report:
    organisation: str  # organisation id
    function: str
    author: str
    at: datetime
    text: str
    fields: dict[str, str]
    relayed_by: str | None = None  # organisation id that passed it on (förmedlad)
    no_change: bool = False


@dataclass(frozen=True)
class Compiled:
    reports: dict[str, Report]  # organisation id -> its latest report
    expected: tuple[str, ...]  # organisations asked to report
    by_field: dict[str, list[tuple[str, str]]]  # field -> (organisation id, statement), in field order

    @property
    def missing(self) -> list[str]:
        return [org for org in self.expected if org not in self.reports]

    @property
    def coverage(self) -> tuple[int, int]:
        """(organisations that reported, organisations shown): those asked and any other that reported,
        so the count matches the organisations the picture lists."""
        return len(self.reports), len(set(self.expected) | set(self.reports))


def compile_reports(reports: Iterable[Report], expected: Sequence[str]) -> Compiled:
    """Each organisation's latest report; its statements grouped by field; free text last."""
    latest: dict[str, Report] = {}
    for report in sorted(reports, key=lambda r: r.at):
        latest[report.organisation] = report
    order = list(dict.fromkeys([*expected, *latest]))
    by_field: dict[str, list[tuple[str, str]]] = {key: [] for key in (*FIELD_KEYS, "text")}
    for org in order:
        if org not in latest:
            continue
        report = latest[org]
        for key in FIELD_KEYS:
            if report.fields.get(key):
                by_field[key].append((org, report.fields[key]))
        if report.text:
            by_field["text"].append((org, report.text))
    return Compiled(latest, tuple(expected), {k: v for k, v in by_field.items() if v})
