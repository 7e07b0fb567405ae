"""Reads for privacy: a person's own data as one JSON document and as one FHIR Bundle, terms consent,
erasure requests and the clinic's retention.

The export reads the user's own episodes through the access policy (``episodes_for`` with
``VIEW_EPISODE``, narrowed to episodes whose patient is the user: a clinician's export holds their
account, not their patients' records). It is a fixed number of queries whatever the amount of data
(asserted in the tests) and is built in memory: one person's record is at most a few thousand rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from recovery.accounts.models import ApiToken, User
from recovery.alerts.models import Alert
from recovery.audit.selectors import access_log_for
from recovery.checkins.models import CheckIn, CheckInRevision
from recovery.episodes.access import Action, ClinicAction, can_in_clinic, episodes_for
from recovery.episodes.models import Episode
from recovery.interop.fhir.export import Resource, bundle_reference, episode_resources, instant
from recovery.interop.fhir.ids import Kind, stable_id
from recovery.interop.models import ImportedObservation
from recovery.interop.selectors import load_records
from recovery.notifications.models import NotificationConsent, PushSubscription
from recovery.privacy.models import (
    DEFAULT_RETENTION_DAYS,
    ClinicPrivacyPolicy,
    ErasureRequest,
    TermsConsent,
)
from recovery.proms.models import QuestionnaireResponse
from recovery.rehab.models import Assignment, EpisodeRestrictions, ExerciseLog, MovementRestriction
from recovery.reminders.models import ReminderDelivery, ReminderPreferences, WalkLog
from recovery.trajectories.models import MilestoneEvent

EXPORT_FORMAT: Final = "mobilize-export"
EXPORT_VERSION: Final = 1


# ---------------------------------------------------------------------------------------------
# consent, retention, erasure requests


def terms_current(*, user: User) -> TermsConsent | None:
    return TermsConsent.objects.filter(user=user).order_by("-at", "-id").first()


def terms_history(*, user: User) -> QuerySet[TermsConsent]:
    return TermsConsent.objects.filter(user=user).order_by("-at", "-id")


def retention_days_for(*, clinic_id: uuid.UUID) -> int:
    policy = ClinicPrivacyPolicy.objects.filter(clinic_id=clinic_id).first()
    return policy.retention_days if policy is not None else DEFAULT_RETENTION_DAYS


def privacy_policy_of(*, clinic_id: uuid.UUID) -> ClinicPrivacyPolicy | None:
    return ClinicPrivacyPolicy.objects.filter(clinic_id=clinic_id).select_related("updated_by").first()


def erasure_request_of(*, patient: User) -> ErasureRequest | None:
    return ErasureRequest.objects.filter(patient=patient).first()


def erasure_requests_for(*, user: User, states: Iterable[str] | None = None) -> QuerySet[ErasureRequest]:
    """The erasure requests of the user's clinic (clinic admins only), newest first."""
    if not can_in_clinic(user, ClinicAction.MANAGE_PRIVACY) or user.clinic_id is None:
        return ErasureRequest.objects.none()
    rows = ErasureRequest.objects.filter(clinic_id=user.clinic_id)
    if states:
        rows = rows.filter(state__in=list(states))
    return rows.select_related("patient", "carried_out_by").order_by("-requested_at", "id")


# ---------------------------------------------------------------------------------------------
# the JSON export


