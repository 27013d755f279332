"""SMHI's impact-based weather warnings (IBWW, `…/ibww/api/version/1/warning.json`) read into domain values.

The document is a list of warnings, each with an `event` (`code`, `sv`, `en`) and `warningAreas`; each area has
its `id`, `published`, `approximateStart`, `approximateEnd`, `warningLevel.code`, the `affectedAreas` (counties
and sea districts by id) and SMHI's `descriptions`. Anything else in it (the GeoJSON `area`) is not read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.domain.warnings import Area, Text, WarningItem
from bot.feeds.http import FeedFault


def parse(body: bytes) -> list[WarningItem]:
    """Every warning area in the document; FeedFault naming the first thing that is not as SMHI publishes it."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedFault(f"malformed JSON ({exc.__class__.__name__})") from None
    if isinstance(document, Mapping) and isinstance(document.get("warnings"), list):
        document = document["warnings"]
    if not isinstance(document, list):
        raise FeedFault("unexpected structure: not a list of warnings")
    items: list[WarningItem] = []
    for i, warning in enumerate(document):
        try:
            items += _warning(warning)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FeedFault(f"unexpected structure in warning [{i}]: {type(exc).__name__} {exc}") from None
    return items


def _warning(warning: Mapping[str, Any]) -> list[WarningItem]:
    event = warning["event"]
    shared = _texts(warning.get("descriptions") or [])
    items = []
    for area in warning["warningAreas"]:
        items.append(WarningItem(
            warning_id=str(warning["id"]), area_id=str(area["id"]),
            event_code=str(event["code"]), event_sv=str(event.get("sv") or event["code"]),
            event_en=str(event.get("en") or event["code"]),
            level=str(area["warningLevel"]["code"]),
            published=_time(area["published"]),
            starts_at=_time(area["approximateStart"]) if area.get("approximateStart") else None,
            ends_at=_time(area["approximateEnd"]) if area.get("approximateEnd") else None,
            areas=tuple(Area(int(a["id"]), str(a.get("sv") or ""), str(a.get("en") or a.get("sv") or ""))
                        for a in area["affectedAreas"]),
            texts=_texts(area.get("descriptions") or []) or shared))
    return items


def _texts(descriptions: list[Mapping[str, Any]]) -> tuple[Text, ...]:
    def words(d: Mapping[str, Any], part: str, lang: str) -> str:
        return str((d.get(part) or {}).get(lang) or "")

    return tuple(Text(title_sv=words(d, "title", "sv"), title_en=words(d, "title", "en"),
                      text_sv=words(d, "text", "sv"), text_en=words(d, "text", "en")) for d in descriptions)


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"a time without its zone: {value!r}")
    return parsed
