"""The reference data the demo plans against, as plain values: no ORM here.

``recovery.core.demo.seed.load_catalog`` reads it from the database, where migrations put it: the
shipped exercise library (active rows only, as the prescription service requires), the shipped
default restrictions per procedure, the default questionnaire schedule and the active instruments.
Reading the rows rather than the shipped files means the demo prescribes and scores exactly what the
API would.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from recovery.proms.definitions import InstrumentDefinition
from recovery.proms.timepoints import Timepoint


@dataclass(frozen=True)
class CatalogExercise:
    id: uuid.UUID
    slug: str
    region: str  # a ``BodyRegion`` value
    phase: str  # a ``Phase`` value
    sets: int
    reps: int | None
    hold_seconds: int | None
    sessions_per_day: int
    tags: tuple[str, ...]


@dataclass(frozen=True)
class CatalogRestrictions:
    """What an episode's restrictions are initialised with (``rehab.restrictions.restrictions_ensure``)."""

    lifting_limit_kg: Decimal | None
    lifting_limit_until_day: int | None
    #: ``(movement tag, forbidden up to and including this post-op day)``
    movements: tuple[tuple[str, int], ...]
    source: str


@dataclass(frozen=True)
class DemoCatalog:
    #: Sorted by slug, so that random draws do not depend on database order.
    exercises: tuple[CatalogExercise, ...]
    #: Per procedure code.
    restrictions: Mapping[str, CatalogRestrictions]
    #: By window, as ``proms.selectors.schedule_for_clinic`` returns them.
    timepoints: tuple[Timepoint, ...]
    #: The active instrument per region (``lumbar``, ``cervical``).
    instruments: Mapping[str, InstrumentDefinition]
