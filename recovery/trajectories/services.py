"""Writes for trajectories: recording and removing hand-recorded milestones; dropping an episode's
cached trajectories.

Invariants:
- One ``MilestoneEvent`` per episode and key (a database constraint). Recording is an upsert keyed
  on (episode, key): the same request twice leaves one row with the same date, so retries are safe.
  A concurrent first write that loses the insert race updates the winner's row instead of failing.
- Keys come from the episode's protocol (``recovery.protocols``). A patient records the ``event``
  milestones (discharge, formal physio, desk work, driving...); the care team may also confirm by
  hand any other milestone of the protocol (e.g. a first walk the check-ins did not capture).
- ``achieved_on`` is a day on the patient's own calendar: not after their local today, not more
  than 30 days before surgery (the same earliest day check-ins and the baseline questionnaire use).
Who may call these is decided by the caller through ``recovery.episodes.access`` (RECORD_MILESTONE).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from django.db import IntegrityError, transaction
from django.utils import timezone

from recovery.accounts.models import Role, User
from recovery.core.errors import ValidationFailed
from recovery.episodes.models import Episode
from recovery.protocols.types import MilestoneSpec
from recovery.trajectories.models import MilestoneEvent

EARLIEST_DAYS_BEFORE_SURGERY: Final = 30


class UnknownMilestone(ValidationFailed):
    """The key is not a milestone of the episode's protocol (or not one this user may record)."""


@dataclass(frozen=True)
class MilestoneWrite:
    event: MilestoneEvent
    created: bool


def protocol_milestones(episode: Episode) -> dict[str, MilestoneSpec]:
    """The milestones of the protocol the episode's clinic uses for its procedure (3 queries at most)."""
    from recovery.protocols.selectors import ProtocolNotFound, expected_recovery

    try:
        recovery = expected_recovery(procedure_code=episode.procedure_id, clinic_id=episode.clinic_id)
    except ProtocolNotFound:
        return {}
    return {spec.key: spec for spec in recovery.milestones}


def _check_key(*, episode: Episode, key: str, actor: User) -> MilestoneSpec:
    spec = protocol_milestones(episode).get(key)
    if spec is None:
        raise UnknownMilestone({"key": [f"{key!r} is not a milestone of this episode's recovery protocol."]})
    if spec.metric != "event" and actor.role == Role.PATIENT:
        raise UnknownMilestone(
            {"key": [f"{key!r} is worked out from your check-ins; your care team can confirm it by hand."]}
        )
    return spec


def _check_date(*, episode: Episode, achieved_on: date, now: datetime) -> None:
    local_today = episode.local_today(now)
    earliest = episode.surgery_date - timedelta(days=EARLIEST_DAYS_BEFORE_SURGERY)
    if achieved_on > local_today:
        raise ValidationFailed(
            {
                "achieved_on": [
                    f"Cannot be in the future (today is {local_today.isoformat()} for the patient)."
                ]
            }
        )
    if achieved_on < earliest:
        raise ValidationFailed(
            {"achieved_on": [f"Cannot be before {earliest.isoformat()} (30 days before surgery)."]}
        )


def milestone_record(
    *, episode: Episode, key: str, achieved_on: date, actor: User, now: datetime | None = None
) -> MilestoneWrite:
    """Record (or move) the date a milestone was reached. Idempotent upsert on (episode, key)."""
    now = now or timezone.now()
    _check_key(episode=episode, key=key, actor=actor)
    _check_date(episode=episode, achieved_on=achieved_on, now=now)
    values = {"achieved_on": achieved_on, "recorded_by": actor, "recorded_at": now}
    with transaction.atomic():
        if MilestoneEvent.objects.filter(episode=episode, key=key).update(**values):
            return MilestoneWrite(MilestoneEvent.objects.get(episode=episode, key=key), created=False)
        try:
            with transaction.atomic():
                event = MilestoneEvent.objects.create(episode=episode, key=key, **values)
        except IntegrityError:
            # Another request inserted the same (episode, key) first: update theirs instead.
            MilestoneEvent.objects.filter(episode=episode, key=key).update(**values)
            return MilestoneWrite(MilestoneEvent.objects.get(episode=episode, key=key), created=False)
    return MilestoneWrite(event, created=True)


def milestone_remove(*, episode: Episode, key: str, actor: User) -> bool:
    """Remove a recorded milestone. Idempotent: removing one that is not there is not an error.
    Returns whether a row was deleted."""
    _check_key(episode=episode, key=key, actor=actor)
    deleted, _ = MilestoneEvent.objects.filter(episode=episode, key=key).delete()
    return deleted > 0


def trajectory_cache_forget(*, episode_id: uuid.UUID) -> None:
    """Drop the cached trajectories of an episode (both audiences) now, e.g. when its patient's data
    is erased. Never needed for correctness (a cached trajectory is only served for the very data it
    was computed from, see ``selectors.trajectory_json``); it only keeps the copy from living out its
    expiry. Idempotent. A cache that is down raises (the caller decides)."""
    from django.core.cache import cache

    from recovery.trajectories.selectors import trajectory_cache_key

    cache.delete_many(
        [trajectory_cache_key(episode_id, "clinician"), trajectory_cache_key(episode_id, "patient")]
    )
