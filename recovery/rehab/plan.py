"""Reads for the patient's exercise plan: what is due on a day, the exercise logs, and adherence.

Callers pass an episode they obtained through the access policy; nothing here checks access again.

Invariants:
- Days are the patient's calendar days in their own IANA zone (``Episode.patient_time_zone``); a
  log's day is its stored ``local_date``, fixed when it was recorded.
- An assignment is active on local day D when ``start_day <= post-op day(D) <= end_day`` (or
  ``end_day`` is null), D's weekday is in ``days_of_week``, and it was not ended on or before D.
  ``assignment_inactive_reason`` is that rule for one assignment and one day; the adherence
  arithmetic (``recovery.analytics.adherence``) applies the same rule to whole frames.
- Each selector costs a fixed number of queries, however many assignments and logs there are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final
from uuid import UUID

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
from django.db.models import Q, QuerySet

from recovery.analytics.adherence import (
    LOG_COLUMNS,
    SCHEDULE_COLUMNS,
    WEEK_DEFINITION,
    counts_as_session,
    daily_adherence,
    overall_adherence,
    weekly_adherence,
)
from recovery.episodes.models import Episode
from recovery.rehab.models import Assignment, ExerciseLog
from recovery.rehab.vocabulary import WEEKDAYS

ADHERENCE_DECIMALS: Final = 3
_WEEKDAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def assignment_inactive_reason(assignment: Assignment, *, day: date, surgery_date: date) -> str | None:
    """Why ``assignment`` is not due on the patient-local ``day``, in plain words; None when it is."""
    post_op_day = (day - surgery_date).days
    if assignment.ended_on is not None and day >= assignment.ended_on:
        return f"This exercise was ended on {assignment.ended_on.isoformat()}."
    if post_op_day < assignment.start_day:
        first = surgery_date + timedelta(days=assignment.start_day)
        return (
            f"This exercise is not prescribed on {day.isoformat()}: it starts on post-op day "
            f"{assignment.start_day} ({first.isoformat()})."
        )
    if assignment.end_day is not None and post_op_day > assignment.end_day:
        last = surgery_date + timedelta(days=assignment.end_day)
        return (
            f"This exercise is not prescribed on {day.isoformat()}: its last day was post-op day "
            f"{assignment.end_day} ({last.isoformat()})."
        )
    if WEEKDAYS[day.weekday()] not in assignment.days_of_week:
        days = ", ".join(name for name in WEEKDAYS if name in assignment.days_of_week) or "none"
        return (
            f"This exercise is not prescribed on {day.isoformat()} (a {_WEEKDAY_NAMES[day.weekday()]}); "
            f"its days are: {days}."
        )
    return None


def _overlapping(episode: Episode, date_from: date, date_to: date) -> QuerySet[Assignment]:
    """Assignments whose window and end date can make them active somewhere in the range; the
    weekday test stays in Python because JSON containment is not portable to SQLite (the demo)."""
    first_day = (date_from - episode.surgery_date).days
    last_day = (date_to - episode.surgery_date).days
    return Assignment.objects.filter(episode=episode, start_day__lte=last_day).filter(
        Q(end_day__isnull=True) | Q(end_day__gte=first_day),
        Q(ended_on__isnull=True) | Q(ended_on__gt=date_from),
    )


# --- Exercise logs -------------------------------------------------------------------------------


def exercise_log_list(
    *,
    episode: Episode,
    date_from: date | None = None,
    date_to: date | None = None,
    assignment_id: UUID | None = None,
) -> QuerySet[ExerciseLog]:
    """Exercise logs of one episode, newest first; ``date_from``/``date_to`` are patient-local days."""
    qs = ExerciseLog.objects.filter(episode=episode).select_related("assignment__exercise")
    if date_from is not None:
        qs = qs.filter(local_date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(local_date__lte=date_to)
    if assignment_id is not None:
        qs = qs.filter(assignment_id=assignment_id)
    return qs.order_by("-performed_at", "id")


def assignment_exists(*, episode: Episode, assignment_id: UUID) -> bool:
    return Assignment.objects.filter(episode=episode, pk=assignment_id).exists()


# --- The plan for one day ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedExercise:
    """One assignment due on the day, with the logs the patient made for it that day (oldest first)."""

    assignment: Assignment
    logs: list[ExerciseLog]

    @property
    def sessions_logged(self) -> int:
        return sum(1 for log in self.logs if counts_as_session(log.sets_completed))

    @property
    def remaining(self) -> int:
        return max(self.assignment.sessions_per_day - self.sessions_logged, 0)

    @property
    def done(self) -> bool:
        return self.remaining == 0


@dataclass(frozen=True)
class DayPlan:
    date: date
    post_op_day: int
    time_zone: str
    exercises: list[PlannedExercise]


def plan_for_day(*, episode: Episode, day: date) -> DayPlan:
    """The assignments due on the patient-local ``day`` and that day's logs: two queries."""
    assignments = [
        assignment
        for assignment in _overlapping(episode, day, day)
        .select_related("exercise")
        .order_by("start_day", "created_at", "id")
        if assignment_inactive_reason(assignment, day=day, surgery_date=episode.surgery_date) is None
    ]
    logs_by_assignment: dict[UUID, list[ExerciseLog]] = {}
    for log in ExerciseLog.objects.filter(episode=episode, local_date=day).order_by("performed_at", "id"):
        logs_by_assignment.setdefault(log.assignment_id, []).append(log)
    return DayPlan(
        date=day,
        post_op_day=(day - episode.surgery_date).days,
        time_zone=episode.patient.patient_profile.time_zone,
        exercises=[
            PlannedExercise(assignment=assignment, logs=logs_by_assignment.get(assignment.pk, []))
            for assignment in assignments
        ],
    )


