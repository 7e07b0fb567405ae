"""``python -m tests.fuzz.summary <report.tsv>``: what a fuzz run reached, from the lines
tests/test_fuzz.py appends when ``MOBILIZE_FUZZ_REPORT`` names a file (operation, persona, status).

Prints the answers per persona and the operations that never answered 2xx to anyone: those the
fuzzer only saw refuse (a seeded record or a persona may be missing, or valid input is hard to
generate), so a clean run says little about their success path.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path


def summarize(lines: list[str]) -> list[str]:
    per_persona: dict[str, Counter[int]] = defaultdict(Counter)
    success: dict[str, int] = defaultdict(int)
    for line in lines:
        operation, persona, status = line.rstrip("\n").split("\t")
        code = int(status)
        per_persona[persona][code] += 1
        success[operation] += 200 <= code < 300
    out = [f"requests: {sum(sum(c.values()) for c in per_persona.values())} over {len(success)} operations"]
    for persona, counts in sorted(per_persona.items()):
        out.append(f"  {persona}: " + ", ".join(f"{code} x{n}" for code, n in sorted(counts.items())))
    never = sorted(operation for operation, n in success.items() if n == 0)
    out.append(f"operations with no 2xx answer: {len(never)}")
    out.extend(f"  {operation}" for operation in never)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m tests.fuzz.summary <report.tsv>\n")
        return 2
    lines = Path(argv[0]).read_text(encoding="utf-8").splitlines()
    sys.stdout.write("\n".join(summarize(lines)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
