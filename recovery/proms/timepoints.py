"""Questionnaire timepoints relative to the day of surgery, and their states. Pure, no database.

A timepoint has a window of post-op days (inclusive; 0 = day of surgery, negative before). Windows
of one schedule never overlap, so a patient-local day falls in at most one timepoint: that is how a
submitted questionnaire is assigned. States are computed on the patient's own calendar:

- ``completed``  a response is stored for the timepoint;
- ``upcoming``   the window has not opened yet;
- ``due``        today is inside the window;
- ``missed``     the window has closed without a response.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

DEFAULT_SCHEDULE_FILE: Final = Path(__file__).resolve().parent / "default_schedule.json"


class State(StrEnum):
    UPCOMING = "upcoming"
    DUE = "due"
    COMPLETED = "completed"
    MISSED = "missed"


@dataclass(frozen=True)
class Timepoint:
    key: str
    label: str
    is_baseline: bool
    target_day: int
    opens_day: int
    closes_day: int
    timepoint_source: str
    window_source: str

    def opens(self, surgery_date: date) -> date:
        return surgery_date + timedelta(days=self.opens_day)

    def closes(self, surgery_date: date) -> date:
        return surgery_date + timedelta(days=self.closes_day)

    def contains(self, surgery_date: date, day: date) -> bool:
        return self.opens(surgery_date) <= day <= self.closes(surgery_date)


def state_of(timepoint: Timepoint, *, surgery_date: date, today: date, completed: bool) -> State:
    if completed:
        return State.COMPLETED
    if today < timepoint.opens(surgery_date):
        return State.UPCOMING
    if today <= timepoint.closes(surgery_date):
        return State.DUE
    return State.MISSED


def timepoint_on(timepoints: Iterable[Timepoint], *, surgery_date: date, day: date) -> Timepoint | None:
    """The timepoint whose window contains ``day`` (a patient-local date), if any."""
    return next((tp for tp in timepoints if tp.contains(surgery_date, day)), None)


def next_opening(timepoints: Iterable[Timepoint], *, surgery_date: date, day: date) -> Timepoint | None:
    later = [tp for tp in timepoints if tp.opens(surgery_date) > day]
    return min(later, key=lambda tp: tp.opens_day, default=None)


def check_schedule(timepoints: Sequence[Timepoint]) -> list[str]:
    """Problems with one schedule: bad windows, repeated keys, overlaps, more than one baseline."""
    problems: list[str] = []
    keys = [tp.key for tp in timepoints]
    for key in sorted({key for key in keys if keys.count(key) > 1}):
        problems.append(f"Timepoint key '{key}' is used more than once.")
    for tp in timepoints:
        if not tp.opens_day <= tp.target_day <= tp.closes_day:
            problems.append(f"'{tp.key}': the window must satisfy opens_day <= target_day <= closes_day.")
    ordered = sorted(timepoints, key=lambda tp: (tp.opens_day, tp.closes_day))
    for earlier, later in pairwise(ordered):
        if later.opens_day <= earlier.closes_day:
            problems.append(
                f"'{earlier.key}' (days {earlier.opens_day} to {earlier.closes_day}) overlaps "
                f"'{later.key}' (days {later.opens_day} to {later.closes_day}): a day must belong to one timepoint."
            )
    if sum(tp.is_baseline for tp in timepoints) > 1:
        problems.append("Only one timepoint can be the baseline.")
    return problems


def timepoint_from_data(data: Mapping[str, Any]) -> Timepoint:
    return Timepoint(
        key=str(data["key"]),
        label=str(data["label"]),
        is_baseline=bool(data["is_baseline"]),
        target_day=int(data["target_day"]),
        opens_day=int(data["opens_day"]),
        closes_day=int(data["closes_day"]),
        timepoint_source=str(data["timepoint_source"]),
        window_source=str(data["window_source"]),
    )


def default_schedule() -> list[Timepoint]:
    """Mobilize's shipped schedule, checked (a malformed file fails loudly)."""
    data = json.loads(DEFAULT_SCHEDULE_FILE.read_text(encoding="utf-8"))
    timepoints = [timepoint_from_data(entry) for entry in data["timepoints"]]
    problems = check_schedule(timepoints)
    if problems:
        raise ValueError(f"{DEFAULT_SCHEDULE_FILE.name}: {'; '.join(problems)}")
    return timepoints
