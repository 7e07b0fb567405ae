"""Writes for check-ins.

Invariants:
- Only the episode's patient records, edits or deletes a check-in (the access policy decides).
- ``recorded_at`` is at most 5 minutes in the future and at most 30 days before the day of surgery.
- Recording is idempotent on the client-supplied id: the same id with the same content returns the
  stored row and creates nothing; the same id with other content is a ``Conflict``. A race between
  two identical requests is settled by the primary key, not by a read-then-write.
- A patient may edit or delete a check-in for 72 hours after it was stored. Every edit and delete
  keeps the previous content in ``CheckInRevision``; a delete only sets ``deleted_at``.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from recovery.accounts.models import User
from recovery.alerts.tasks import raise_red_flag_alert
from recovery.checkins.models import CheckIn, CheckInRevision
from recovery.checkins.vocabulary import RED_FLAG_CODES, RED_FLAGS
from recovery.core.errors import Conflict, NotPermitted, ValidationFailed
from recovery.episodes.access import Action, can
from recovery.episodes.models import Episode
from recovery.outbox import services as outbox

FUTURE_TOLERANCE = timedelta(minutes=5)
BEFORE_SURGERY_LIMIT = timedelta(days=30)
EDIT_WINDOW = timedelta(hours=72)
_FLAG_ORDER = {flag.code: index for index, flag in enumerate(RED_FLAGS)}

CONTENT_FIELDS = (
    "recorded_at",
    "axial_pain",
    "limb_pain",
    "walking_minutes",
    "steps",
    "sleep_quality",
    "took_opioid",
    "red_flags",
    "note",
)
_OPTIONAL_DEFAULTS: dict[str, Any] = {
    "walking_minutes": None,
    "steps": None,
    "sleep_quality": None,
    "took_opioid": None,
    "red_flags": [],
    "note": "",
}


@dataclass(frozen=True)
class CheckInData:
    axial_pain: int
    limb_pain: int
    recorded_at: datetime | None = None
    walking_minutes: int | None = None
    steps: int | None = None
    sleep_quality: int | None = None
    took_opioid: bool | None = None
    red_flags: tuple[str, ...] = ()
    note: str = ""


def normalise_red_flags(codes: list[str] | tuple[str, ...]) -> list[str]:
    unknown = sorted(set(codes) - RED_FLAG_CODES)
    if unknown:
        raise ValidationFailed({"red_flags": [f"Unknown red-flag code: {code}." for code in unknown]})
    return sorted(set(codes), key=_FLAG_ORDER.__getitem__)


def _check_recorded_at(episode: Episode, recorded_at: datetime, now: datetime) -> None:
    if recorded_at > now + FUTURE_TOLERANCE:
        raise ValidationFailed({"recorded_at": ["Cannot be more than 5 minutes in the future."]})
    earliest_day = episode.surgery_date - BEFORE_SURGERY_LIMIT
    earliest = datetime.combine(earliest_day, time.min, tzinfo=episode.patient_time_zone)
    if recorded_at < earliest:
        raise ValidationFailed(
            {
                "recorded_at": [
                    f"Cannot be more than 30 days before surgery (earliest {earliest_day.isoformat()})."
                ]
            }
        )


def _local_date(episode: Episode, recorded_at: datetime) -> Any:
    return timezone.localtime(recorded_at, episode.patient_time_zone).date()


def _snapshot(checkin: CheckIn) -> dict[str, Any]:
    snapshot = {name: getattr(checkin, name) for name in CONTENT_FIELDS}
    snapshot["recorded_at"] = checkin.recorded_at.isoformat()
    return snapshot


def _matches(checkin: CheckIn, supplied: dict[str, Any]) -> bool:
    for name in CONTENT_FIELDS:
        if name in supplied:
            if getattr(checkin, name) != supplied[name]:
                return False
        elif name != "recorded_at" and getattr(checkin, name) != _OPTIONAL_DEFAULTS.get(name):
            return False
    return True


def _replay(existing: CheckIn, episode: Episode, supplied: dict[str, Any]) -> CheckIn:
    if (
        existing.episode_id != episode.pk
        or existing.deleted_at is not None
        or not _matches(existing, supplied)
    ):
        raise Conflict({"id": ["A check-in with this id already exists with different content."]})
    return existing


def checkin_record(
    *,
    actor: User,
    episode: Episode,
    data: CheckInData,
    supplied: frozenset[str],
    checkin_id: UUID | None = None,
    now: datetime | None = None,
) -> tuple[CheckIn, bool]:
    """Store a check-in. ``supplied`` names the fields the client actually sent (for replay matching).

    Returns ``(checkin, created)``; ``created`` is False for a replay of a stored check-in.
    """
    if not can(actor, Action.LOG_CHECKIN, episode):
        raise NotPermitted("Only the patient records check-ins for this episode.")
    now = now or timezone.now()
    recorded_at = data.recorded_at or now
    _check_recorded_at(episode, recorded_at, now)
    values: dict[str, Any] = {
        "recorded_at": recorded_at,
        "axial_pain": data.axial_pain,
        "limb_pain": data.limb_pain,
        "walking_minutes": data.walking_minutes,
        "steps": data.steps,
        "sleep_quality": data.sleep_quality,
        "took_opioid": data.took_opioid,
        "red_flags": normalise_red_flags(data.red_flags),
        "note": data.note,
    }
    comparable = {name: values[name] for name in CONTENT_FIELDS if name in supplied}
    # Insert first: a replay is the rare case, so it pays for the extra read, not every new write.
    # With red flags one transaction holds the check-in and its outbox row, so the alert is enqueued
    # if and only if the check-in is stored. Otherwise, in autocommit one INSERT is atomic by itself.
    # Inside a caller's transaction a savepoint keeps a duplicate-key failure from poisoning it.
    guard = transaction.atomic() if connection.in_atomic_block or values["red_flags"] else nullcontext()
    try:
        with guard:
            checkin = CheckIn.objects.create(
                **({"id": checkin_id} if checkin_id else {}),
                episode=episode,
                local_date=_local_date(episode, recorded_at),
                created_by=actor,
                **values,
            )
            if checkin.red_flags:
                _enqueue_red_flag_alert(checkin)
    except IntegrityError:
        # The id is taken: a replay, a race between identical requests, or a reused id.
        existing = CheckIn.objects.filter(pk=checkin_id).first() if checkin_id else None
        if existing is None:
            raise
        return _replay(existing, episode, comparable), False
    return checkin, True


def _enqueue_red_flag_alert(checkin: CheckIn) -> None:
    """The urgent alert for the care team, through the outbox: published after commit, or relayed
    later if the broker is down. The task raises at most once per check-in's flags; the key keeps one
    outbox row per check-in and set of flags."""
    key = f"red-flag:{checkin.pk}:{','.join(checkin.red_flags)}"
    outbox.enqueue(raise_red_flag_alert, str(checkin.pk), dedupe_key=key)


def _check_editable(actor: User, checkin: CheckIn, now: datetime) -> None:
    if not can(actor, Action.EDIT_CHECKIN, checkin.episode):
        raise NotPermitted("Only the patient can change their check-ins.")
    if now - checkin.created_at > EDIT_WINDOW:
        raise NotPermitted("A check-in can only be changed or deleted within 72 hours of recording it.")


@transaction.atomic
def checkin_update(
    *, actor: User, checkin: CheckIn, changes: dict[str, Any], now: datetime | None = None
) -> CheckIn:
    now = now or timezone.now()
    checkin = CheckIn.objects.select_for_update().select_related("episode").get(pk=checkin.pk)
    _check_editable(actor, checkin, now)
    unknown = set(changes) - set(CONTENT_FIELDS)
    if unknown:
        raise ValidationFailed({name: ["This field cannot be changed."] for name in sorted(unknown)})
    if "recorded_at" in changes:
        if changes["recorded_at"] is None:
            raise ValidationFailed({"recorded_at": ["This field may not be null."]})
        _check_recorded_at(checkin.episode, changes["recorded_at"], now)
    if "red_flags" in changes:
        changes = {**changes, "red_flags": normalise_red_flags(changes["red_flags"])}
    if all(getattr(checkin, name) == value for name, value in changes.items()):
        return checkin  # Nothing changes: a replayed PATCH writes no revision.
    CheckInRevision.objects.create(
        checkin=checkin, action="update", previous=_snapshot(checkin), changed_by=actor
    )
    for name, value in changes.items():
        setattr(checkin, name, value)
    checkin.local_date = _local_date(checkin.episode, checkin.recorded_at)
    checkin.save()
    if "red_flags" in changes and checkin.red_flags:
        _enqueue_red_flag_alert(checkin)
    return checkin


@transaction.atomic
def checkin_delete(*, actor: User, checkin: CheckIn, now: datetime | None = None) -> None:
    now = now or timezone.now()
    checkin = CheckIn.objects.select_for_update().select_related("episode").get(pk=checkin.pk)
    if checkin.deleted_at is not None:
        return
    _check_editable(actor, checkin, now)
    CheckInRevision.objects.create(
        checkin=checkin, action="delete", previous=_snapshot(checkin), changed_by=actor
    )
    checkin.deleted_at = now
    checkin.save(update_fields=["deleted_at", "updated_at"])
