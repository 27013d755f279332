"""Chat commands, one module each. The registry imports every module here, so a new command is a
new module with a `@command(...)` handler; nothing else to edit."""

from __future__ import annotations

import importlib
import pkgutil

from bot.commands.registry import REGISTRY

_MACHINERY = {"registry", "converters"}

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _MACHINERY:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY"]