def mask_endpoint(endpoint: str) -> str:
    """A push endpoint is a capability (whoever has it can push to the browser): only its service's
    origin and last four characters are shown."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.hostname}/…{endpoint[-4:]}"


def _own_episodes(user: User) -> list[Episode]:
    return list(
        episodes_for(user, Action.VIEW_EPISODE)
        .filter(patient_id=user.pk)
        .select_related("procedure", "surgeon")
        .prefetch_related(Prefetch("physiotherapists", queryset=User.objects.order_by("full_name", "id")))
        .order_by("surgery_date", "id")
    )


_RELATED: Final = (
    "checkins",
    "imported",
    "assignments",
    "logs",
    "movements",
    "responses",
    "milestones",
    "walks",
    "alerts",
)


def _by_episode(rows: Iterable[Any]) -> defaultdict[uuid.UUID, list[Any]]:
    grouped: defaultdict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.episode_id].append(row)
    return grouped


def _person(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.pk, "name": user.full_name, "role": user.role}


def _checkin(checkin: CheckIn, user: User) -> dict[str, Any]:
    return {
        "id": checkin.pk,
        "recorded_at": checkin.recorded_at,
        "local_date": checkin.local_date,
        "axial_pain": checkin.axial_pain,
        "limb_pain": checkin.limb_pain,
        "walking_minutes": checkin.walking_minutes,
        "steps": checkin.steps,
        "sleep_quality": checkin.sleep_quality,
        "took_opioid": checkin.took_opioid,
        "red_flags": checkin.red_flags,
        "note": checkin.note,
        "created_at": checkin.created_at,
        "updated_at": checkin.updated_at,
        "deleted_at": checkin.deleted_at,
        "revisions": [
            {
                "action": revision.action,
                "previous": revision.previous,
                "changed_at": revision.changed_at,
                "changed_by_you": revision.changed_by_id == user.pk,
            }
            for revision in checkin.revisions.all()
        ],
    }


def _assignment(assignment: Assignment) -> dict[str, Any]:
    return {
        "id": assignment.pk,
        "exercise": {"id": assignment.exercise_id, "name": assignment.exercise.name},
        "sets": assignment.sets,
        "reps": assignment.reps,
        "hold_seconds": assignment.hold_seconds,
        "load_kg": None if assignment.load_kg is None else float(assignment.load_kg),
        "sessions_per_day": assignment.sessions_per_day,
        "days_of_week": assignment.days_of_week,
        "start_day": assignment.start_day,
        "end_day": assignment.end_day,
        "notes": assignment.notes,
        "created_at": assignment.created_at,
        "ended_on": assignment.ended_on,
    }


def _exercise_log(log: ExerciseLog) -> dict[str, Any]:
    return {
        "id": log.pk,
        "assignment": log.assignment_id,
        "performed_at": log.performed_at,
        "local_date": log.local_date,
        "sets_completed": log.sets_completed,
        "reps_completed": log.reps_completed,
        "hold_seconds": log.hold_seconds,
        "pain_during": log.pain_during,
        "difficulty": log.difficulty,
        "note": log.note,
    }


def _restrictions(
    restrictions: EpisodeRestrictions | None, movements: list[MovementRestriction]
) -> dict[str, Any] | None:
    if restrictions is None and not movements:
        return None
    return {
        "lifting_limit_kg": None
        if restrictions is None or restrictions.lifting_limit_kg is None
        else float(restrictions.lifting_limit_kg),
        "lifting_limit_until_day": None if restrictions is None else restrictions.lifting_limit_until_day,
        "source": "" if restrictions is None else restrictions.source,
        "forbidden_movements": [{"tag": m.tag, "until_day": m.until_day} for m in movements],
    }


def _response(response: QuestionnaireResponse) -> dict[str, Any]:
    return {
        "id": response.pk,
        "instrument": response.instrument_id,
        "instrument_version": response.instrument_version,
        "timepoint": response.timepoint,
        "answers": response.answers,
        "raw_score": response.raw_score,
        "answered": response.answered,
        "missing": response.missing,
        "percent": float(response.percent),
        "submitted_at": response.submitted_at,
        "local_date": response.local_date,
    }


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "rule": alert.rule,
        "severity": alert.severity,
        "state": alert.state,
        "reason": alert.reason,
        "raised_at": alert.raised_at,
        "acknowledged_at": alert.acknowledged_at,
        "resolved_at": alert.resolved_at,
        "resolution_note": alert.resolution_note,
    }


def _episode(
    episode: Episode,
    user: User,
    related: dict[str, defaultdict[uuid.UUID, list[Any]]],
    restrictions: dict[uuid.UUID, EpisodeRestrictions],
) -> dict[str, Any]:
    pk = episode.pk
    return {
        "id": pk,
        "procedure": episode.procedure_id,
        "procedure_name": episode.procedure.name,
        "levels": episode.levels,
        "surgery_date": episode.surgery_date,
        "status": episode.status,
        "created_at": episode.created_at,
        "care_team": {
            "surgeon": _person(episode.surgeon),
            "physiotherapists": [_person(p) for p in episode.physiotherapists.all()],
        },
        "checkins": [_checkin(c, user) for c in related["checkins"][pk]],
        "imported_observations": [
            {
                "identifier_system": row.identifier_system,
                "identifier_value": row.identifier_value,
                "kind": row.kind,
                "value": row.value,
                "effective_at": row.effective_at,
                "checkin": row.checkin_id,
                "imported_at": row.imported_at,
            }
            for row in related["imported"][pk]
        ],
        "assignments": [_assignment(a) for a in related["assignments"][pk]],
        "exercise_logs": [_exercise_log(log) for log in related["logs"][pk]],
        "restrictions": _restrictions(restrictions.get(pk), related["movements"][pk]),
        "questionnaire_responses": [_response(r) for r in related["responses"][pk]],
        "milestones": [
            {"key": m.key, "achieved_on": m.achieved_on, "recorded_at": m.recorded_at}
            for m in related["milestones"][pk]
        ],
        "walks": [{"at": w.at, "minutes": w.minutes} for w in related["walks"][pk]],
        "alerts": [_alert(a) for a in related["alerts"][pk]],
    }


def patient_export(*, user: User, now: datetime | None = None) -> dict[str, Any]:
    """Everything Mobilize holds about ``user`` as one JSON-ready document (values are dates, UUIDs
    and numbers; the API renders them). Staff get their account, consents and sign-ins; patients
    also every episode with what is recorded under it, their reminders and who read their records."""
    now = now or timezone.now()
    episodes = _own_episodes(user)
    ids = [e.pk for e in episodes]
    related: dict[str, defaultdict[uuid.UUID, list[Any]]] = {name: defaultdict(list) for name in _RELATED}
    restrictions: dict[uuid.UUID, EpisodeRestrictions] = {}
    if ids:
        related["checkins"] = _by_episode(
            CheckIn.objects.filter(episode_id__in=ids)
            .prefetch_related(
                Prefetch("revisions", queryset=CheckInRevision.objects.order_by("changed_at", "id"))
            )
            .order_by("recorded_at", "id")
        )
        related["imported"] = _by_episode(ImportedObservation.objects.filter(episode_id__in=ids))
        related["assignments"] = _by_episode(
            Assignment.objects.filter(episode_id__in=ids).select_related("exercise")
        )
        related["logs"] = _by_episode(
            ExerciseLog.objects.filter(episode_id__in=ids).order_by("performed_at", "id")
        )
        related["movements"] = _by_episode(MovementRestriction.objects.filter(episode_id__in=ids))
        related["responses"] = _by_episode(
            QuestionnaireResponse.objects.filter(episode_id__in=ids).order_by("submitted_at", "id")
        )
        related["milestones"] = _by_episode(MilestoneEvent.objects.filter(episode_id__in=ids))
        related["walks"] = _by_episode(WalkLog.objects.filter(episode_id__in=ids).order_by("at"))
        related["alerts"] = _by_episode(Alert.objects.filter(episode_id__in=ids))
        restrictions = {r.episode_id: r for r in EpisodeRestrictions.objects.filter(episode_id__in=ids)}

    profile = getattr(user, "patient_profile", None) if user.is_patient else None
    preferences = ReminderPreferences.objects.filter(user=user).first()
    deliveries = ReminderDelivery.objects.filter(schedule__recipient=user).select_related("schedule")
    erasure = erasure_request_of(patient=user) if user.is_patient else None
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": now,
        "account": {
            "id": user.pk,
            "email": user.email,
            "name": user.full_name,
            "role": user.role,
            "clinic": {"id": user.clinic.pk, "name": user.clinic.name} if user.clinic else None,
            "date_joined": user.date_joined,
            "is_active": user.is_active,
        },
        "profile": None
        if profile is None
        else {
            "date_of_birth": profile.date_of_birth,
            "time_zone": profile.time_zone,
            "preferred_language": profile.preferred_language,
        },
        "episodes": [_episode(e, user, related, restrictions) for e in episodes],
        "reminders": {
            "preferences": None
            if preferences is None
            else {
                "quiet_start": preferences.quiet_start,
                "quiet_end": preferences.quiet_end,
                "push": preferences.push,
                "email": preferences.email,
                "muted_kinds": preferences.muted_kinds,
                "checkin_time": preferences.checkin_time,
                "waking_start": preferences.waking_start,
                "waking_end": preferences.waking_end,
            },
            "deliveries": [
                {
                    "id": d.pk,
                    "kind": d.schedule.kind,
                    "episode": d.schedule.episode_id,
                    "slot": d.slot,
                    "state": d.state,
                    "sent_at": d.sent_at,
                    "done_at": d.done_at,
                }
                for d in deliveries
            ],
        },
        "push_subscriptions": [
            {
                "id": s.pk,
                "endpoint": mask_endpoint(s.endpoint),
                "user_agent": s.user_agent,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
            }
            for s in PushSubscription.objects.filter(user=user).order_by("created_at", "id")
        ],
        "consents": {
            "terms": [
                {"version": c.version, "accepted": c.accepted, "at": c.at} for c in terms_history(user=user)
            ],
            "notifications": [
                {"kind": c.kind, "version": c.version, "granted": c.granted, "at": c.at}
                for c in NotificationConsent.objects.filter(user=user).order_by("-at", "-id")
            ],
        },
        "sign_ins": [
            {
                "id": t.pk,
                "prefix": t.prefix,
                "device": getattr(getattr(t, "device", None), "name", ""),
                "client": t.client,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "expires_at": t.expires_at,
                "revoked_at": t.revoked_at,
            }
            for t in ApiToken.objects.filter(user=user).select_related("device").order_by("created_at", "id")
        ],
        "access_log": [
            {
                "at": event.at,
                "who": {"name": event.actor.full_name, "role": event.actor_role},
                "action": event.action,
                "resource": event.resource,
                "episodes": [
                    r.episode_id for r in getattr(event, "patient_records", []) if r.episode_id is not None
                ],
            }
            for event in (access_log_for(patient=user) if user.is_patient else [])
        ],
        "erasure_request": None
        if erasure is None
        else {"id": erasure.pk, "state": erasure.state, "requested_at": erasure.requested_at},
    }


# ---------------------------------------------------------------------------------------------
# the FHIR export


def patient_fhir_bundle(*, user: User, now: datetime | None = None) -> Resource:
    """All of the patient's episodes as one FHIR ``collection`` Bundle, built with the interop
    builders: the Patient once, each care-team Practitioner once, then each episode's resources."""
    now = now or timezone.now()
    episodes = list(
        episodes_for(user, Action.EXPORT_FHIR)
        .filter(patient_id=user.pk)
        .select_related("patient__patient_profile", "surgeon", "procedure")
        .prefetch_related(Prefetch("physiotherapists", queryset=User.objects.order_by("full_name", "id")))
        .order_by("surgery_date", "id")
    )
    seen: set[tuple[str, str]] = set()
    entries: list[dict[str, Any]] = []
    for records in load_records(episodes):
        post_op_day = records.episode.post_op_day(now)
        for resource in episode_resources(records, bundle_reference, post_op_day=post_op_day):
            key = (resource["resourceType"], resource["id"])
            if key in seen:
                continue
            seen.add(key)
            entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
    return {
        "resourceType": "Bundle",
        "id": stable_id(Kind.BUNDLE, f"patient/{user.pk}"),
        "type": "collection",
        "timestamp": instant(now),
        "entry": entries,
    }
