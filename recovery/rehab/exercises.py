"""Writes for a clinic's own exercises.

Invariants: shipped exercises (no clinic) are read-only; a clinic changes only its own exercises,
and only its staff who hold ``ClinicAction.MANAGE_EXERCISE_LIBRARY``. ``exercise_create`` takes a
client id: the same id with the same content returns the stored row and writes nothing; other content
is a ``Conflict``; a race of identical requests is settled by the primary key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from django.core.validators import slug_re
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from recovery.accounts.models import User
from recovery.core.errors import Conflict, NotPermitted, ValidationFailed
from recovery.episodes.access import ClinicAction, can_in_clinic
from recovery.rehab.models import (
    Exercise,
)
from recovery.rehab.rules import (
    EXERCISE_FIELDS,
    HOLD_SECONDS,
    MAX_NAME,
    MAX_SLUG,
    MAX_STEP_LENGTH,
    MAX_STEPS,
    REPS,
    SESSIONS_PER_DAY,
    SETS,
    check_range,
    normalise_tags,
)
from recovery.rehab.vocabulary import MOVEMENT_TAGS, BodyRegion, Phase


@dataclass(frozen=True)
class ExerciseData:
    name: str
    instructions: tuple[str, ...]
    region: str
    phase: str
    slug: str | None = None
    default_sets: int = 1
    default_reps: int | None = None
    default_hold_seconds: int | None = None
    default_sessions_per_day: int = 1
    movement_tags: tuple[str, ...] = ()
    media_url: str = ""
    is_active: bool = True


def exercise_problems(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Everything wrong with a complete set of exercise values (also used by the admin form)."""
    errors: dict[str, list[str]] = {}
    name = values.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["Give the exercise a name."]
    elif len(name) > MAX_NAME:
        errors["name"] = [f"Keep the name to {MAX_NAME} characters or fewer."]
    slug = values.get("slug")
    if not isinstance(slug, str) or not slug_re.fullmatch(slug) or len(slug) > MAX_SLUG:
        errors["slug"] = [
            f"Give a slug of at most {MAX_SLUG} letters, digits, hyphens or underscores "
            "(or a name to make it from)."
        ]
    steps = values.get("instructions")
    if not isinstance(steps, list) or not steps:
        errors["instructions"] = ["Give at least one step."]
    elif len(steps) > MAX_STEPS:
        errors["instructions"] = [f"Use at most {MAX_STEPS} steps."]
    elif not all(isinstance(step, str) and step.strip() for step in steps):
        errors["instructions"] = ["Every step must be non-empty text."]
    elif any(len(step) > MAX_STEP_LENGTH for step in steps):
        errors["instructions"] = [f"Keep each step to {MAX_STEP_LENGTH} characters or fewer."]
    if values.get("region") not in BodyRegion.values:
        errors["region"] = [f"Choose one of: {', '.join(BodyRegion.values)}."]
    if values.get("phase") not in Phase.values:
        errors["phase"] = [f"Choose one of: {', '.join(Phase.values)}."]
    check_range(errors, "default_sets", values.get("default_sets"), SETS)
    check_range(errors, "default_reps", values.get("default_reps"), REPS, required=False)
    check_range(
        errors, "default_hold_seconds", values.get("default_hold_seconds"), HOLD_SECONDS, required=False
    )
    check_range(errors, "default_sessions_per_day", values.get("default_sessions_per_day"), SESSIONS_PER_DAY)
    if values.get("default_reps") is None and values.get("default_hold_seconds") is None:
        errors.setdefault("default_reps", []).append("Give default_reps or default_hold_seconds (or both).")
    tags = values.get("movement_tags")
    if not isinstance(tags, list) or any(tag not in MOVEMENT_TAGS for tag in tags):
        errors["movement_tags"] = [f"Use only these tags: {', '.join(MOVEMENT_TAGS)}."]
    return errors


def _exercise_values(data: ExerciseData) -> dict[str, Any]:
    name = data.name.strip()
    return {
        "slug": data.slug or slugify(name)[:MAX_SLUG].strip("-"),
        "name": name,
        "instructions": [step.strip() for step in data.instructions],
        "region": data.region,
        "phase": data.phase,
        "default_sets": data.default_sets,
        "default_reps": data.default_reps,
        "default_hold_seconds": data.default_hold_seconds,
        "default_sessions_per_day": data.default_sessions_per_day,
        "movement_tags": normalise_tags(data.movement_tags),
        "media_url": data.media_url,
        "is_active": data.is_active,
    }


