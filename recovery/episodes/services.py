"""Writes for episodes: enrolment of a patient into a surgical episode.

Invariants: the patient, the surgeon and every physiotherapist belong to the enrolling user's clinic;
levels fit the procedure's region; a new patient account is created without a usable password and
gets an invitation email, enqueued on commit. With a client-supplied ``episode_id`` enrolment is
idempotent: the same content returns the stored episode, other content is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from recovery.accounts.models import Language, PatientProfile, Role, User
from recovery.accounts.services import invitation_create
from recovery.accounts.timezones import is_valid_time_zone
from recovery.core.errors import Conflict, NotPermitted, ValidationFailed
from recovery.episodes.access import ClinicAction, can_in_clinic
from recovery.episodes.levels import sort_levels, validate_levels
from recovery.episodes.models import Episode, EpisodeStatus, Procedure

# Enrolment accepts surgery dates within a year either side of today: wide enough for late
# enrolment and long waiting lists, narrow enough to catch a mistyped year.
SURGERY_DATE_WINDOW = timedelta(days=366)


@dataclass(frozen=True)
class PatientData:
    email: str
    full_name: str
    date_of_birth: date
    time_zone: str
    preferred_language: str = Language.ENGLISH


@dataclass(frozen=True)
class EnrolmentData:
    patient: PatientData
    procedure: str
    levels: list[str]
    surgery_date: date
    surgeon: UUID | None = None
    physiotherapists: list[UUID] = field(default_factory=list)
    status: str | None = None


def _check_patient(data: PatientData, errors: dict[str, list[str]]) -> None:
    if not is_valid_time_zone(data.time_zone):
        errors["patient.time_zone"] = [
            f"'{data.time_zone}' is not an IANA time zone such as 'Europe/Madrid'."
        ]
    today = timezone.now().date()
    if data.date_of_birth >= today:
        errors["patient.date_of_birth"] = ["The date of birth must be in the past."]
    elif data.date_of_birth < today.replace(year=today.year - 120):
        errors["patient.date_of_birth"] = ["The date of birth is more than 120 years ago."]
    if data.preferred_language not in Language.values:
        errors["patient.preferred_language"] = [f"Choose one of: {', '.join(Language.values)}."]


def _resolve_team(
    actor: User, data: EnrolmentData, errors: dict[str, list[str]]
) -> tuple[User | None, list[User]]:
    surgeon_id = data.surgeon
    if surgeon_id is None and actor.role == Role.SURGEON:
        surgeon_id = actor.pk
    surgeon: User | None = None
    if surgeon_id is None:
        errors["surgeon"] = ["Name the episode's surgeon."]
    else:
        surgeon = User.objects.filter(
            pk=surgeon_id, clinic_id=actor.tenant_id, role=Role.SURGEON, is_active=True
        ).first()
        if surgeon is None:
            errors["surgeon"] = ["No active surgeon with this id in your clinic."]
    physio_ids = list(dict.fromkeys(data.physiotherapists))
    physios = list(
        User.objects.filter(
            pk__in=physio_ids, clinic_id=actor.tenant_id, role=Role.PHYSIOTHERAPIST, is_active=True
        )
    )
    if len(physios) != len(physio_ids):
        errors["physiotherapists"] = ["Each id must be an active physiotherapist in your clinic."]
    return surgeon, physios


def _same_enrolment(episode: Episode, data: EnrolmentData, surgeon: User, physios: list[User]) -> bool:
    return (
        episode.patient.email == data.patient.email.strip().lower()
        and episode.procedure_id == data.procedure
        and episode.levels == sort_levels(data.levels)
        and episode.surgery_date == data.surgery_date
        and episode.surgeon_id == surgeon.pk
        and {p.pk for p in episode.physiotherapists.all()} == {p.pk for p in physios}
        and (data.status is None or episode.status == data.status)
    )


@transaction.atomic
def episode_enrol(
    *, actor: User, data: EnrolmentData, episode_id: UUID | None = None
) -> tuple[Episode, bool]:
    """Create an episode (and the patient's account when the email is new). Returns (episode, created)."""
    if not can_in_clinic(actor, ClinicAction.ENROL_PATIENT):
        raise NotPermitted("Only a surgeon or a clinic admin can enrol a patient.")
    errors: dict[str, list[str]] = {}
    _check_patient(data.patient, errors)
    procedure = Procedure.objects.filter(code=data.procedure, is_active=True).first()
    if procedure is None:
        errors["procedure"] = [f"'{data.procedure}' is not a known procedure."]
    else:
        problems = validate_levels(data.levels, procedure.region)
        if problems:
            errors["levels"] = problems
    today = timezone.now().date()
    if abs(data.surgery_date - today) > SURGERY_DATE_WINDOW:
        errors["surgery_date"] = ["The surgery date must be within a year of today."]
    if data.status is not None and data.status not in EpisodeStatus.values:
        errors["status"] = [f"Choose one of: {', '.join(EpisodeStatus.values)}."]
    surgeon, physios = _resolve_team(actor, data, errors)

    email = data.patient.email.strip().lower()
    patient = User.objects.filter(email__iexact=email).first()
    if patient is not None and (patient.role != Role.PATIENT or patient.clinic_id != actor.clinic_id):
        errors["patient.email"] = ["This email belongs to an account that cannot be enrolled by your clinic."]
    if errors:
        raise ValidationFailed(errors)
    assert surgeon is not None
    assert procedure is not None

    if episode_id is not None:
        existing = Episode.objects.filter(pk=episode_id).select_related("patient").first()
        if existing is not None:
            if existing.clinic_id == actor.clinic_id and _same_enrolment(existing, data, surgeon, physios):
                return existing, False
            raise Conflict({"id": ["An episode with this id already exists with different content."]})

    if patient is None:
        patient = User.objects.create_user(
            email=email,
            full_name=data.patient.full_name.strip(),
            role=Role.PATIENT,
            clinic_id=actor.tenant_id,
        )
        PatientProfile.objects.create(
            user=patient,
            date_of_birth=data.patient.date_of_birth,
            time_zone=data.patient.time_zone,
            preferred_language=data.patient.preferred_language,
        )
        invitation_create(user=patient, invited_by=actor)

    status = data.status
    if status is None:
        local_today = timezone.localtime(timezone.now(), ZoneInfo(patient.patient_profile.time_zone)).date()
        status = EpisodeStatus.PLANNED if data.surgery_date > local_today else EpisodeStatus.RECOVERING
    try:
        with transaction.atomic():
            episode = Episode.objects.create(
                **({"id": episode_id} if episode_id else {}),
                clinic_id=actor.tenant_id,
                patient=patient,
                procedure=procedure,
                levels=sort_levels(data.levels),
                surgery_date=data.surgery_date,
                status=status,
                surgeon=surgeon,
                created_by=actor,
            )
    except IntegrityError:
        # A concurrent replay with the same id won the insert.
        raise Conflict({"id": ["An episode with this id already exists."]}) from None
    episode.physiotherapists.set(physios)
    return episode, True
