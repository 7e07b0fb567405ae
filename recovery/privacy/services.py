"""Writes for privacy: terms consent, erasure (requested by the patient, carried out by a clinic
admin), the clinic's retention setting, and the purge of de-identified data after the retention.

Invariants and choices:

- Terms consent is append-only; recording the state that is already current (same version, same
  answer) records nothing, so a replayed POST is a no-op. The user's row is locked while deciding,
  so two racing identical POSTs record one row.
- One erasure request per patient (a unique constraint): asking again returns the same request.
- ``patient_erase`` runs in one transaction with the patient's row locked; it either does everything
  or nothing. It keeps the account row (closed, with placeholders) because the kept clinical rows
  point at it and cohort statistics count them through it. It removes the identifiers, clears every
  free-text field about the patient (notes may name people, places, phone numbers), closes every way
  in (password, tokens and so sessions, push subscriptions, pending reminders, invitations), ends the
  follow-up so no alert or reminder is raised about someone who left, and returns what it removed as
  counts, never the values. Audit rows are not touched: they hold the patient's id, never their name or
  email (those are read through the account, which now shows the placeholders), and they are append-only.
- ``erasure_carry_out`` is idempotent: a request already carried out is returned unchanged.
- ``erased_data_purge`` deletes the episodes (with every clinical row under them) of patients erased
  longer ago than their clinic's retention; each erasure is claimed under a row lock with
  ``skip_locked`` and marked ``purged_at`` in the same transaction, so a second run does nothing.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from recovery.accounts.models import ApiToken, Clinic, Invitation, PatientProfile, User
from recovery.alerts.models import Alert, AlertEvent, AlertNotice, AlertState, EventKind
from recovery.checkins.models import CheckIn, CheckInRevision
from recovery.core.errors import NotPermitted, ValidationFailed
from recovery.episodes.access import ClinicAction, can_in_clinic
from recovery.episodes.models import Episode, EpisodeStatus
from recovery.interop.models import ImportedObservation
from recovery.notifications.models import PushSubscription
from recovery.privacy.models import (
    MAX_RETENTION_DAYS,
    ClinicPrivacyPolicy,
    ErasureRequest,
    ErasureState,
    TermsConsent,
)
from recovery.privacy.selectors import retention_days_for, terms_current
from recovery.proms.models import QuestionnaireResponse
from recovery.rehab.models import (
    Assignment,
    AssignmentRevision,
    EpisodeRestrictions,
    ExerciseLog,
    MovementRestriction,
    RestrictionOverride,
)
from recovery.reminders.models import (
    DeliveryState,
    EpisodeReminderSettings,
    ReminderDelivery,
    ReminderPreferences,
    ReminderSchedule,
    WalkLog,
)
from recovery.security.models import Lockout, LockScope, LoginFailure, TotpDevice
from recovery.trajectories.models import MilestoneEvent

ERASED_NAME = "Erased patient"
ERASED_EMAIL_DOMAIN = "erased.invalid"  # RFC 2606: .invalid never resolves, so nothing is ever sent.
FOLLOW_UP_ENDED_NOTE = "Follow-up ended: the patient's personal data were erased on request."


def erased_email(user_id: uuid.UUID) -> str:
    """A unique placeholder address (emails are unique); it reveals nothing the row's id does not."""
    return f"erased-{user_id.hex}@{ERASED_EMAIL_DOMAIN}"


# ---------------------------------------------------------------------------------------------
# terms consent


@transaction.atomic
def terms_consent_record(
    *, user: User, version: str, accepted: bool, now: datetime | None = None
) -> tuple[TermsConsent, bool]:
    """Append the user's answer to a version of the terms; ``(row, created)``. The current state
    again records nothing and returns the current row."""
    version = version.strip()
    if not version:
        raise ValidationFailed({"version": ["This field may not be blank."]})
    User.objects.select_for_update().filter(pk=user.pk).first()
    current = terms_current(user=user)
    if current is not None and current.version == version and current.accepted == accepted:
        return current, False
    row = TermsConsent.objects.create(user=user, version=version, accepted=accepted, at=now or timezone.now())
    return row, True


# ---------------------------------------------------------------------------------------------
# erasure


