"""Chat commands, one module each. Importing this package registers them all, in help order."""

from bot.commands import activation, exercise, help, status  # noqa: F401  (registration by import)
from bot.commands.registry import REGISTRY

__all__ = ["REGISTRY"]
