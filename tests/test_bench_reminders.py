"""The reminder benchmark's pure parts: the layout of schedules over episodes, the push endpoint's
per-path check, ratios and the table. No server, no database, no broker."""

from __future__ import annotations

import math

import pytest

from bench.reminders_plan import (
    SCHEDULES_PER_EPISODE,
    check_pushes,
    layout,
    median,
    ratio,
    table,
    verdict,
)


def test_layout_of_the_default_run() -> None:
    plan = layout(100_000, 10_000)
    assert plan.episodes == 10_000
    assert plan.schedules == 100_000
    assert set(plan.per_episode) == {SCHEDULES_PER_EPISODE}
    assert plan.due == 10_000


def test_layout_needs_an_episode_per_due_schedule() -> None:
    plan = layout(1000, 500)
    assert plan.episodes == 500
    assert plan.schedules == 1000
    assert max(plan.per_episode) <= SCHEDULES_PER_EPISODE
    assert min(plan.per_episode) >= 1


def test_layout_uneven_counts_add_up() -> None:
    plan = layout(1003, 7)
    assert plan.schedules == 1003
    assert plan.episodes == 101
    assert max(plan.per_episode) - min(plan.per_episode) <= 1
    assert max(plan.per_episode) <= SCHEDULES_PER_EPISODE


@pytest.mark.parametrize(("schedules", "due"), [(0, 0), (10, 11), (10, -1)])
def test_layout_refuses_impossible_runs(schedules: int, due: int) -> None:
    with pytest.raises(ValueError):
        layout(schedules, due)


def test_check_pushes_counts_duplicates_and_strays() -> None:
    check = check_pushes(["/push/0", "/push/1", "/push/1", "/elsewhere"])
    assert check.received == 4
    assert check.distinct == 3
    assert check.duplicated_paths == 1
    assert check.stray == 1
    assert not check.ok(3)


def test_check_pushes_ok_when_each_endpoint_once() -> None:
    check = check_pushes([f"/push/{n}" for n in range(5)])
    assert check.ok(5)
    assert not check.ok(6)
    assert check_pushes([]).ok(0)


def test_median_ratio_and_verdict() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert ratio(6.0, 2.0) == 3.0
    assert ratio(1.0, 0.0) == math.inf
    assert verdict(True) == "PASS"
    assert verdict(False) == "BELOW TARGET"


def test_table_aligns_columns() -> None:
    lines = table([("bare", "1.0 ms", "10 rows"), ("dispatcher select", "12.5 ms", "")])
    assert lines[0].startswith("measure")
    # Values are right-aligned in one column.
    assert lines[2].index("1.0 ms") + len("1.0 ms") == lines[3].index("12.5 ms") + len("12.5 ms")
    assert lines[2].endswith("10 rows")
    assert lines[3] == lines[3].rstrip()


def test_process_cpu_seconds_counts_this_process_and_ignores_a_missing_one() -> None:
    import os
    import time

    from bench.reminders import process_cpu_seconds

    before = process_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:  # burn CPU, not wall time
        pass
    assert process_cpu_seconds(os.getpid()) - before >= 0.05
    assert process_cpu_seconds(2**22 + 1) == 0.0  # above Linux's pid_max: no such process