@transaction.atomic
def erasure_request(*, patient: User, now: datetime | None = None) -> tuple[ErasureRequest, bool]:
    """The patient asks for erasure; ``(request, created)``. Asking again returns the same request."""
    if not patient.is_patient or patient.clinic_id is None:
        raise NotPermitted("Only a patient can ask for their own data to be erased.")
    existing = ErasureRequest.objects.filter(patient=patient).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            row = ErasureRequest.objects.create(
                patient=patient,
                clinic_id=patient.clinic_id,
                requested_by=patient,
                requested_at=now or timezone.now(),
            )
    except IntegrityError:
        # A concurrent request of the same patient was stored first: it is the one.
        return ErasureRequest.objects.get(patient=patient), False
    return row, True


@transaction.atomic
def erasure_carry_out(
    *, actor: User, request_id: uuid.UUID, now: datetime | None = None
) -> tuple[ErasureRequest, bool]:
    """Carry out one erasure request of the actor's clinic; ``(request, carried_out_now)``.

    Outside the actor's clinic the request does not exist (``ErasureRequest.DoesNotExist``)."""
    if not can_in_clinic(actor, ClinicAction.MANAGE_PRIVACY):
        raise NotPermitted("Only a clinic admin can carry out an erasure.")
    if actor.clinic_id is None:
        raise ErasureRequest.DoesNotExist
    row = ErasureRequest.objects.select_for_update().get(pk=request_id, clinic_id=actor.clinic_id)
    if row.state == ErasureState.CARRIED_OUT:
        return row, False
    now = now or timezone.now()
    removed = patient_erase(patient_id=row.patient_id, now=now)
    row.state = ErasureState.CARRIED_OUT
    row.carried_out_by = actor
    row.carried_out_at = now
    row.removed = removed
    row.save(update_fields=["state", "carried_out_by", "carried_out_at", "removed"])
    return row, True


def _clear_key(model: Any, queryset: Any, key: str) -> int:
    """Blank one key of the ``previous`` JSON of revision rows (a note kept from before an edit)."""
    changed = []
    for row in queryset.only("pk", "previous"):
        if isinstance(row.previous, dict) and row.previous.get(key):
            row.previous = {**row.previous, key: ""}
            changed.append(row)
    model.objects.bulk_update(changed, ["previous"])
    return len(changed)


