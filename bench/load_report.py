"""The load benchmark's figures: locust's CSV statistics as a table, and stored vs acknowledged writes.

Pure functions over text and sets (no Django, no locust, no server), tested in
``tests/test_bench_load.py``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

from bench.load_plan import CHECK_IN, EXERCISE_LOG, WRITE_KINDS

KIND_LABELS = {CHECK_IN: "check-ins", EXERCISE_LOG: "exercise logs"}
#: Missing ids listed in the report; the count is always complete.
MISSING_SHOWN = 10
_CATCH_RESPONSE = re.compile(r"CatchResponseError\((['\"])(.*)\1\)", re.DOTALL)


@dataclass(frozen=True)
class EndpointStats:
    name: str
    requests: int
    failures: int
    rps: float
    p50: int | None
    p95: int | None
    p99: int | None


@dataclass(frozen=True)
class Failure:
    name: str
    error: str
    occurrences: int


def _percentile(raw: str) -> int | None:
    return None if raw in ("", "N/A") else int(float(raw))


def parse_stats_csv(text: str) -> tuple[list[EndpointStats], EndpointStats]:
    """Rows of locust's ``<prefix>_stats.csv`` (one per request name) and its ``Aggregated`` row.

    Percentiles are locust's, in milliseconds (it rounds response times above 100 ms to 2
    significant digits); ``None`` where an endpoint had no request.
    """
    rows: list[EndpointStats] = []
    total: EndpointStats | None = None
    for record in csv.DictReader(io.StringIO(text)):
        stats = EndpointStats(
            name=record["Name"],
            requests=int(record["Request Count"]),
            failures=int(record["Failure Count"]),
            rps=float(record["Requests/s"]),
            p50=_percentile(record["50%"]),
            p95=_percentile(record["95%"]),
            p99=_percentile(record["99%"]),
        )
        if record["Name"] == "Aggregated" and not record["Type"]:
            total = stats
        else:
            rows.append(stats)
    if total is None:
        raise ValueError("locust statistics without an Aggregated row")
    return rows, total


def _error_text(error: str) -> str:
    # Locust stores a failure marked by the locustfile as the repr of its CatchResponseError.
    wrapped = _CATCH_RESPONSE.fullmatch(error)
    return wrapped.group(2) if wrapped else error


def parse_failures_csv(text: str) -> list[Failure]:
    """Rows of locust's ``<prefix>_failures.csv``, most frequent first."""
    failures = [
        Failure(
            name=record["Name"], error=_error_text(record["Error"]), occurrences=int(record["Occurrences"])
        )
        for record in csv.DictReader(io.StringIO(text))
    ]
    return sorted(failures, key=lambda failure: -failure.occurrences)


def parse_exceptions_csv(text: str) -> list[tuple[int, str]]:
    """``(count, message)`` of locust's ``<prefix>_exceptions.csv``: errors in the locustfile itself."""
    return [(int(record["Count"]), record["Message"]) for record in csv.DictReader(io.StringIO(text))]


def _ms(value: int | None) -> str:
    return "-" if value is None else str(value)


def stats_table(rows: Sequence[EndpointStats], total: EndpointStats, order: Sequence[str] = ()) -> list[str]:
    """The per-endpoint table with a total line; rows follow ``order`` (names), then the rest."""
    rank = {name: index for index, name in enumerate(order)}
    ordered = sorted(rows, key=lambda row: (rank.get(row.name, len(rank)), row.name))
    width = max([len("endpoint"), len("total"), *(len(row.name) for row in ordered)]) + 2
    lines = [
        f"{'endpoint':<{width}}{'requests':>9}{'failures':>10}{'req/s':>9}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
    ]
    for row in [*ordered, EndpointStats("total", *_values(total))]:
        lines.append(
            f"{row.name:<{width}}{row.requests:>9}{row.failures:>10}{row.rps:>9.1f}"
            f"{_ms(row.p50):>8}{_ms(row.p95):>8}{_ms(row.p99):>8}"
        )
    return lines


