"""Writes for prescription: assignments of exercises to an episode.

(A clinic's own exercises: ``recovery.rehab.exercises``; restrictions and the guard:
``recovery.rehab.restrictions``; exercise logs: ``recovery.rehab.logging``.)

Invariants:
- An assignment prescribes an active exercise that is shipped or of the episode's clinic, for a
  window of post-op days ``[start_day, end_day or open]``; only the care team prescribes
  (``Action.PRESCRIBE``).
- The restriction guard (``restrictions.restriction_conflicts``) runs on create and on any PATCH that
  moves the window or the load.
- Ending an assignment keeps the row (``ended_on`` is the patient's local today). Every edit and the
  end leave an ``AssignmentRevision`` holding the previous content.

Idempotency:
- ``assignment_create`` takes a client id. The same id with the same content returns the stored row
  (``created`` False) and writes nothing; other content is a ``Conflict``. A race of identical
  requests is settled by the primary key.
- An edit that changes nothing writes nothing (no revision); ending an ended assignment does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from django.db import IntegrityError, transaction

from recovery.accounts.models import User
from recovery.core.errors import Conflict, NotPermitted, ValidationFailed
from recovery.episodes.access import Action, can
from recovery.episodes.models import Episode
from recovery.rehab.models import (
    Assignment,
    AssignmentRevision,
    Exercise,
)
from recovery.rehab.restrictions import restriction_conflicts
from recovery.rehab.rules import (
    ASSIGNMENT_DAYS,
    HOLD_SECONDS,
    MAX_NOTES,
    REPS,
    SESSIONS_PER_DAY,
    SETS,
    check_kg,
    check_range,
    normalise_weekdays,
)
from recovery.rehab.selectors import exercises_visible
from recovery.rehab.vocabulary import WEEKDAYS

# --- Assignments -----------------------------------------------------------------------------------

ASSIGNMENT_FIELDS: Final = (
    "sets",
    "reps",
    "hold_seconds",
    "load_kg",
    "sessions_per_day",
    "days_of_week",
    "start_day",
    "end_day",
    "notes",
)


def _static_defaults() -> dict[str, Any]:
    """Defaults that do not depend on the exercise or the date (a fresh dict: it is mutated)."""
    return {
        "reps": None,
        "hold_seconds": None,
        "load_kg": None,
        "days_of_week": list(WEEKDAYS),
        "end_day": None,
        "notes": "",
    }


@dataclass(frozen=True)
class AssignmentData:
    """What the prescriber sent; ``None`` where they sent nothing (see ``supplied``)."""

    exercise: UUID
    sets: int | None = None
    reps: int | None = None
    hold_seconds: int | None = None
    load_kg: Decimal | None = None
    sessions_per_day: int | None = None
    days_of_week: tuple[str, ...] | None = None
    start_day: int | None = None
    end_day: int | None = None
    notes: str = ""


def _assignment_problems(values: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    check_range(errors, "sets", values["sets"], SETS)
    check_range(errors, "reps", values["reps"], REPS, required=False)
    check_range(errors, "hold_seconds", values["hold_seconds"], HOLD_SECONDS, required=False)
    if values["reps"] is None and values["hold_seconds"] is None:
        errors.setdefault("reps", []).append("Give reps or hold_seconds (or both).")
    check_kg(errors, "load_kg", values["load_kg"])
    check_range(errors, "sessions_per_day", values["sessions_per_day"], SESSIONS_PER_DAY)
    check_range(errors, "start_day", values["start_day"], ASSIGNMENT_DAYS)
    check_range(errors, "end_day", values["end_day"], ASSIGNMENT_DAYS, required=False)
    start, end = values["start_day"], values["end_day"]
    if start is not None and end is not None and end < start:
        errors.setdefault("end_day", []).append("Must be on or after start_day.")
    if len(values["notes"]) > MAX_NOTES:
        errors["notes"] = [f"Keep notes to {MAX_NOTES} characters or fewer."]
    return errors


def _prescribable(episode: Episode, exercise_id: UUID) -> Exercise | None:
    return exercises_visible(clinic_id=episode.clinic_id).filter(pk=exercise_id, is_active=True).first()


def _snapshot(assignment: Assignment) -> dict[str, Any]:
    snapshot: dict[str, Any] = {name: getattr(assignment, name) for name in ASSIGNMENT_FIELDS}
    snapshot["exercise"] = str(assignment.exercise_id)
    snapshot["load_kg"] = None if assignment.load_kg is None else float(assignment.load_kg)
    snapshot["ended_on"] = assignment.ended_on.isoformat() if assignment.ended_on else None
    return snapshot


def _assignment_replay(
    existing: Assignment, episode: Episode, exercise_id: UUID, supplied: Mapping[str, Any]
) -> Assignment:
    """The stored assignment when the request matches it. Unsupplied fields with a fixed default must
    match that default; those derived from the exercise or today's date are not compared, so a retry
    on another day still matches."""
    derived = {"sets", "sessions_per_day", "start_day"}
    if "reps" not in supplied and "hold_seconds" not in supplied:
        derived |= {"reps", "hold_seconds"}
    expected = {name: value for name, value in _static_defaults().items() if name not in derived}
    expected.update(supplied)
    same = (
        existing.episode_id == episode.pk
        and existing.exercise_id == exercise_id
        and all(getattr(existing, name) == value for name, value in expected.items())
    )
    if not same:
        raise Conflict({"id": ["An assignment with this id already exists with different content."]})
    return existing


@transaction.atomic
def assignment_create(
    *,
    actor: User,
    episode: Episode,
    data: AssignmentData,
    supplied: frozenset[str],
    assignment_id: UUID | None = None,
    now: datetime | None = None,
) -> tuple[Assignment, bool]:
    """Prescribe an exercise. ``supplied`` names the fields the client sent. Returns ``(row, created)``.

    Defaults: dose and sessions from the exercise (its reps and hold only when neither was sent),
    every weekday, and today's post-op day as the start (never before surgery, at most day 730).
    """
    if not can(actor, Action.PRESCRIBE, episode):
        raise NotPermitted("Only the care team's physiotherapists and surgeon prescribe exercises.")
    comparable: dict[str, Any] = {}
    for name in ASSIGNMENT_FIELDS:
        if name in supplied:
            value = getattr(data, name)
            comparable[name] = normalise_weekdays(value) if name == "days_of_week" else value
    if assignment_id is not None:
        # Replays are checked first: a retry must get its 200 even if restrictions changed since.
        existing = Assignment.objects.filter(pk=assignment_id).first()
        if existing is not None:
            return _assignment_replay(existing, episode, data.exercise, comparable), False
    exercise = _prescribable(episode, data.exercise)
    if exercise is None:
        raise ValidationFailed({"exercise": ["No active exercise with this id in this clinic's library."]})
    values: dict[str, Any] = {**_static_defaults(), **comparable}
    values.setdefault("sets", exercise.default_sets)
    if "reps" not in supplied and "hold_seconds" not in supplied:
        values["reps"], values["hold_seconds"] = exercise.default_reps, exercise.default_hold_seconds
    values.setdefault("sessions_per_day", exercise.default_sessions_per_day)
    if "start_day" not in values:
        low, high = max(ASSIGNMENT_DAYS[0], 0), ASSIGNMENT_DAYS[1]
        values["start_day"] = min(max(episode.post_op_day(now), low), high)
    errors = _assignment_problems(values)
    if errors:
        raise ValidationFailed(errors)
    conflicts = restriction_conflicts(
        episode=episode,
        exercise=exercise,
        start_day=values["start_day"],
        load_kg=values["load_kg"],
        lock=True,
    )
    if conflicts:
        raise ValidationFailed(conflicts)
    try:
        with transaction.atomic():
            assignment = Assignment.objects.create(
                **({"id": assignment_id} if assignment_id else {}),
                episode=episode,
                exercise=exercise,
                prescribed_by=actor,
                **values,
            )
    except IntegrityError:
        # A concurrent request with the same id won the insert.
        existing = Assignment.objects.filter(pk=assignment_id).first() if assignment_id else None
        if existing is None:
            raise
        return _assignment_replay(existing, episode, data.exercise, comparable), False
    return assignment, True


def _lock(assignment: Assignment) -> Assignment:
    return (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("episode", "episode__patient__patient_profile", "exercise")
        .get(pk=assignment.pk)
    )


@transaction.atomic
def assignment_update(*, actor: User, assignment: Assignment, changes: Mapping[str, Any]) -> Assignment:
    """Change dose, schedule or notes, keeping the previous content as a revision.

    An ended assignment is not changed (``Conflict``): prescribe a new one. The restriction guard
    runs when the start day or the load changes.
    """
    assignment = _lock(assignment)
    episode = assignment.episode
    if not can(actor, Action.PRESCRIBE, episode):
        raise NotPermitted("Only the care team's physiotherapists and surgeon change prescriptions.")
    if assignment.ended_on is not None:
        raise Conflict(
            f"This assignment was ended on {assignment.ended_on.isoformat()}; prescribe a new one instead."
        )
    unknown = set(changes) - set(ASSIGNMENT_FIELDS)
    if unknown:
        raise ValidationFailed({name: ["This field cannot be changed."] for name in sorted(unknown)})
    changes = dict(changes)
    if "days_of_week" in changes:
        changes["days_of_week"] = normalise_weekdays(changes["days_of_week"])
    values = {name: getattr(assignment, name) for name in ASSIGNMENT_FIELDS}
    values.update(changes)
    errors = _assignment_problems(values)
    if errors:
        raise ValidationFailed(errors)
    changed = {name for name, value in values.items() if getattr(assignment, name) != value}
    if not changed:
        return assignment  # A replayed PATCH writes no revision.
    if changed & {"start_day", "load_kg"}:
        conflicts = restriction_conflicts(
            episode=episode,
            exercise=assignment.exercise,
            start_day=values["start_day"],
            load_kg=values["load_kg"],
            lock=True,
        )
        if conflicts:
            raise ValidationFailed(conflicts)
    AssignmentRevision.objects.create(
        assignment=assignment, action="update", previous=_snapshot(assignment), changed_by=actor
    )
    for name in changed:
        setattr(assignment, name, values[name])
    assignment.save()
    return assignment


@transaction.atomic
def assignment_end(*, actor: User, assignment: Assignment, now: datetime | None = None) -> Assignment:
    """Stop an assignment from the patient's local today on; the row and its history stay.

    Ending an ended assignment changes nothing and writes no second revision.
    """
    assignment = _lock(assignment)
    episode = assignment.episode
    if not can(actor, Action.PRESCRIBE, episode):
        raise NotPermitted("Only the care team's physiotherapists and surgeon end prescriptions.")
    if assignment.ended_on is not None:
        return assignment
    AssignmentRevision.objects.create(
        assignment=assignment, action="end", previous=_snapshot(assignment), changed_by=actor
    )
    assignment.ended_on = episode.local_today(now)
    assignment.ended_by = actor
    assignment.save(update_fields=["ended_on", "ended_by", "updated_at"])
    return assignment