@transaction.atomic
def patient_erase(*, patient_id: uuid.UUID, now: datetime | None = None) -> dict[str, int]:
    """Remove the patient's personal identifiers and close their account, keeping their clinical
    numbers de-identified. Returns what was removed or cleared, as counts. Running it again on an
    erased account changes nothing and returns zeros (and the identity counts as 0)."""
    now = now or timezone.now()
    patient = User.objects.select_for_update().get(pk=patient_id)
    if not patient.is_patient:
        raise NotPermitted("Only a patient's account is erased this way.")
    episodes = Episode.objects.filter(patient_id=patient.pk)
    removed: dict[str, int] = {}

    old_email = patient.email
    identity_changed = (
        patient.full_name != ERASED_NAME
        or patient.email != erased_email(patient.pk)
        or patient.is_active
        or patient.has_usable_password()
    )
    removed["identity"] = int(identity_changed)
    patient.full_name = ERASED_NAME
    patient.email = erased_email(patient.pk)
    patient.is_active = False
    # A new (unusable) password hash also ends every session: Django checks it on each request.
    patient.set_unusable_password()
    patient.save(update_fields=["full_name", "email", "is_active", "password"])

    # Year of birth kept (as 1 January): enough for age groups in cohort statistics, not a birthday.
    profile = PatientProfile.objects.filter(user_id=patient.pk).first()
    removed["date_of_birth"] = 0
    if profile is not None and (profile.date_of_birth.month, profile.date_of_birth.day) != (1, 1):
        profile.date_of_birth = date(profile.date_of_birth.year, 1, 1)
        profile.save(update_fields=["date_of_birth"])
        removed["date_of_birth"] = 1

    removed["api_tokens"] = ApiToken.objects.filter(user_id=patient.pk).delete()[0]
    removed["sessions"] = _sessions_delete(patient.pk)
    removed["push_subscriptions"] = PushSubscription.objects.filter(user_id=patient.pk).delete()[0]
    removed["invitations"] = Invitation.objects.filter(user_id=patient.pk).delete()[0]
    removed["authenticators"] = TotpDevice.objects.filter(user_id=patient.pk).delete()[0]
    removed["reminder_preferences"] = ReminderPreferences.objects.filter(user_id=patient.pk).delete()[0]
    if old_email != patient.email:
        removed["login_failures"] = LoginFailure.objects.filter(email=old_email).delete()[0]
        removed["lockouts"] = Lockout.objects.filter(scope=LockScope.ACCOUNT, key=old_email).delete()[0]
    else:
        removed["login_failures"] = removed["lockouts"] = 0

    schedules = ReminderSchedule.objects.filter(recipient_id=patient.pk)
    removed["reminders_stopped"] = ReminderDelivery.objects.filter(
        schedule__in=schedules, state__in=[DeliveryState.PENDING, DeliveryState.SNOOZED]
    ).update(state=DeliveryState.SKIPPED_CONDITION)
    removed["reminder_schedules_stopped"] = schedules.filter(active=True).update(
        active=False, next_due_at=None, updated_at=now
    )

    # Free text may name people, places or phone numbers: cleared; the numbers stay.
    checkins = CheckIn.objects.filter(episode__in=episodes)
    removed["checkin_notes"] = checkins.exclude(note="").update(note="")
    removed["checkin_revision_notes"] = _clear_key(
        CheckInRevision, CheckInRevision.objects.filter(checkin__in=checkins), "note"
    )
    removed["exercise_log_notes"] = (
        ExerciseLog.objects.filter(episode__in=episodes).exclude(note="").update(note="")
    )
    assignments = Assignment.objects.filter(episode__in=episodes)
    removed["assignment_notes"] = assignments.exclude(notes="").update(notes="")
    removed["assignment_revision_notes"] = _clear_key(
        AssignmentRevision, AssignmentRevision.objects.filter(assignment__in=assignments), "notes"
    )
    removed["restriction_override_reasons"] = (
        RestrictionOverride.objects.filter(episode__in=episodes).exclude(reason="").update(reason="")
    )
    alerts = Alert.objects.filter(episode__in=episodes)
    # Clinicians' notes on alerts: the one change to alert history, made for the patient's erasure.
    removed["alert_notes"] = alerts.exclude(resolution_note="").update(resolution_note="") + (
        AlertEvent.objects.filter(alert__in=alerts).exclude(note="").update(note="")
    )
    # The Observation as received can carry names (subject.display, performer, note): the values,
    # kinds, times and identifiers stay in their own columns.
    removed["imported_resources"] = (
        ImportedObservation.objects.filter(episode__in=episodes).exclude(resource={}).update(resource={})
    )

    # The follow-up ends: no alerts, reminders or escalations about someone who has left.
    unresolved = list(alerts.exclude(state=AlertState.RESOLVED).select_for_update())
    for alert in unresolved:
        from_state = alert.state
        alert.state = AlertState.RESOLVED
        alert.resolved_at = now
        alert.resolved_by = None
        alert.save(update_fields=["state", "resolved_at", "resolved_by"])
        AlertEvent.objects.create(
            alert=alert,
            from_state=from_state,
            to_state=EventKind.RESOLVED,
            by=None,
            note=FOLLOW_UP_ENDED_NOTE,
            at=now,
        )
    removed["alerts_resolved"] = len(unresolved)
    removed["episodes_ended"] = episodes.exclude(status=EpisodeStatus.COMPLETED).update(
        status=EpisodeStatus.COMPLETED, updated_at=now
    )
    return removed


def _sessions_delete(user_id: uuid.UUID) -> int:
    """Database sessions of the user (the unusable password already invalidates them; this removes
    the rows too). Only sessions still alive are read."""
    stale = [
        session.session_key
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get("_auth_user_id") == str(user_id)
    ]
    return Session.objects.filter(session_key__in=stale).delete()[0] if stale else 0


# ---------------------------------------------------------------------------------------------
# retention


