"""`make mutants`: mutation testing (mutmut) of the rules that decide who is convened, escalated,
acknowledged, chased or told ([tool.mutmut] in pyproject.toml), against the fast unit tests.
Writes the survivors and the mutants no selected test reaches to bench/results/mutants.json.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).parents[1]

# Survivors that cannot be killed because the mutant behaves exactly as the code does. Mutant numbers
# change when the code above them changes: a survivor not listed here is new and needs a test.
EQUIVALENT = {
    **{f"bot.domain.convocation.x_parse_ack__mutmut_{n}": "the text of the ValueError: callers catch it and answer "
       "with their own sentence (ack.bad_note), so no user ever reads it" for n in (16, 17, 18)},
    "bot.domain.lagesbild.x_parse__mutmut_3": "strip('XX .!XX') on normalised (lower-case) text: an upper-case X "
    "never occurs there, so the same characters are stripped",
    "bot.domain.schedule.x_due_steps__mutmut_21": "a window 2 days past now + convene_before instead of 1: only "
    "steps in (since, now] are kept, so a wider window finds the same steps",
    "bot.domain.schedule.x_forum_occurrences__mutmut_5": "the rule is asked for occurrences after start - 2 s "
    "instead of start - 1 s: occurrences are on whole minutes, and those before start are filtered out",
    "bot.domain.schedule.x_forum_occurrences__mutmut_17": "stops at an occurrence exactly at end + LOOKAHEAD "
    "or just after it: either way it is outside [start, end) and dropped",
    "bot.domain.schedule.x_next_step__mutmut_4": "the second look ahead is 367 days instead of 366: every "
    "recurring rule has an occurrence within a year, so both find the same next step",
}


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # mutmut keeps old verdicts for unchanged code, not tests
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
    survivors = [name for name, state in status.items() if state == "survived"]
    unexplained = sorted(name for name in survivors if name not in EQUIVALENT)
    result = {"seconds": round(time.monotonic() - started, 1), "mutants": len(status), "counts": dict(counts),
              "by_module": by_module,
              "equivalent": {name: EQUIVALENT[name] for name in sorted(survivors) if name in EQUIVALENT},
              "unexplained": unexplained,
              "read": "mutmut show <name> prints a mutant; 'no tests' means no selected unit test runs that code"}
    out = ROOT / "bench" / "results" / "mutants.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(status)} mutants: " + ", ".join(f"{n} {s}" for s, n in counts.most_common())
          + f"; {len(unexplained)} survivors not explained; {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
