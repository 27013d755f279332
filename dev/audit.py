"""Audit the image's pinned dependencies (requirements.lock) for known vulnerabilities with pip-audit.

Run by `make test`. A known vulnerability fails; an advisory database that cannot be reached (no
network, or a package index that does not serve it) is said in one line and does not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOCK = Path(__file__).parents[1] / "requirements.lock"


def main() -> int:
    try:
        answer = subprocess.run([sys.executable, "-m", "pip_audit", "-r", str(LOCK), "--disable-pip", "--no-deps",
                                 "--progress-spinner", "off", "-f", "json"],
                                capture_output=True, text=True, timeout=300, check=False)
        report = json.loads(answer.stdout or "{}")
    except (subprocess.TimeoutExpired, ValueError):
        print("pip-audit: the advisory database could not be reached; dependencies not audited")
        return 0
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    audited = [d for d in dependencies if "skip_reason" not in d]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            print(f"pip-audit: {dependency['name']} {dependency['version']}: {vuln['id']} "
                  f"(fixed in {', '.join(vuln.get('fix_versions') or ['nothing yet'])})")
    if vulnerable:
        return 1
    if not audited:
        print(f"pip-audit: the advisory database could not be reached; {len(dependencies)} dependencies "
              "not audited")
        return 0
    print(f"pip-audit: {len(audited)} dependencies audited, no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
