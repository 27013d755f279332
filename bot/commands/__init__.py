"""Chat commands, one module each. Importing this package registers them all."""

from bot.commands import (  # noqa: F401  (registration by import)
    activation,
    beslut,
    exercise,
    flytta,
    help,
    ikapp,
    kalender,
    kalla,
    kallelse,
    kvittera,
    ladda_om,
    lagesbild,
    mote,
    protokoll,
    rapport,
    schema,
    status,
    tjanstgor,
    upprop,
    vem,
)
from bot.commands.registry import REGISTRY

__all__ = ["REGISTRY"]
