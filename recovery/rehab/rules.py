"""Shared input rules of prescription: ranges, tag and weekday normalisation.

The ranges catch slips (100 typed for 10, seconds for minutes); they are not clinical judgement.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from recovery.core.errors import ValidationFailed
from recovery.rehab.vocabulary import MOVEMENT_TAGS, WEEKDAYS

# Ranges catch slips (100 typed for 10, seconds for minutes); they are not clinical judgement.
SETS: Final = (1, 20)
REPS: Final = (1, 100)
HOLD_SECONDS: Final = (1, 600)
SESSIONS_PER_DAY: Final = (1, 10)
LOAD_KG: Final = (Decimal(0), Decimal(100))
# Prescriptions may start up to 30 days before surgery (prehabilitation) and run up to two years.
ASSIGNMENT_DAYS: Final = (-30, 730)
RESTRICTION_DAYS: Final = (0, 730)
MAX_NAME: Final = 120
MAX_SLUG: Final = 80
MAX_STEPS: Final = 12
MAX_STEP_LENGTH: Final = 500
MAX_NOTES: Final = 2000
MAX_REASON: Final = 1000
MAX_SOURCE: Final = 4000
TAG_ORDER: Final = {tag: index for index, tag in enumerate(MOVEMENT_TAGS)}


def check_range(
    errors: dict[str, list[str]], name: str, value: Any, bounds: tuple[Any, Any], *, required: bool = True
) -> None:
    low, high = bounds
    if value is None:
        if required:
            errors.setdefault(name, []).append("This field is required.")
    elif not low <= value <= high:
        errors.setdefault(name, []).append(f"Must be between {low} and {high}.")


def check_kg(errors: dict[str, list[str]], name: str, value: Decimal | None) -> None:
    check_range(errors, name, value, LOAD_KG, required=False)
    if value is not None and value != value.quantize(Decimal("0.1")):
        errors.setdefault(name, []).append("Use at most one decimal place.")


def normalise_tags(tags: Iterable[str], field: str = "movement_tags") -> list[str]:
    tags = list(tags)
    unknown = [tag for tag in dict.fromkeys(tags) if tag not in MOVEMENT_TAGS]
    if unknown:
        raise ValidationFailed({field: [f"Unknown movement tag: {tag}." for tag in unknown]})
    return sorted(set(tags), key=TAG_ORDER.__getitem__)


def normalise_weekdays(days: Iterable[str]) -> list[str]:
    days = list(days)
    unknown = [day for day in dict.fromkeys(days) if day not in WEEKDAYS]
    if unknown:
        raise ValidationFailed({"days_of_week": [f"Unknown weekday: {day}." for day in unknown]})
    if not days:
        raise ValidationFailed({"days_of_week": ["Give at least one weekday."]})
    return sorted(set(days), key=WEEKDAYS.index)


# --- Exercise library ------------------------------------------------------------------------------

EXERCISE_FIELDS: Final = (
    "slug",
    "name",
    "instructions",
    "region",
    "phase",
    "default_sets",
    "default_reps",
    "default_hold_seconds",
    "default_sessions_per_day",
    "movement_tags",
    "media_url",
    "is_active",
)