@transaction.atomic
def privacy_policy_set(*, actor: User, clinic: Clinic, retention_days: int) -> ClinicPrivacyPolicy:
    if not can_in_clinic(actor, ClinicAction.MANAGE_PRIVACY) or actor.clinic_id != clinic.pk:
        raise NotPermitted("Only a clinic admin can set the clinic's retention.")
    if not 0 <= retention_days <= MAX_RETENTION_DAYS:
        raise ValidationFailed({"retention_days": [f"Must be between 0 and {MAX_RETENTION_DAYS}."]})
    policy, _ = ClinicPrivacyPolicy.objects.update_or_create(
        clinic=clinic, defaults={"retention_days": retention_days, "updated_by": actor}
    )
    return policy


def _episode_data_delete(episode_ids: list[uuid.UUID]) -> dict[str, int]:
    """Delete the episodes and every clinical row under them, children first (most are PROTECT).
    Audit records point at episodes without a database constraint and stay."""
    deleted: dict[str, int] = {}
    in_episodes = Q(episode_id__in=episode_ids)
    steps: list[tuple[str, Any]] = [
        ("imported_observations", ImportedObservation.objects.filter(in_episodes)),
        ("checkin_revisions", CheckInRevision.objects.filter(checkin__episode_id__in=episode_ids)),
        ("checkins", CheckIn.objects.filter(in_episodes)),
        ("exercise_logs", ExerciseLog.objects.filter(in_episodes)),
        ("walks", WalkLog.objects.filter(in_episodes)),
        ("reminder_schedules", ReminderSchedule.objects.filter(in_episodes)),
        ("assignment_revisions", AssignmentRevision.objects.filter(assignment__episode_id__in=episode_ids)),
        ("assignments", Assignment.objects.filter(in_episodes)),
        ("restriction_overrides", RestrictionOverride.objects.filter(in_episodes)),
        ("movement_restrictions", MovementRestriction.objects.filter(in_episodes)),
        ("restrictions", EpisodeRestrictions.objects.filter(in_episodes)),
        ("questionnaire_responses", QuestionnaireResponse.objects.filter(in_episodes)),
        ("alert_notices", AlertNotice.objects.filter(event__alert__episode_id__in=episode_ids)),
        ("alert_events", AlertEvent.objects.filter(alert__episode_id__in=episode_ids)),
        ("alerts", Alert.objects.filter(in_episodes)),
        ("milestones", MilestoneEvent.objects.filter(in_episodes)),
        ("reminder_settings", EpisodeReminderSettings.objects.filter(in_episodes)),
        ("episodes", Episode.objects.filter(pk__in=episode_ids)),
    ]
    for name, queryset in steps:
        deleted[name] = queryset.delete()[1].get(queryset.model._meta.label, 0)
    return deleted


def erased_data_purge(*, now: datetime | None = None, limit: int = 100) -> int:
    """Delete the de-identified clinical data of patients erased longer ago than their clinic's
    retention. Returns how many erasures were purged in this run; safe to run twice or concurrently."""
    now = now or timezone.now()
    candidates = list(
        ErasureRequest.objects.filter(state=ErasureState.CARRIED_OUT, purged_at__isnull=True)
        .order_by("carried_out_at")
        .values_list("pk", "clinic_id", "carried_out_at")[: limit * 10]
    )
    purged = 0
    for pk, clinic_id, carried_out_at in candidates:
        if purged >= limit:
            break
        if (
            carried_out_at is None
            or carried_out_at + timedelta(days=retention_days_for(clinic_id=clinic_id)) > now
        ):
            continue
        if _purge_one(pk, now):
            purged += 1
    return purged


@transaction.atomic
def _purge_one(request_id: uuid.UUID, now: datetime) -> bool:
    row = (
        ErasureRequest.objects.select_for_update(skip_locked=True)
        .filter(pk=request_id, state=ErasureState.CARRIED_OUT, purged_at__isnull=True)
        .first()
    )
    if row is None:
        return False  # another run has it, or did it already
    episode_ids = list(Episode.objects.filter(patient_id=row.patient_id).values_list("pk", flat=True))
    row.purged = _episode_data_delete(episode_ids)
    row.purged_at = now
    row.save(update_fields=["purged", "purged_at"])
    return True
