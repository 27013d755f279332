"""The house rules of ARCHITECTURE.md hold: import-linter's contracts (pyproject.toml), and every
command module is found by the registry with nothing else to edit."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import bot.commands
from bot.commands import REGISTRY

ROOT = Path(__file__).parents[2]


def test_the_import_contracts_are_kept() -> None:
    """Layers, one-command modules that never import each other, a pure domain, storage without Matrix."""
    answer = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stdout[-4000:] + answer.stderr[-2000:]
    assert "0 broken" in answer.stdout


def test_every_command_module_registers_its_commands_by_itself() -> None:
    """A command is one module: each module in bot/commands (but the machinery) adds at least one command."""
    registered = {spec.run.__module__ for spec in REGISTRY.all()}
    modules = {f"bot.commands.{m.name}" for m in pkgutil.iter_modules(bot.commands.__path__)}
    assert modules - {"bot.commands.registry", "bot.commands.converters"} == registered


def test_the_image_lock_pins_every_dependency_with_hashes() -> None:
    """requirements.lock (what the image installs) names every runtime dependency, each pinned and hashed."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["postgres"]]
    names = {re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0].lower().replace("_", "-") for d in wanted}
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", lock, re.M))
    assert names <= {n.lower().replace("_", "-") for n in pinned}, names - set(pinned)
    assert lock.count("--hash=sha256:") >= len(pinned)
