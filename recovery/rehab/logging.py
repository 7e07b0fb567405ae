"""Writes for exercise logs: one row per session the patient did.

Invariants:
- Only the episode's patient logs exercises (the access policy decides: ``Action.LOG_EXERCISE``).
- ``performed_at`` follows the check-in rules: at most 5 minutes in the future and not before the
  day 30 days ahead of surgery (the limits are imported from ``recovery.checkins.services``).
- The assignment belongs to this episode and is active on the patient-local day of ``performed_at``
  (``recovery.rehab.plan.assignment_inactive_reason``); that day is stored as ``local_date``.
- The dose matches what was prescribed: ``reps_completed`` when the assignment counts repetitions,
  ``hold_seconds`` when it prescribes a hold (both when it prescribes both), never one it does not.
- Recording is idempotent on the client-supplied id, as for check-ins: the same id with the same
  content returns the stored row and creates nothing; the same id with other content (or on another
  episode) is a ``Conflict``. A race between identical requests is settled by the primary key. A
  stored id answers for itself even when the request would no longer validate (the assignment has
  since been ended, say): a phone retrying a log it already sent gets 200, not a 400 that would make
  it think the session was lost.
- Logs are not edited or deleted through the app: ``ExerciseLog`` has no revision history or
  soft-delete column to keep what the patient first reported. Extra sessions never lift adherence
  above 100 % (``recovery.analytics.adherence``), so an accidental double tap costs nothing.

No side effects beyond the one row.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from recovery.accounts.models import User
from recovery.checkins.services import BEFORE_SURGERY_LIMIT, FUTURE_TOLERANCE
from recovery.core.errors import Conflict, NotPermitted, ValidationFailed
from recovery.episodes.access import Action, can
from recovery.episodes.models import Episode
from recovery.rehab.models import Assignment, ExerciseLog
from recovery.rehab.plan import assignment_inactive_reason

CONTENT_FIELDS = (
    "assignment",
    "performed_at",
    "sets_completed",
    "reps_completed",
    "hold_seconds",
    "pain_during",
    "difficulty",
    "note",
)
_OPTIONAL_DEFAULTS: dict[str, Any] = {
    "reps_completed": None,
    "hold_seconds": None,
    "pain_during": None,
    "difficulty": "",
    "note": "",
}


@dataclass(frozen=True)
class ExerciseLogData:
    assignment: UUID
    sets_completed: int
    performed_at: datetime | None = None
    reps_completed: int | None = None
    hold_seconds: int | None = None
    pain_during: int | None = None
    difficulty: str = ""
    note: str = ""


def _check_performed_at(episode: Episode, performed_at: datetime, now: datetime) -> None:
    if performed_at > now + FUTURE_TOLERANCE:
        raise ValidationFailed({"performed_at": ["Cannot be more than 5 minutes in the future."]})
    earliest_day = episode.surgery_date - BEFORE_SURGERY_LIMIT
    earliest = datetime.combine(earliest_day, time.min, tzinfo=episode.patient_time_zone)
    if performed_at < earliest:
        raise ValidationFailed(
            {
                "performed_at": [
                    f"Cannot be more than 30 days before surgery (earliest {earliest_day.isoformat()})."
                ]
            }
        )


def _check_dose(assignment: Assignment, data: ExerciseLogData) -> None:
    errors: dict[str, list[str]] = {}
    for name, prescribed, kind in (
        ("reps_completed", assignment.reps, "repetitions"),
        ("hold_seconds", assignment.hold_seconds, "a hold in seconds"),
    ):
        given = getattr(data, name)
        if prescribed is not None and given is None:
            errors[name] = [f"This field is required: this exercise is dosed in {kind}."]
        elif prescribed is None and given is not None:
            errors[name] = [f"This exercise is not dosed in {kind}; leave this field out."]
    if errors:
        raise ValidationFailed(errors)


def _validated(episode: Episode, data: ExerciseLogData, performed_at: datetime, now: datetime) -> Assignment:
    _check_performed_at(episode, performed_at, now)
    assignment = (
        Assignment.objects.select_related("exercise").filter(pk=data.assignment, episode=episode).first()
    )
    if assignment is None:
        raise ValidationFailed({"assignment": ["No such exercise is prescribed on this episode."]})
    reason = assignment_inactive_reason(
        assignment, day=_local_date(episode, performed_at), surgery_date=episode.surgery_date
    )
    if reason is not None:
        raise ValidationFailed({"assignment": [reason]})
    _check_dose(assignment, data)
    return assignment


def _local_date(episode: Episode, performed_at: datetime) -> date:
    return timezone.localtime(performed_at, episode.patient_time_zone).date()


def _stored_value(log: ExerciseLog, name: str) -> Any:
    return log.assignment_id if name == "assignment" else getattr(log, name)


def _matches(log: ExerciseLog, supplied: dict[str, Any]) -> bool:
    for name in CONTENT_FIELDS:
        if name in supplied:
            if _stored_value(log, name) != supplied[name]:
                return False
        elif name in _OPTIONAL_DEFAULTS and _stored_value(log, name) != _OPTIONAL_DEFAULTS[name]:
            return False
    return True


def _replay(log_id: UUID | None, episode: Episode, supplied: dict[str, Any]) -> ExerciseLog | None:
    """The stored log under ``log_id`` when ``supplied`` is its content; None when the id is free."""
    existing = (
        ExerciseLog.objects.select_related("assignment__exercise").filter(pk=log_id).first()
        if log_id
        else None
    )
    if existing is None:
        return None
    if existing.episode_id != episode.pk or not _matches(existing, supplied):
        raise Conflict({"id": ["An exercise log with this id already exists with different content."]})
    return existing


def exercise_log_record(
    *,
    actor: User,
    episode: Episode,
    data: ExerciseLogData,
    supplied: frozenset[str],
    log_id: UUID | None = None,
    now: datetime | None = None,
) -> tuple[ExerciseLog, bool]:
    """Store one exercise session. ``supplied`` names the fields the client actually sent (for
    replay matching). Returns ``(log, created)``; ``created`` is False for a replay."""
    if not can(actor, Action.LOG_EXERCISE, episode):
        raise NotPermitted("Only the patient logs exercises for this episode.")
    now = now or timezone.now()
    performed_at = data.performed_at or now
    values: dict[str, Any] = {
        "performed_at": performed_at,
        "sets_completed": data.sets_completed,
        "reps_completed": data.reps_completed,
        "hold_seconds": data.hold_seconds,
        "pain_during": data.pain_during,
        "difficulty": data.difficulty,
        "note": data.note,
    }
    comparable = {
        name: data.assignment if name == "assignment" else values[name]
        for name in CONTENT_FIELDS
        if name in supplied
    }
    try:
        assignment = _validated(episode, data, performed_at, now)
    except ValidationFailed:
        # Only on the error path: a retry of a stored log is answered from the stored row.
        replayed = _replay(log_id, episode, comparable)
        if replayed is None:
            raise
        return replayed, False
    # Insert first, as check-ins do: a replay is the rare case, so it pays for the extra read. In
    # autocommit one INSERT is atomic by itself; inside a caller's transaction a savepoint keeps a
    # duplicate-key failure from poisoning it.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            log = ExerciseLog.objects.create(
                **({"id": log_id} if log_id else {}),
                episode=episode,
                assignment=assignment,
                local_date=_local_date(episode, performed_at),
                created_by=actor,
                **values,
            )
    except IntegrityError:
        # The id is taken: a replay, a race between identical requests, or a reused id.
        replayed = _replay(log_id, episode, comparable)
        if replayed is None:
            raise
        return replayed, False
    return log, True