def ensure_can_manage_library(actor: User) -> None:
    if not can_in_clinic(actor, ClinicAction.MANAGE_EXERCISE_LIBRARY):
        raise NotPermitted("Only your clinic's physiotherapists, surgeons and admins manage its exercises.")


def ensure_can_edit_exercise(actor: User, exercise: Exercise) -> None:
    ensure_can_manage_library(actor)
    if exercise.clinic_id is None:
        raise NotPermitted(
            "Shipped exercises are read-only. Create your clinic's own exercise instead "
            "(you can copy this one's steps)."
        )
    if exercise.clinic_id != actor.clinic_id:
        raise NotPermitted("This exercise belongs to another clinic.")


def _slug_taken(clinic_id: UUID, slug: str, exclude: UUID | None = None) -> bool:
    same = Exercise.objects.filter(clinic_id=clinic_id, slug=slug)
    return (same.exclude(pk=exclude) if exclude is not None else same).exists()


_SLUG_TAKEN: Final = "Your clinic already has an exercise with this slug; choose another."


def _exercise_replay(existing: Exercise, actor: User, values: Mapping[str, Any]) -> Exercise:
    if existing.clinic_id != actor.clinic_id or any(
        getattr(existing, name) != value for name, value in values.items()
    ):
        raise Conflict({"id": ["An exercise with this id already exists with different content."]})
    return existing


@transaction.atomic
def exercise_create(
    *, actor: User, data: ExerciseData, exercise_id: UUID | None = None
) -> tuple[Exercise, bool]:
    """Add an exercise to the actor's clinic. Returns ``(exercise, created)``."""
    ensure_can_manage_library(actor)
    clinic_id = actor.tenant_id
    values = _exercise_values(data)
    errors = exercise_problems(values)
    if errors:
        raise ValidationFailed(errors)
    if exercise_id is not None:
        existing = Exercise.objects.filter(pk=exercise_id).first()
        if existing is not None:
            return _exercise_replay(existing, actor, values), False
    if _slug_taken(clinic_id, values["slug"]):
        raise ValidationFailed({"slug": [_SLUG_TAKEN]})
    try:
        with transaction.atomic():
            exercise = Exercise.objects.create(
                **({"id": exercise_id} if exercise_id else {}),
                clinic_id=clinic_id,
                created_by=actor,
                **values,
            )
    except IntegrityError:
        # A concurrent request took the id (a replay) or the slug first.
        existing = Exercise.objects.filter(pk=exercise_id).first() if exercise_id else None
        if existing is None:
            raise ValidationFailed({"slug": [_SLUG_TAKEN]}) from None
        return _exercise_replay(existing, actor, values), False
    return exercise, True


@transaction.atomic
def exercise_update(*, actor: User, exercise: Exercise, changes: Mapping[str, Any]) -> Exercise:
    """Change a clinic's own exercise. Assignments keep pointing at it and show the new wording."""
    exercise = Exercise.objects.select_for_update().get(pk=exercise.pk)
    ensure_can_edit_exercise(actor, exercise)
    unknown = set(changes) - set(EXERCISE_FIELDS)
    if unknown:
        raise ValidationFailed({name: ["This field cannot be changed."] for name in sorted(unknown)})
    values = {name: getattr(exercise, name) for name in EXERCISE_FIELDS}
    values.update(changes)
    if "name" in changes:
        values["name"] = str(changes["name"]).strip()
    if "instructions" in changes:
        values["instructions"] = [str(step).strip() for step in changes["instructions"]]
    if "movement_tags" in changes:
        values["movement_tags"] = normalise_tags(changes["movement_tags"])
    errors = exercise_problems(values)
    if errors:
        raise ValidationFailed(errors)
    if values["slug"] != exercise.slug and _slug_taken(actor.tenant_id, values["slug"], exclude=exercise.pk):
        raise ValidationFailed({"slug": [_SLUG_TAKEN]})
    if all(getattr(exercise, name) == value for name, value in values.items()):
        return exercise
    for name, value in values.items():
        setattr(exercise, name, value)
    exercise.save()
    return exercise


# --- Restrictions ----------------------------------------------------------------------------------
