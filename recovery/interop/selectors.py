"""Reads for the FHIR export: one episode as a Bundle, and a clinician's cohort as NDJSON per type.

Callers pass an episode obtained through the access policy (``EXPORT_FHIR``) or a user, whose cohort
is ``episodes_for(user, EXPORT_FHIR)``. Loading is by chunks of episodes with a fixed number of queries
per chunk whatever the number of check-ins, responses or assignments (asserted in the tests): the
episodes with their patient, surgeon and procedure (1), the physiotherapists (1), and per requested
type the check-ins, the imported observations, the questionnaire responses, the assignments and the
open alerts (1 each).
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Final

from django.contrib.auth.models import AnonymousUser
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from recovery.accounts.models import User
from recovery.checkins.models import CheckIn
from recovery.episodes.access import Action, episodes_for
from recovery.episodes.models import Episode
from recovery.interop.fhir.export import (
    RESOURCE_TYPES,
    EpisodeRecords,
    Resource,
    collection_bundle,
    episode_resources,
    relative_reference,
)
from recovery.interop.models import ImportedObservation
from recovery.proms.models import QuestionnaireResponse
from recovery.rehab.models import Assignment

CHUNK_SIZE: Final = 200

_NEEDS: Final[dict[str, frozenset[str]]] = {
    "checkins": frozenset({"Observation"}),
    "responses": frozenset({"Observation", "QuestionnaireResponse"}),
    "assignments": frozenset({"CarePlan"}),
    "alerts": frozenset({"Flag"}),
}


def _open_alerts(episode_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    # Imported lazily: the alerts app is optional for the export (no Flags without it).
    try:
        module = importlib.import_module("recovery.alerts.selectors")
    except ImportError:
        return {}
    found: dict[uuid.UUID, list[Any]] = module.open_alerts_for(episode_ids)
    return found


def _episodes(queryset: QuerySet[Episode]) -> list[Episode]:
    return list(
        queryset.select_related("patient__patient_profile", "surgeon", "procedure").prefetch_related(
            Prefetch("physiotherapists", queryset=User.objects.order_by("full_name", "id"))
        )
    )


def load_records(episodes: list[Episode], types: Iterable[str] = RESOURCE_TYPES) -> list[EpisodeRecords]:
    """The records behind the requested resource types for already loaded episodes (see ``_episodes``)."""
    wanted = frozenset(types)
    ids = [episode.pk for episode in episodes]
    checkins: dict[uuid.UUID, list[CheckIn]] = defaultdict(list)
    imported: dict[uuid.UUID, list[ImportedObservation]] = defaultdict(list)
    responses: dict[uuid.UUID, list[QuestionnaireResponse]] = defaultdict(list)
    assignments: dict[uuid.UUID, list[Assignment]] = defaultdict(list)
    alerts: dict[uuid.UUID, list[Any]] = {}
    if ids and wanted & _NEEDS["checkins"]:
        for checkin in CheckIn.objects.filter(episode_id__in=ids, deleted_at__isnull=True).order_by(
            "recorded_at", "id"
        ):
            checkins[checkin.episode_id].append(checkin)
        # Rows of a withdrawn (deleted) check-in stay out, like the check-in itself.
        for row in ImportedObservation.objects.filter(episode_id__in=ids).filter(
            Q(checkin__isnull=True) | Q(checkin__deleted_at__isnull=True)
        ):
            imported[row.episode_id].append(row)
    if ids and wanted & _NEEDS["responses"]:
        for response in (
            QuestionnaireResponse.objects.filter(episode_id__in=ids)
            .select_related("instrument")
            .order_by("submitted_at", "id")
        ):
            responses[response.episode_id].append(response)
    if ids and wanted & _NEEDS["assignments"]:
        for assignment in (
            Assignment.objects.filter(episode_id__in=ids)
            .select_related("exercise")
            .order_by("start_day", "created_at", "id")
        ):
            assignments[assignment.episode_id].append(assignment)
    if ids and wanted & _NEEDS["alerts"]:
        alerts = _open_alerts(ids)
    return [
        EpisodeRecords(
            episode=episode,
            checkins=checkins[episode.pk],
            imported=imported[episode.pk],
            responses=responses[episode.pk],
            assignments=assignments[episode.pk],
            alerts=alerts.get(episode.pk, []),
            physiotherapists=list(episode.physiotherapists.all()),
        )
        for episode in episodes
    ]


def episode_bundle(*, episode: Episode, now: datetime | None = None) -> Resource:
    """One episode (already scoped by the caller) as a FHIR ``collection`` Bundle."""
    now = now or timezone.now()
    loaded = _episodes(Episode.objects.filter(pk=episode.pk))
    records = load_records(loaded)[0]
    return collection_bundle(records, now=now, post_op_day=records.episode.post_op_day(now))


def cohort_episodes(*, user: User | AnonymousUser) -> QuerySet[Episode]:
    return episodes_for(user, Action.EXPORT_FHIR)


def _line(resource: Resource) -> str:
    return json.dumps(resource, separators=(",", ":"), ensure_ascii=False) + "\n"


def cohort_ndjson(
    *,
    user: User | AnonymousUser,
    resource_type: str,
    now: datetime | None = None,
    chunk_size: int | None = None,
) -> Iterator[bytes]:
    """Every resource of one type across the user's cohort, one JSON object per line, a chunk of
    episodes at a time (keyset on the episode id). A Patient or Practitioner shared by several
    episodes is written once."""
    size = chunk_size or CHUNK_SIZE
    now = now or timezone.now()
    base = cohort_episodes(user=user).order_by("id")
    seen: set[str] = set()
    deduplicate = resource_type in ("Patient", "Practitioner")
    last: uuid.UUID | None = None
    while True:
        page = base if last is None else base.filter(id__gt=last)
        episodes = _episodes(page[:size])
        if not episodes:
            return
        lines: list[str] = []
        for records in load_records(episodes, (resource_type,)):
            resources = episode_resources(
                records,
                relative_reference,
                post_op_day=records.episode.post_op_day(now),
                types=(resource_type,),
            )
            for resource in resources:
                if deduplicate:
                    if resource["id"] in seen:
                        continue
                    seen.add(resource["id"])
                lines.append(_line(resource))
        if lines:
            yield "".join(lines).encode()
        if len(episodes) < size:
            return
        last = episodes[-1].pk