def _values(stats: EndpointStats) -> tuple[int, int, float, int | None, int | None, int | None]:
    return stats.requests, stats.failures, stats.rps, stats.p50, stats.p95, stats.p99


# ---------------------------------------------------------------------------------------------
# Stored vs acknowledged
# ---------------------------------------------------------------------------------------------


def parse_acks(lines: Iterable[str]) -> dict[str, set[str]]:
    """``<kind> <id>`` lines (acknowledgement files) as ids per kind; blank lines are skipped."""
    acknowledged: dict[str, set[str]] = {kind: set() for kind in WRITE_KINDS}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in acknowledged:
            raise ValueError(f"acknowledgement line {number} is not '<kind> <id>': {line!r}")
        acknowledged[parts[0]].add(parts[1])
    return acknowledged


def read_acks(folder: Path) -> dict[str, set[str]]:
    """Every ``acks-*.txt`` in ``folder`` (one per client process), merged."""
    lines: list[str] = []
    for path in sorted(folder.glob("acks-*.txt")):
        lines.extend(path.read_text(encoding="utf-8").splitlines())
    return parse_acks(lines)


@dataclass(frozen=True)
class AckCheck:
    acknowledged: dict[str, int]
    stored: dict[str, int]
    #: Acknowledged but not stored: a lost write, the one thing that must never happen.
    missing: dict[str, list[str]]
    #: Stored but never acknowledged: a request whose answer the client did not get (it gave up,
    #: or the run stopped it); the server did its job, so this is reported, not an error.
    unacknowledged: dict[str, int]

    @property
    def ok(self) -> bool:
        return not any(self.missing.values())


def compare_acks(acknowledged: Mapping[str, Set[str]], stored: Mapping[str, Set[str]]) -> AckCheck:
    empty: frozenset[str] = frozenset()
    kinds = [*WRITE_KINDS, *sorted((set(acknowledged) | set(stored)) - set(WRITE_KINDS))]
    return AckCheck(
        acknowledged={kind: len(acknowledged.get(kind, empty)) for kind in kinds},
        stored={kind: len(stored.get(kind, empty)) for kind in kinds},
        missing={kind: sorted(acknowledged.get(kind, empty) - stored.get(kind, empty)) for kind in kinds},
        unacknowledged={kind: len(stored.get(kind, empty) - acknowledged.get(kind, empty)) for kind in kinds},
    )


def _per_kind(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{KIND_LABELS.get(kind, kind)} {count}" for kind, count in counts.items())


def ack_report(check: AckCheck) -> list[str]:
    stored, acknowledged = sum(check.stored.values()), sum(check.acknowledged.values())
    missing = sum(len(ids) for ids in check.missing.values())
    extra = sum(check.unacknowledged.values())
    pairs = ", ".join(
        f"{KIND_LABELS.get(kind, kind)} {check.stored[kind]} = {check.acknowledged[kind]}"
        for kind in check.stored
    )
    if not missing and not extra:
        return [f"stored = acknowledged: {stored} = {acknowledged} OK ({pairs})"]
    lines = [
        f"stored = acknowledged: {stored - extra} = {acknowledged} "
        + ("OK" if not missing else f"FAIL: {missing} acknowledged writes are not stored")
        + f" (stored: {_per_kind(check.stored)}; acknowledged: {_per_kind(check.acknowledged)})"
    ]
    for kind, ids in check.missing.items():
        if ids:
            shown = ", ".join(ids[:MISSING_SHOWN]) + (", ..." if len(ids) > MISSING_SHOWN else "")
            lines.append(f"  missing {KIND_LABELS.get(kind, kind)} ({len(ids)}): {shown}")
    if extra:
        lines.append(
            f"stored but unacknowledged: {extra} ({_per_kind(check.unacknowledged)}): requests whose answer "
            "the client never got (timed out, or stopped at the end of the run); not an error"
        )
    return lines
