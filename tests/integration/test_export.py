"""After the event: `!export` and `python -m bot export` give the record for the registry and the evaluation."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import tomli_w
from support import World, base_config, bot_files, command, record_files, settle


async def test_the_record_shows_activation_acknowledgements_the_never_reached_and_decisions(world: World) -> None:
    app = await world.start_bot()
    never = await command(world, "sos", "samordnande", "!export samordnande")
    assert "Regionalt samordnande forum har aldrig aktiverats" in never

    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    assert "Kvitterat" in await command(world, "sos", "samordnande", "!kvittera")
    assert "Antecknat" in await command(world, "tib", "samordnande", "!beslut Skolorna <stänger> i morgon")
    assert "ordinarie läge" in await command(world, "tib", "samordnande", "!avaktivera samordnande")

    answer = await command(world, "sos", "samordnande", "!export samordnande")
    assert "Dokumentation av händelsen snöoväder" in answer and "aktiveringar: 1" in answer

    data, html = await record_files(world, "samordnande", "dokumentation-snöoväder")
    for needle in ("Dokumentation av händelsen snöoväder", "åter i ordinarie läge", "Nåddes aldrig",
                   "TiB, Nacka kommun", "Skolorna &lt;stänger&gt; i morgon"):
        assert needle in html, needle
    assert "<stänger>" not in html  # user text is escaped in the page
    never_line = next(line for line in html.splitlines() if "Nåddes aldrig" in line)
    assert "Vakthavande, SOS Alarm" not in never_line, "SOS Alarm acknowledged"
    assert [a["forum"] for a in data["activations"]] == ["samordnande"]
    assert data["activations"][0]["ended_at"] is not None
    assert "nacka-tib" in data["acknowledgement"]["never_reached"]
    assert "sos-vakthavande" not in data["acknowledgement"]["never_reached"]
    assert data["acknowledgement"]["acknowledged"] >= 1 and data["acknowledgement"]["median_seconds"] is not None
    assert [e["text"] for e in data["log"] if e["kind"] == "decision"] == ["Skolorna <stänger> i morgon"]

    unknown = await command(world, "sos", "samordnande", "!export storm")
    assert "Ingen aktivering för händelsen storm finns" in unknown
    await settle(app)
    assert len(await bot_files(world, "samordnande", "dokumentation-")) == 2, "a refused export sends no file"

    config = world.tmp / "config.toml"
    config.write_text(tomli_w.dumps(base_config(world)), encoding="utf-8")
    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "export", "--config", str(config),
                                                      "--event", "Snöoväder", "--format", "json"],
                                     capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["acknowledgement"] == data["acknowledgement"]
    missing = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "export", "--config",
                                                       str(config), "--event", "storm"],
                                      capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no activation for the event 'storm'" in missing.stderr
    assert missing.stdout == ""

