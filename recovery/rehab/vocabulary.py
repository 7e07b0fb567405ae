"""Fixed vocabularies of the rehab domain: regions, recovery phases, movement tags and weekdays."""

from __future__ import annotations

from typing import Final

from django.db import models


class BodyRegion(models.TextChoices):
    LUMBAR = "lumbar", "Lower back"
    CERVICAL = "cervical", "Neck"
    GENERAL = "general", "Whole body"


class Phase(models.TextChoices):
    """Recovery phases by time since surgery: early weeks 0-2, intermediate 2-6, late 6+."""

    EARLY = "early", "Early (weeks 0-2)"
    INTERMEDIATE = "intermediate", "Intermediate (weeks 2-6)"
    LATE = "late", "Late (week 6 on)"


#: First post-op day of each phase (weeks 0-2, 2-6, 6+).
PHASE_START_DAY: Final[dict[str, int]] = {Phase.EARLY: 0, Phase.INTERMEDIATE: 14, Phase.LATE: 42}


class Difficulty(models.TextChoices):
    EASY = "easy", "Easy"
    OK = "ok", "OK"
    HARD = "hard", "Hard"


#: Movements a surgeon may forbid until a post-op day. Exercises carry the tags of what they load.
MOVEMENT_TAGS: Final[dict[str, str]] = {
    "lumbar_flexion": "Bending the lower back forward",
    "lumbar_extension": "Arching the lower back",
    "lumbar_rotation": "Twisting the lower back",
    "loaded_lifting": "Lifting a weight",
    "cervical_flexion": "Bending the neck forward",
    "cervical_extension": "Tilting the head back",
    "cervical_rotation": "Turning the head",
    "overhead_reaching": "Reaching or lifting above the head",
    "high_impact": "Running, jumping or other impact",
    "prone_lying": "Lying face down",
    "neural_tension": "Stretching a nerve (nerve glides)",
}

#: Days of the week as the API writes them; ``WEEKDAYS.index(day)`` is Python's ``date.weekday()``.
WEEKDAYS: Final[tuple[str, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
