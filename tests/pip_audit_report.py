"""Read pip-audit's JSON report: fail on known vulnerabilities, only warn when it couldn't look.

Usage: python tests/pip_audit_report.py REPORT.json ERRORS.txt
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(report_path: str, errors_path: str) -> int:
    """Print what pip-audit found; return 1 for vulnerabilities, else 0."""
    try:
        report = json.loads(Path(report_path).read_text())
    except (OSError, ValueError):
        errors = Path(errors_path).read_text() if Path(errors_path).exists() else ""
        print("WARNING: pip-audit could not reach the vulnerability service, so the")
        print("dependencies were NOT audited this time. What it said:")
        print(errors.strip()[-2000:] or "(nothing)")
        return 0
    dependencies = report.get("dependencies", [])
    found = [
        (dep["name"], dep["version"], vuln["id"], ", ".join(vuln.get("fix_versions", [])))
        for dep in dependencies
        for vuln in dep.get("vulns", [])
    ]
    skipped = [dep["name"] for dep in dependencies if dep.get("skip_reason")]
    for name, version, vuln_id, fixes in found:
        print(f"VULNERABLE: {name} {version}: {vuln_id} (fixed in: {fixes or 'no release yet'})")
    if skipped:
        print(
            f"WARNING: pip-audit could not audit {len(skipped)} of {len(dependencies)} packages "
            f"(the vulnerability service doesn't know them): {', '.join(sorted(skipped))}"
        )
    if found:
        print("Upgrade them, or write each down in README.md and add it to PIP_AUDIT_IGNORE.")
        return 1
    print(f"pip-audit: no known vulnerabilities in {len(dependencies) - len(skipped)} packages.")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
