"""Reads of the audit trail: a clinic admin's search of their clinic, a patient's access log, and an
episode's access log for its care team.

Each is a fixed number of queries per page (the events with their actors, then their records).
Reading the trail is not itself recorded: its rows are not patient records.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet

from recovery.accounts.models import User
from recovery.audit.models import AuditEvent, AuditRecord
from recovery.episodes.access import ClinicAction, can_in_clinic
from recovery.episodes.models import Episode


def audit_search(
    *,
    user: User,
    actor: UUID | None = None,
    patient: UUID | None = None,
    episode: UUID | None = None,
    actions: Collection[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events of the user's own clinic, newest first; nothing for a user who may not search."""
    if not can_in_clinic(user, ClinicAction.VIEW_AUDIT) or user.clinic_id is None:
        return AuditEvent.objects.none()
    events = AuditEvent.objects.filter(clinic_id=user.clinic_id)
    if actor is not None:
        events = events.filter(actor_id=actor)
    if patient is not None or episode is not None:
        records = AuditRecord.objects.filter(event_id=OuterRef("pk"))
        if patient is not None:
            records = records.filter(patient_id=patient)
        if episode is not None:
            records = records.filter(episode_id=episode)
        events = events.filter(Exists(records))
    if actions:
        events = events.filter(action__in=list(actions))
    if since is not None:
        events = events.filter(at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
    # The patients' names come as annotations, not as loaded accounts: reading the trail is not itself
    # a read of patient records to be recorded.
    records = AuditRecord.objects.annotate(
        patient_name=F("patient__full_name"), patient_email=F("patient__email")
    ).order_by("id")
    return events.select_related("actor").prefetch_related(Prefetch("records", queryset=records))


def access_log_for(*, patient: User) -> QuerySet[AuditEvent]:
    """Staff reads and changes of ``patient``'s records that went through (refused attempts and
    failed writes are for the clinic's admins), newest first, each with only this patient's records."""
    mine = AuditRecord.objects.filter(patient_id=patient.pk)
    return (
        AuditEvent.objects.filter(Exists(mine.filter(event_id=OuterRef("pk"))), status_code__lt=400)
        .exclude(actor_id=patient.pk)
        .select_related("actor")
        .prefetch_related(Prefetch("records", queryset=mine.order_by("id"), to_attr="patient_records"))
    )


def episode_access_log(*, episode: Episode, excluding: User | None = None) -> QuerySet[AuditEvent]:
    """Staff reads and changes of ``episode``'s records that went through, newest first, with their
    actors (one query per page); ``excluding``: leave that person's own out (a clinician's own views
    of the screen would push everyone else's off the first page). ``episode`` comes from the access
    policy (``Action.VIEW_ACCESS_LOG``): the caller already decided that the user may see it. Refused
    attempts stay with the clinic's admins, as in the patient's log; the events carry no network
    address or browser string here."""
    touched = AuditRecord.objects.filter(event_id=OuterRef("pk"), episode_id=episode.pk)
    events = AuditEvent.objects.filter(Exists(touched), status_code__lt=400)
    if excluding is not None:
        events = events.exclude(actor_id=excluding.pk)
    return events.select_related("actor")
