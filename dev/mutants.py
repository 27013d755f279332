"""`make mutants`: mutation testing (mutmut) of the rules that decide who is convened, escalated,
acknowledged, chased or told ([tool.mutmut] in pyproject.toml), against the fast unit tests.
Writes the survivors and the mutants no selected test reaches to bench/results/mutants.json.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).parents[1]


def main() -> int:
    started = time.monotonic()
    mutmut = str(Path(sys.executable).parent / "mutmut")
    subprocess.run([mutmut, "run", "--max-children", "2"], cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    listing = subprocess.run([mutmut, "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True,
                             check=False).stdout
    status = dict(re.findall(r"^\s*(\S+): (.+)$", listing, re.M))
    counts = Counter(status.values())
    by_module: dict[str, dict[str, list[str]]] = {}
    for name, state in sorted(status.items()):
        if state in ("survived", "no tests"):
            module = name.split(".x")[0]
            by_module.setdefault(module, {}).setdefault(state, []).append(name)
    result = {"seconds": round(time.monotonic() - started, 1), "mutants": len(status), "counts": dict(counts),
              "by_module": by_module,
              "read": "mutmut show <name> prints a mutant; 'no tests' means no selected unit test runs that code"}
    out = ROOT / "bench" / "results" / "mutants.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(status)} mutants: " + ", ".join(f"{n} {s}" for s, n in counts.most_common()) + f"; {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
