#!/usr/bin/env python3
"""Supply-chain audit for `make test`: known vulnerabilities in the locked Python dependencies
(pip-audit) and, once the PWA exists, in the npm lock file (npm audit).

A found vulnerability fails the run, unless it is accepted in ``audit-accepted.toml`` with a reason.
When the vulnerability service cannot be reached (this workplace reaches the package index but not
its vulnerability API), the audit says so loudly and does not fail: it cannot tell either way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCEPTED_FILE = ROOT / "audit-accepted.toml"


def accepted() -> dict[str, str]:
    if not ACCEPTED_FILE.exists():
        return {}
    data = tomllib.loads(ACCEPTED_FILE.read_text())
    return {str(item["id"]): str(item["reason"]) for item in data.get("accepted", [])}


def python_audit(allowed: dict[str, str]) -> bool:
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "pip-audit"),
            "--requirement",
            str(ROOT / "requirements.lock"),
            "--require-hashes",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(f"audit: pip-audit gave no report (exit {result.returncode}):\n{result.stderr[-2000:]}")
        return False
    dependencies = report.get("dependencies", [])
    skipped = [dep for dep in dependencies if dep.get("skip_reason")]
    found = [
        (dep["name"], dep["version"], vuln)
        for dep in dependencies
        for vuln in dep.get("vulns", [])
        if vuln["id"] not in allowed
    ]
    for name, version, vuln in found:
        print(
            f"audit: {name} {version}: {vuln['id']} (fixed in {', '.join(vuln.get('fix_versions', [])) or '?'})"
        )
    for vuln_id, reason in allowed.items():
        print(f"audit: accepted {vuln_id}: {reason}")
    audited = len(dependencies) - len(skipped)
    if skipped and audited == 0:
        print(
            f"audit: SKIPPED: the vulnerability service could not be reached for any of the {len(dependencies)} "
            "locked Python packages; nothing was checked."
        )
    elif skipped:
        print(f"audit: {len(skipped)} packages could not be checked: {', '.join(d['name'] for d in skipped)}")
    if audited:
        print(f"audit: {audited} Python packages checked, {len(found)} unaccepted vulnerabilities")
    return not found


def npm_audit() -> bool:
    if not (ROOT / "frontend" / "package-lock.json").exists():
        return True
    result = subprocess.run(
        ["npm", "audit", "--omit=dev", "--json"],
        cwd=ROOT / "frontend",
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        report = {}
    if "error" in report or not report:
        print("audit: SKIPPED: npm audit could not reach the advisory service; nothing was checked.")
        return True
    counts = report.get("metadata", {}).get("vulnerabilities", {})
    serious = int(counts.get("high", 0)) + int(counts.get("critical", 0))
    print(f"audit: npm production dependencies: {counts}")
    return serious == 0


def main() -> int:
    allowed = accepted()
    ok = python_audit(allowed)
    ok = npm_audit() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
