"""Every user-facing string, in Swedish and English. `t(lang, key, **values)` looks one up."""

from __future__ import annotations

from bot.texts import en, sv

LANGUAGES = {"sv": sv.TEXTS, "en": en.TEXTS}


def t(lang: str, key: str, **values: object) -> str:
    """The text for `key` in `lang`, falling back to Swedish, then to the key itself.

    With `count=1` the singular `key.one` is used where there is one ("1 person", "2 personer").
    """
    if values.get("count") == 1 and f"{key}.one" in sv.TEXTS:
        key = f"{key}.one"
    template = LANGUAGES.get(lang, sv.TEXTS).get(key) or sv.TEXTS.get(key) or key
    return template.format(**values) if values else template
