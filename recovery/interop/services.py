"""Writes for interoperability: importing a FHIR Bundle of Observations into one episode.

Invariants and side effects:
- Who may import is the access policy's ``IMPORT_FHIR`` (the patient and the care team).
- A body that is not a Bundle is a ``ValidationFailed`` naming the field, before anything is written.
  Every entry gets an outcome: ``imported``, ``already_imported`` or ``not_imported`` with the reason.
- Idempotent on the Observation's identifier (system and value, unique per episode in the database):
  the same Observation again is ``already_imported`` and writes nothing; an Observation that our own
  export made from a check-in of this episode is recognised too. The same identifier with another
  value, kind or time is ``not_imported`` (a correction is not silently applied to stored data).
- Nothing is invented: an imported pain value becomes part of a ``CheckIn`` only together with the
  other pain value (back/neck with leg/arm) for the same instant, from this import or an earlier one;
  steps and walking minutes at that instant join it. Everything else stays an ``ImportedObservation``
  without a check-in (kept, exported again, never lost).
- The episode row is locked for the import, so two concurrent imports of the same Bundle cannot both
  insert; the unique constraint backs that up. Imported data has no red flags, so no alert is raised.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time
from typing import Final

from django.db import transaction
from django.utils import timezone

from recovery.accounts.models import User
from recovery.checkins.models import CheckIn
from recovery.checkins.services import BEFORE_SURGERY_LIMIT, FUTURE_TOLERANCE
from recovery.core.errors import NotPermitted
from recovery.episodes.access import Action, can
from recovery.episodes.models import Episode
from recovery.interop.fhir import codes
from recovery.interop.fhir.export import own_identifier_values
from recovery.interop.fhir.ids import Kind, stable_id
from recovery.interop.fhir.importer import Accepted, Rejected, parse_bundle
from recovery.interop.models import ImportedObservation, MeasurementKind

IMPORTED: Final = "imported"
ALREADY_IMPORTED: Final = "already_imported"
NOT_IMPORTED: Final = "not_imported"


@dataclass(frozen=True)
class EntryOutcome:
    index: int
    resource_type: str | None
    identifier: str | None
    outcome: str
    reason: str = ""
    #: For stored data: "checkin" when it is part of a check-in, else "measurement".
    stored_as: str | None = None
    checkin_id: uuid.UUID | None = None


@dataclass(frozen=True)
class ImportReport:
    entries: list[EntryOutcome]

    def count(self, outcome: str) -> int:
        return sum(1 for entry in self.entries if entry.outcome == outcome)


def _label(accepted: Accepted) -> str:
    return f"{accepted.identifier_system}|{accepted.identifier_value}"


def _same(row: ImportedObservation, accepted: Accepted) -> bool:
    return (
        row.kind == accepted.kind
        and row.value == accepted.value
        and row.effective_at == accepted.effective_at
    )


def _outside_episode(episode: Episode, moment: datetime, now: datetime) -> str | None:
    # The same window as a check-in (recovery/checkins/services.py).
    if moment > now + FUTURE_TOLERANCE:
        return "effectiveDateTime is more than 5 minutes in the future."
    earliest_day = episode.surgery_date - BEFORE_SURGERY_LIMIT
    if moment < datetime.combine(earliest_day, time.min, tzinfo=episode.patient_time_zone):
        return f"effectiveDateTime is more than 30 days before surgery (earliest {earliest_day.isoformat()})."
    return None


def _assemble(*, episode: Episode, actor: User, instants: set[datetime]) -> None:
    """Turn complete pairs of imported pain values (same instant) into check-ins."""
    if not instants:
        return
    loose = ImportedObservation.objects.filter(
        episode=episode, checkin__isnull=True, effective_at__in=instants
    ).order_by("effective_at", "imported_at", "id")
    groups: dict[datetime, dict[str, list[ImportedObservation]]] = defaultdict(lambda: defaultdict(list))
    for row in loose:
        groups[row.effective_at][row.kind].append(row)
    for moment, kinds in groups.items():
        axial, limb = kinds[MeasurementKind.AXIAL_PAIN], kinds[MeasurementKind.LIMB_PAIN]
        if len(axial) != 1 or len(limb) != 1:
            continue  # No pair, or an ambiguous one: keep them as measurements.
        members = [axial[0], limb[0]]
        extras: dict[str, int | None] = {"walking_minutes": None, "steps": None}
        for kind in ("walking_minutes", "steps"):
            if len(kinds[kind]) == 1:
                members.append(kinds[kind][0])
                extras[kind] = kinds[kind][0].value
        # The id follows from the axial row, so a retried assembly cannot make a second check-in.
        checkin = CheckIn.objects.create(
            id=uuid.UUID(stable_id(Kind.IMPORTED_CHECKIN, axial[0].pk)),
            episode=episode,
            recorded_at=moment,
            local_date=axial[0].local_date,
            axial_pain=axial[0].value,
            limb_pain=limb[0].value,
            walking_minutes=extras["walking_minutes"],
            steps=extras["steps"],
            created_by=actor,
        )
        ImportedObservation.objects.filter(pk__in=[row.pk for row in members]).update(checkin=checkin)


def fhir_import(
    *, actor: User, episode: Episode, bundle: object, now: datetime | None = None
) -> ImportReport:
    if not can(actor, Action.IMPORT_FHIR, episode):
        raise NotPermitted("You cannot import data into this episode.")
    now = now or timezone.now()
    parsed = parse_bundle(bundle, region=episode.procedure.region)
    accepted = [outcome for outcome in parsed if isinstance(outcome, Accepted)]
    outcomes: dict[int, EntryOutcome] = {
        outcome.index: EntryOutcome(
            outcome.index, outcome.resource_type, outcome.identifier, NOT_IMPORTED, outcome.reason
        )
        for outcome in parsed
        if isinstance(outcome, Rejected)
    }
    zone = episode.patient_time_zone
    with transaction.atomic():
        Episode.objects.select_for_update().filter(pk=episode.pk).values_list("pk", flat=True).get()
        stored = {
            (row.identifier_system, row.identifier_value): row
            for row in ImportedObservation.objects.filter(
                episode=episode, identifier_value__in=[item.identifier_value for item in accepted]
            )
        }
        own: set[str] = set()
        if any(item.identifier_system == codes.ID_OBSERVATION for item in accepted):
            for own_checkin in CheckIn.objects.filter(episode=episode).values_list("id", flat=True):
                own |= own_identifier_values(own_checkin)
        new_rows: dict[int, ImportedObservation] = {}
        existing_rows: dict[int, ImportedObservation] = {}
        for item in accepted:
            key = (item.identifier_system, item.identifier_value)
            previous = stored.get(key)
            if previous is not None:
                if _same(previous, item):
                    existing_rows[item.index] = previous
                else:
                    outcomes[item.index] = EntryOutcome(
                        item.index,
                        "Observation",
                        _label(item),
                        NOT_IMPORTED,
                        "identifier already imported with a different value, kind or time; stored data is not overwritten.",
                    )
                continue
            if item.identifier_system == codes.ID_OBSERVATION and item.identifier_value in own:
                outcomes[item.index] = EntryOutcome(
                    item.index,
                    "Observation",
                    _label(item),
                    ALREADY_IMPORTED,
                    "exported from this episode's own check-ins.",
                )
                continue
            problem = _outside_episode(episode, item.effective_at, now)
            if problem is not None:
                outcomes[item.index] = EntryOutcome(
                    item.index, "Observation", _label(item), NOT_IMPORTED, problem
                )
                continue
            new_rows[item.index] = ImportedObservation(
                episode=episode,
                identifier_system=item.identifier_system,
                identifier_value=item.identifier_value,
                kind=item.kind,
                value=item.value,
                effective_at=item.effective_at,
                local_date=timezone.localtime(item.effective_at, zone).date(),
                resource=item.resource,
                imported_by=actor,
            )
        ImportedObservation.objects.bulk_create(new_rows.values())
        _assemble(episode=episode, actor=actor, instants={row.effective_at for row in new_rows.values()})
        ids = [row.pk for row in (*new_rows.values(), *existing_rows.values())]
        links = dict(ImportedObservation.objects.filter(pk__in=ids).values_list("pk", "checkin_id"))
    for index, row in (*new_rows.items(), *existing_rows.items()):
        checkin_id = links.get(row.pk)
        outcomes[index] = EntryOutcome(
            index,
            "Observation",
            f"{row.identifier_system}|{row.identifier_value}",
            IMPORTED if index in new_rows else ALREADY_IMPORTED,
            ""
            if checkin_id is not None
            else "stored as a measurement: a check-in needs both pain values for one instant.",
            stored_as="checkin" if checkin_id is not None else "measurement",
            checkin_id=checkin_id,
        )
    return ImportReport([outcomes[index] for index in sorted(outcomes)])
