"""Chat commands, one module each. Importing this package registers them all."""

from bot.commands import (  # noqa: F401  (registration by import)
    activation,
    exercise,
    help,
    kalla,
    kallelse,
    kvittera,
    status,
    tjanstgor,
    vem,
)
from bot.commands.registry import REGISTRY

__all__ = ["REGISTRY"]
