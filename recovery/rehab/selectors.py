"""Reads for prescription: the exercise library, assignments and restrictions.

Scoping: the library a user sees is the shipped exercises plus their own clinic's, never another
clinic's. Assignment and restriction reads take an episode the caller obtained through the access
policy (``recovery.episodes.access``). Every list here runs a fixed number of queries whatever its
length.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.contrib.auth.models import AnonymousUser
from django.db.models import F, Q, QuerySet

from recovery.accounts.models import User
from recovery.episodes.models import Episode
from recovery.rehab.models import (
    Assignment,
    EpisodeRestrictions,
    Exercise,
    MovementRestriction,
    RestrictionDefault,
    RestrictionOverride,
)


def exercises_visible(*, clinic_id: UUID | None) -> QuerySet[Exercise]:
    """Shipped exercises and the clinic's own, active or not."""
    return Exercise.objects.filter(Q(clinic__isnull=True) | Q(clinic_id=clinic_id))


def _clinic_of(user: User | AnonymousUser) -> UUID | None:
    return user.clinic_id if isinstance(user, User) else None


def exercise_list(
    *,
    user: User | AnonymousUser,
    search: str = "",
    region: str | None = None,
    phase: str | None = None,
    tag: str | None = None,
) -> QuerySet[Exercise]:
    """Active exercises the user's clinic may prescribe, by name; ``search`` matches name or steps."""
    qs = exercises_visible(clinic_id=_clinic_of(user)).filter(is_active=True)
    if region:
        qs = qs.filter(region=region)
    if phase:
        qs = qs.filter(phase=phase)
    needle = search.strip().casefold()
    if needle or tag:
        # Steps and tags are JSON lists. Matching them in Python keeps one behaviour on PostgreSQL
        # and on the demo's SQLite (which has no JSON containment lookup), and a LIKE over the JSON
        # text would also match its quotes and escapes. A clinic's library is a few dozen rows.
        rows = qs.values_list("id", "name", "instructions", "movement_tags")
        matching = [
            pk
            for pk, name, steps, tags in rows
            if (not tag or tag in tags)
            and (not needle or needle in name.casefold() or any(needle in step.casefold() for step in steps))
        ]
        qs = qs.filter(pk__in=matching)
    return qs.order_by("name", "id")


def exercise_get(*, user: User | AnonymousUser, exercise_id: UUID | str) -> Exercise | None:
    """One exercise the user's clinic can see (including its own retired ones); None otherwise."""
    return exercises_visible(clinic_id=_clinic_of(user)).filter(pk=exercise_id).first()


def assignment_is_active(assignment: Assignment, post_op_day: int) -> bool:
    """Still prescribed: not ended, and its last day (if any) not yet past. Kept in step with
    ``active_q`` by a test."""
    return assignment.ended_on is None and (assignment.end_day is None or assignment.end_day >= post_op_day)


def active_q(post_op_day: int) -> Q:
    return Q(ended_on__isnull=True) & (Q(end_day__isnull=True) | Q(end_day__gte=post_op_day))


def assignment_list(
    *, episode: Episode, active: bool | None = None, post_op_day: int | None = None
) -> QuerySet[Assignment]:
    """Assignments of one episode by start day. ``active`` filters on ``assignment_is_active`` as of
    ``post_op_day`` (default: the patient's today)."""
    qs = Assignment.objects.filter(episode=episode).select_related("exercise", "prescribed_by", "ended_by")
    if active is not None:
        today = episode.post_op_day() if post_op_day is None else post_op_day
        qs = qs.filter(active_q(today)) if active else qs.exclude(active_q(today))
    return qs.order_by("start_day", "created_at", "id")


def assignment_get(*, episode: Episode, assignment_id: UUID | str) -> Assignment | None:
    return assignment_list(episode=episode).filter(pk=assignment_id).first()


def restriction_default_for(*, clinic_id: UUID, procedure_id: str) -> RestrictionDefault | None:
    """The clinic's own default for the procedure, else the shipped one, else None."""
    return (
        RestrictionDefault.objects.filter(procedure_id=procedure_id)
        .filter(Q(clinic_id=clinic_id) | Q(clinic__isnull=True))
        .select_related("procedure", "clinic", "updated_by")
        .order_by(F("clinic_id").asc(nulls_last=True))
        .first()
    )


@dataclass(frozen=True)
class RestrictionsDocument:
    restrictions: EpisodeRestrictions
    movements: list[MovementRestriction]
    overrides: list[RestrictionOverride]


def restrictions_document(*, restrictions: EpisodeRestrictions) -> RestrictionsDocument:
    """An episode's restrictions with their movements and overrides (three queries)."""
    episode_id = restrictions.episode_id
    return RestrictionsDocument(
        restrictions=restrictions,
        movements=list(MovementRestriction.objects.filter(episode_id=episode_id).order_by("tag")),
        overrides=list(
            RestrictionOverride.objects.filter(episode_id=episode_id)
            .select_related("exercise", "created_by")
            .order_by("exercise__name", "tag", "id")
        ),
    )