# --- Adherence -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdherenceTotals:
    prescribed: int
    completed: int
    adherence: float | None


@dataclass(frozen=True)
class DayAdherence(AdherenceTotals):
    date: date
    post_op_day: int


@dataclass(frozen=True)
class WeekAdherence(AdherenceTotals):
    week: int
    start: date
    end: date


@dataclass(frozen=True)
class AdherenceReport:
    date_from: date
    date_to: date
    time_zone: str
    week_definition: str
    overall: AdherenceTotals
    days: list[DayAdherence]
    weeks: list[WeekAdherence]


def adherence_frames(
    *, episode: Episode, date_from: date, date_to: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``schedules`` and ``logs`` frames of ``recovery.analytics.adherence`` for the range: two queries."""
    schedules = [
        (
            str(assignment_id),
            sessions_per_day,
            start_day,
            end_day,
            ended_on,
            # Unknown weekday codes cannot be due on any day; they are dropped, not guessed.
            [WEEKDAYS.index(code) for code in days_of_week if code in WEEKDAYS],
        )
        for assignment_id, sessions_per_day, start_day, end_day, ended_on, days_of_week in _overlapping(
            episode, date_from, date_to
        )
        .order_by()
        .values_list("id", "sessions_per_day", "start_day", "end_day", "ended_on", "days_of_week")
    ]
    logs = [
        (str(assignment_id), local_date, sets_completed)
        for assignment_id, local_date, sets_completed in ExerciseLog.objects.filter(
            episode=episode, local_date__gte=date_from, local_date__lte=date_to
        )
        .order_by()
        .values_list("assignment_id", "local_date", "sets_completed")
    ]
    return (
        pd.DataFrame.from_records(schedules, columns=list(SCHEDULE_COLUMNS)),
        pd.DataFrame.from_records(logs, columns=list(LOG_COLUMNS)),
    )


def _fraction(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), ADHERENCE_DECIMALS)


def adherence_report(*, episode: Episode, date_from: date, date_to: date) -> AdherenceReport:
    """Adherence per patient-local day and post-op week over ``date_from``..``date_to`` (inclusive)."""
    schedules, logs = adherence_frames(episode=episode, date_from=date_from, date_to=date_to)
    daily = daily_adherence(
        schedules, logs, date_from=date_from, date_to=date_to, surgery_date=episode.surgery_date
    )
    weekly = weekly_adherence(daily)
    prescribed, completed, adherence = overall_adherence(daily)
    return AdherenceReport(
        date_from=date_from,
        date_to=date_to,
        time_zone=episode.patient.patient_profile.time_zone,
        week_definition=WEEK_DEFINITION,
        overall=AdherenceTotals(
            prescribed=prescribed,
            completed=completed,
            adherence=None if adherence is None else round(adherence, ADHERENCE_DECIMALS),
        ),
        days=[
            DayAdherence(
                date=row.date.date(),
                post_op_day=int(row.post_op_day),
                prescribed=int(row.prescribed),
                completed=int(row.completed),
                adherence=_fraction(row.adherence),
            )
            for row in daily.itertuples(index=False)
        ],
        weeks=[
            WeekAdherence(
                week=int(row.week),
                start=row.start.date(),
                end=row.end.date(),
                prescribed=int(row.prescribed),
                completed=int(row.completed),
                adherence=_fraction(row.adherence),
            )
            for row in weekly.itertuples(index=False)
        ],
    )
