"""Writes and the guard for restrictions: a lifting limit and movements forbidden until a post-op day.

Invariants:
- The guard (``restriction_conflicts``), on assignment create and on any PATCH that moves the window
  or the load: an exercise carrying a movement tag the episode forbids up to day N may not start on
  or before day N unless the surgeon recorded an override for that exercise and tag; a load above the
  lifting limit may not start while the limit applies. Rejections name the restriction.
- An episode's restrictions are initialised once, on first use, from its procedure's defaults: the
  clinic's own ``RestrictionDefault``, else the shipped one. From then on only the surgeon replaces
  them (``Action.SET_RESTRICTIONS``); later changes to defaults do not touch initialised episodes.
- Replacing restrictions or clinic defaults with the same document writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError, transaction

from recovery.accounts.models import User
from recovery.core.errors import NotPermitted, ValidationFailed
from recovery.episodes.access import Action, ClinicAction, can, can_in_clinic
from recovery.episodes.models import Episode, Procedure
from recovery.rehab.models import (
    EpisodeRestrictions,
    Exercise,
    MovementRestriction,
    RestrictionDefault,
    RestrictionOverride,
)
from recovery.rehab.rules import MAX_REASON, MAX_SOURCE, RESTRICTION_DAYS, TAG_ORDER, check_kg, check_range
from recovery.rehab.selectors import exercises_visible, restriction_default_for
from recovery.rehab.vocabulary import MOVEMENT_TAGS


@dataclass(frozen=True)
class MovementData:
    tag: str
    until_day: int


@dataclass(frozen=True)
class OverrideData:
    exercise: UUID
    tag: str
    reason: str


@dataclass(frozen=True)
class RestrictionsData:
    lifting_limit_kg: Decimal | None
    lifting_limit_until_day: int | None
    forbidden_movements: tuple[MovementData, ...]
    source: str
    overrides: tuple[OverrideData, ...] = ()


def _restriction_problems(data: RestrictionsData, *, source_required: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    check_kg(errors, "lifting_limit_kg", data.lifting_limit_kg)
    check_range(
        errors, "lifting_limit_until_day", data.lifting_limit_until_day, RESTRICTION_DAYS, required=False
    )
    if data.lifting_limit_kg is None and data.lifting_limit_until_day is not None:
        errors.setdefault("lifting_limit_until_day", []).append(
            "A lifting limit end day needs a lifting_limit_kg."
        )
    movements: list[str] = []
    tags = [movement.tag for movement in data.forbidden_movements]
    unknown = [tag for tag in dict.fromkeys(tags) if tag not in MOVEMENT_TAGS]
    movements += [f"Unknown movement tag: {tag}." for tag in unknown]
    duplicated = sorted({tag for tag in tags if tags.count(tag) > 1})
    movements += [f"The tag {tag} appears more than once." for tag in duplicated]
    low, high = RESTRICTION_DAYS
    if any(not low <= movement.until_day <= high for movement in data.forbidden_movements):
        movements.append(f"until_day must be between {low} and {high}.")
    if movements:
        errors["forbidden_movements"] = movements
    source = data.source.strip()
    if source_required and not source:
        errors["source"] = [
            "Say where these numbers come from, or label them 'clinic default, not evidence'."
        ]
    elif len(source) > MAX_SOURCE:
        errors["source"] = [f"Keep the source to {MAX_SOURCE} characters or fewer."]
    return errors


def _override_problems(episode: Episode, overrides: tuple[OverrideData, ...]) -> dict[str, list[str]]:
    if not overrides:
        return {}
    found = exercises_visible(clinic_id=episode.clinic_id).in_bulk([item.exercise for item in overrides])
    problems: list[str] = []
    seen: set[tuple[UUID, str]] = set()
    for item in overrides:
        exercise = found.get(item.exercise)
        if exercise is None:
            problems.append(f"No exercise {item.exercise} in this clinic's library.")
        elif item.tag not in MOVEMENT_TAGS:
            problems.append(f"Unknown movement tag: {item.tag}.")
        elif item.tag not in exercise.movement_tags:
            problems.append(f"'{exercise.name}' does not carry the tag {item.tag}; nothing to override.")
        if (item.exercise, item.tag) in seen:
            problems.append(f"The override of {item.tag} for {item.exercise} appears more than once.")
        seen.add((item.exercise, item.tag))
        if not item.reason.strip():
            problems.append("Every override needs a reason.")
        elif len(item.reason) > MAX_REASON:
            problems.append(f"Keep each reason to {MAX_REASON} characters or fewer.")
    return {"overrides": problems} if problems else {}


def _initial_source(default: RestrictionDefault | None, episode: Episode) -> str:
    if default is None:
        return (
            f"No default restrictions exist for {episode.procedure.name}; "
            "none apply until the surgeon sets them."
        )
    origin = "Mobilize's shipped defaults" if default.clinic is None else f"{default.clinic.name}'s defaults"
    return f"From {origin} for {default.procedure.name}: {default.source}"


def restrictions_ensure(*, episode: Episode) -> EpisodeRestrictions:
    """The episode's restrictions, initialised from its procedure's defaults on first use.

    A GET may write here: restrictions must exist before anything is prescribed, whoever looks first.
    """
    existing = EpisodeRestrictions.objects.select_related("updated_by").filter(episode=episode).first()
    if existing is not None:
        return existing
    default = restriction_default_for(clinic_id=episode.clinic_id, procedure_id=episode.procedure_id)
    try:
        with transaction.atomic():
            restrictions = EpisodeRestrictions.objects.create(
                episode=episode,
                lifting_limit_kg=default.lifting_limit_kg if default else None,
                lifting_limit_until_day=default.lifting_limit_until_day if default else None,
                source=_initial_source(default, episode),
            )
            MovementRestriction.objects.bulk_create(
                MovementRestriction(episode=episode, tag=item["tag"], until_day=item["until_day"])
                for item in (default.forbidden_movements if default else [])
            )
    except IntegrityError:
        # A concurrent first use initialised them; its insert blocked ours until it committed.
        return EpisodeRestrictions.objects.select_related("updated_by").get(episode=episode)
    return restrictions


@transaction.atomic
def restrictions_replace(*, actor: User, episode: Episode, data: RestrictionsData) -> EpisodeRestrictions:
    """Replace the whole restrictions document of an episode (the surgeon only)."""
    if not can(actor, Action.SET_RESTRICTIONS, episode):
        raise NotPermitted("Only the episode's surgeon sets restrictions.")
    errors = _restriction_problems(data, source_required=True) | _override_problems(episode, data.overrides)
    if errors:
        raise ValidationFailed(errors)
    restrictions_ensure(episode=episode)
    # Locking the row serialises concurrent replacements with each other and with the guard.
    restrictions = EpisodeRestrictions.objects.select_for_update().get(episode=episode)
    movements = {item.tag: item.until_day for item in data.forbidden_movements}
    overrides = {(item.exercise, item.tag): item.reason.strip() for item in data.overrides}
    stored_movements = dict(
        MovementRestriction.objects.filter(episode=episode).values_list("tag", "until_day")
    )
    stored_overrides = {
        (row.exercise_id, row.tag): row for row in RestrictionOverride.objects.filter(episode=episode)
    }
    fields = {
        "lifting_limit_kg": data.lifting_limit_kg,
        "lifting_limit_until_day": data.lifting_limit_until_day,
        "source": data.source.strip(),
    }
    unchanged = (
        all(getattr(restrictions, name) == value for name, value in fields.items())
        and stored_movements == movements
        and {key: row.reason for key, row in stored_overrides.items()} == overrides
    )
    if unchanged:
        return EpisodeRestrictions.objects.select_related("updated_by").get(episode=episode)
    for name, value in fields.items():
        setattr(restrictions, name, value)
    restrictions.updated_by = actor
    restrictions.save()
    MovementRestriction.objects.filter(episode=episode).delete()
    MovementRestriction.objects.bulk_create(
        MovementRestriction(episode=episode, tag=tag, until_day=until_day)
        for tag, until_day in movements.items()
    )
    # An override whose reason is unchanged keeps who recorded it and when; a new reason is a new record.
    stale = [row.pk for key, row in stored_overrides.items() if overrides.get(key) != row.reason]
    RestrictionOverride.objects.filter(pk__in=stale).delete()
    RestrictionOverride.objects.bulk_create(
        RestrictionOverride(
            episode=episode, exercise_id=exercise_id, tag=tag, reason=reason, created_by=actor
        )
        for (exercise_id, tag), reason in overrides.items()
        if (exercise_id, tag) not in stored_overrides or stored_overrides[(exercise_id, tag)].pk in stale
    )
    return restrictions


@transaction.atomic
def restriction_default_put(
    *, actor: User, procedure: Procedure, data: RestrictionsData
) -> tuple[RestrictionDefault, bool]:
    """Create or replace the actor's clinic's own defaults for a procedure. Returns ``(row, created)``.

    Episodes already initialised keep their restrictions; new ones start from these.
    """
    if not can_in_clinic(actor, ClinicAction.MANAGE_CLINIC_DEFAULTS):
        raise NotPermitted("Only a surgeon or a clinic admin changes the clinic's default restrictions.")
    if data.overrides:
        raise ValidationFailed({"overrides": ["Overrides belong to one episode, not to defaults."]})
    errors = _restriction_problems(data, source_required=True)
    if errors:
        raise ValidationFailed(errors)
    values = {
        "lifting_limit_kg": data.lifting_limit_kg,
        "lifting_limit_until_day": data.lifting_limit_until_day,
        "forbidden_movements": [
            {"tag": item.tag, "until_day": item.until_day}
            for item in sorted(data.forbidden_movements, key=lambda item: TAG_ORDER[item.tag])
        ],
        "source": data.source.strip(),
    }
    clinic_id = actor.tenant_id
    existing = (
        RestrictionDefault.objects.select_for_update()
        .filter(clinic_id=clinic_id, procedure=procedure)
        .first()
    )
    created = existing is None
    if existing is None:
        try:
            with transaction.atomic():
                return (
                    RestrictionDefault.objects.create(
                        clinic_id=clinic_id, procedure=procedure, updated_by=actor, **values
                    ),
                    True,
                )
        except IntegrityError:
            # A concurrent PUT created the row first: apply ours on top of it, as a second PUT would.
            existing = RestrictionDefault.objects.select_for_update().get(
                clinic_id=clinic_id, procedure=procedure
            )
            created = False
    if all(getattr(existing, name) == value for name, value in values.items()):
        return existing, created
    for name, value in values.items():
        setattr(existing, name, value)
    existing.updated_by = actor
    existing.save()
    return existing, created


# --- The restriction guard -------------------------------------------------------------------------


def _origin(restrictions: EpisodeRestrictions) -> str:
    return "set by the surgeon" if restrictions.updated_by_id else "from the procedure's default restrictions"


def restriction_conflicts(
    *, episode: Episode, exercise: Exercise, start_day: int, load_kg: Decimal | None, lock: bool = False
) -> dict[str, list[str]]:
    """Why prescribing ``exercise`` from ``start_day`` (with ``load_kg``) breaks the episode's
    restrictions, as field errors; empty when it does not.

    A restriction "until day N" covers post-op days up to and including N, so a window starting at
    or before N meets it whatever its end. ``lock`` holds the restrictions row for the caller's
    transaction, so a concurrent replacement cannot slip between this check and the write.
    """
    restrictions = restrictions_ensure(episode=episode)
    if lock:
        restrictions = EpisodeRestrictions.objects.select_for_update().get(episode=episode)
    errors: dict[str, list[str]] = {}
    origin = _origin(restrictions)
    if exercise.movement_tags:
        overridden = set(
            RestrictionOverride.objects.filter(episode=episode, exercise=exercise).values_list(
                "tag", flat=True
            )
        )
        blocking = MovementRestriction.objects.filter(
            episode=episode, tag__in=exercise.movement_tags, until_day__gte=start_day
        ).exclude(tag__in=overridden)
        for movement in blocking.order_by("tag"):
            errors.setdefault("exercise", []).append(
                f"Conflicts with the restriction 'no {movement.tag} until post-op day {movement.until_day}' "
                f"({origin}). Start on day {movement.until_day + 1} or later, or ask the surgeon to record "
                "an override."
            )
    limit, until = restrictions.lifting_limit_kg, restrictions.lifting_limit_until_day
    if (
        load_kg is not None
        and limit is not None
        and load_kg > limit
        and (until is None or start_day <= until)
    ):
        if until is None:
            advice = f"Use {limit} kg or less, or ask the surgeon to change the limit."
            errors["load_kg"] = [
                f"Exceeds the lifting limit of {limit} kg, which has no end day ({origin}). {advice}"
            ]
        else:
            errors["load_kg"] = [
                f"Exceeds the lifting limit of {limit} kg until post-op day {until} ({origin}). "
                f"Use {limit} kg or less, or start on day {until + 1} or later."
            ]
    return errors
