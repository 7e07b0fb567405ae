"""Writes the demo cohort (``cohort.plan_demo``) into the database, replacing any earlier demo data.

Invariants:
- Only ever touches demo data. Before writing anything it refuses (``DemoRefused``) when the database
  holds a clinic with ``is_demo=False`` or a user outside the demo clinic. Platform superusers
  (no clinic) are allowed, kept and never modified; a superuser attached to a demo clinic is
  detached (``clinic=None``) rather than deleted; a superuser holding a demo login email is refused.
- One transaction: the old demo data is deleted and the new cohort written, or nothing changes.
  Re-running therefore replaces the demo (idempotent for the same arguments and day).
- Deletion goes in foreign-key order because the links are PROTECT: check-in revisions, check-ins,
  exercise logs, assignment revisions, assignments, restriction overrides, movement restrictions,
  episode restrictions, questionnaire responses, episodes, the clinic's own exercises, restriction
  defaults, questionnaire timepoints and licensed wording, users, clinic. Rows of models this module
  does not know about that PROTECT a demo row are deleted first (they can only be demo data once the
  check above passed).
- Shipped reference data (exercise library, default restrictions, questionnaire schedule and
  instruments; no clinic) is read, never written: ``load_catalog`` runs after the purge, so the new
  clinic's plan uses exactly what the API would. Episode restrictions are initialised from the
  procedure's defaults as ``rehab.restrictions.restrictions_ensure`` does (a test compares the two), and
  no assignment is written that the restriction guard would reject.
- Writes use ``bulk_create`` (one statement per model and batch). Every demo account's password is
  ``DEMO_PASSWORD``, hashed once and shared; its random salt and the users' and episodes' storage
  timestamps are all that differ between two runs with the same arguments on the same day.
  Check-ins get ``created_at = updated_at = recorded_at`` so the 72-hour edit window applies to
  the recent ones only, as it would for real entries; likewise exercise logs take their
  ``performed_at``, questionnaire responses their ``submitted_at`` and assignments the time they
  were prescribed.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from django.contrib.auth.hashers import make_password
from django.db import models, transaction
from django.db.models import F, ProtectedError, Q, RestrictedError
from django.utils import timezone

from recovery.accounts.models import Clinic, PatientProfile, Role, User
from recovery.checkins.models import CheckIn, CheckInRevision
from recovery.core.demo.catalog import CatalogExercise, CatalogRestrictions, DemoCatalog
from recovery.core.demo.cohort import STAFF, DemoPlan, Scenario, patient_email, plan_demo
from recovery.core.demo.ids import DOMAIN
from recovery.episodes.models import Episode, Procedure
from recovery.proms.models import Instrument, InstrumentText, QuestionnaireResponse, ScheduleTimepoint
from recovery.proms.selectors import schedule_for_clinic
from recovery.rehab.models import (
    Assignment,
    AssignmentRevision,
    EpisodeRestrictions,
    Exercise,
    ExerciseLog,
    MovementRestriction,
    RestrictionDefault,
    RestrictionOverride,
)

DEMO_PASSWORD: Final = "mobilize-demo"
CLINIC_NAME: Final = "Mobilize Demo Spine Clinic"
CLINIC_SLUG: Final = "demo"
_MAX_PURGE_DEPTH: Final = 8


class DemoRefused(Exception):
    """The database holds data that is not demo data; nothing was changed."""


@dataclass(frozen=True)
class DemoSummary:
    clinic: str
    patients: int
    episodes_by_status: dict[str, int]
    checkins: int
    scenarios: dict[str, int]
    replaced: bool
    seconds: float
    logins: tuple[tuple[str, str], ...]
    assignments: int = 0
    exercise_logs: int = 0
    questionnaire_responses: int = 0
    adherence_profiles: dict[str, int] | None = None


def demo_seed(*, patients: int, seed: int, now: datetime | None = None) -> DemoSummary:
    started = time.perf_counter()
    now = now or timezone.now()
    with transaction.atomic():
        _refuse_unless_demo_only(_login_emails(patients))
        replaced = purge_demo_data()
        plan = plan_demo(patients=patients, seed=seed, now=now, catalog=load_catalog())
        _write(plan)
    scenarios = Counter(patient.scenario.value for patient in plan.patients)
    return DemoSummary(
        clinic=CLINIC_NAME,
        patients=len(plan.patients),
        episodes_by_status=dict(sorted(Counter(patient.status for patient in plan.patients).items())),
        checkins=sum(len(patient.checkins) for patient in plan.patients),
        scenarios={scenario.value: scenarios.get(scenario.value, 0) for scenario in Scenario},
        replaced=replaced,
        seconds=time.perf_counter() - started,
        assignments=sum(len(patient.assignments) for patient in plan.patients),
        exercise_logs=sum(len(patient.exercise_logs) for patient in plan.patients),
        questionnaire_responses=sum(len(patient.responses) for patient in plan.patients),
        adherence_profiles=dict(sorted(Counter(p.adherence.profile.value for p in plan.patients).items())),
        logins=(
            ("surgeon", f"surgeon@{DOMAIN}"),
            ("physio", f"physio@{DOMAIN}"),
            ("patient", patient_email(0)),
            ("admin", f"admin@{DOMAIN}"),
        ),
    )


def _login_emails(patients: int) -> set[str]:
    return {f"{key}@{DOMAIN}" for key, _, _ in STAFF} | {patient_email(i) for i in range(patients)}


def _refuse_unless_demo_only(emails: set[str]) -> None:
    clinics = Clinic.objects.filter(is_demo=False).count()
    outsiders = (
        User.objects.exclude(clinic__is_demo=True).exclude(clinic__isnull=True, is_superuser=True).count()
    )
    problems = []
    if clinics:
        problems.append(f"{clinics} non-demo clinic(s)")
    if outsiders:
        problems.append(f"{outsiders} user(s) outside the demo clinic")
    if problems:
        raise DemoRefused(
            f"Refusing to seed demo data: this database holds {' and '.join(problems)}. seed_demo only runs on "
            "an empty database or one that holds nothing but earlier demo data (and platform superusers)."
        )
    taken = sorted(User.objects.filter(is_superuser=True, email__in=emails).values_list("email", flat=True))
    if taken:
        raise DemoRefused(
            f"Refusing to seed demo data: superuser(s) {', '.join(taken)} use a demo login email."
        )


def purge_demo_data() -> bool:
    """Delete every row that belongs to a demo clinic, in foreign-key order; True if there was one.

    Call it inside a transaction, once ``_refuse_unless_demo_only`` has passed (``demo_seed`` does):
    rows of other models that PROTECT a demo row are deleted too, which is only safe when the
    database holds nothing but demo data.
    """
    clinics = Clinic.objects.filter(is_demo=True)
    if not clinics.exists():
        return False
    episodes = Episode.objects.filter(clinic__in=clinics)
    users = User.objects.filter(clinic__in=clinics, is_superuser=False)
    _delete(CheckInRevision.objects.filter(Q(checkin__episode__in=episodes) | Q(changed_by__in=users)))
    _delete(CheckIn.objects.filter(Q(episode__in=episodes) | Q(created_by__in=users)))
    _delete(ExerciseLog.objects.filter(Q(episode__in=episodes) | Q(created_by__in=users)))
    _delete(AssignmentRevision.objects.filter(Q(assignment__episode__in=episodes) | Q(changed_by__in=users)))
    _delete(
        Assignment.objects.filter(
            Q(episode__in=episodes) | Q(prescribed_by__in=users) | Q(ended_by__in=users)
        )
    )
    _delete(RestrictionOverride.objects.filter(Q(episode__in=episodes) | Q(created_by__in=users)))
    _delete(MovementRestriction.objects.filter(episode__in=episodes))
    _delete(EpisodeRestrictions.objects.filter(episode__in=episodes))
    _delete(QuestionnaireResponse.objects.filter(Q(episode__in=episodes) | Q(created_by__in=users)))
    _delete(episodes)
    # The clinic's own reference data, which demo staff may have added through the app.
    _delete(Exercise.objects.filter(clinic__in=clinics))
    _delete(RestrictionDefault.objects.filter(clinic__in=clinics))
    _delete(ScheduleTimepoint.objects.filter(clinic__in=clinics))
    _delete(InstrumentText.objects.filter(clinic__in=clinics))
    _delete(users)
    User.objects.filter(clinic__in=clinics, is_superuser=True).update(clinic=None)
    _delete(clinics)
    return True


def _delete(queryset: models.QuerySet[Any], depth: int = 0) -> None:
    """Delete, first deleting rows of other models that PROTECT (or RESTRICT) the ones going."""
    while True:
        try:
            queryset.delete()
        except (ProtectedError, RestrictedError) as exc:
            if depth >= _MAX_PURGE_DEPTH:
                raise
            blockers = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
            for model, pks in _group_by_model(blockers).items():
                _delete(model._default_manager.filter(pk__in=pks), depth + 1)
        else:
            return


def _group_by_model(objects: Iterable[models.Model]) -> dict[type[models.Model], list[Any]]:
    grouped: dict[type[models.Model], list[Any]] = defaultdict(list)
    for obj in objects:
        grouped[type(obj)].append(obj.pk)
    return grouped


def load_catalog() -> DemoCatalog:
    """The shipped reference data the demo plans against, read as the API reads it: active shipped
    exercises, shipped restriction defaults, the default questionnaire schedule and the active
    instruments. Four queries. The demo clinic, created afresh, has none of its own."""
    exercises = tuple(
        CatalogExercise(
            id=row.id,
            slug=row.slug,
            region=row.region,
            phase=row.phase,
            sets=row.default_sets,
            reps=row.default_reps,
            hold_seconds=row.default_hold_seconds,
            sessions_per_day=row.default_sessions_per_day,
            tags=tuple(row.movement_tags),
        )
        for row in Exercise.objects.filter(clinic__isnull=True, is_active=True).order_by("slug")
    )
    restrictions = {
        row.procedure_id: CatalogRestrictions(
            lifting_limit_kg=row.lifting_limit_kg,
            lifting_limit_until_day=row.lifting_limit_until_day,
            movements=tuple((item["tag"], item["until_day"]) for item in row.forbidden_movements),
            # The wording of rehab.restrictions.restrictions_ensure for shipped defaults.
            source=f"From Mobilize's shipped defaults for {row.procedure.name}: {row.source}",
        )
        for row in RestrictionDefault.objects.filter(clinic__isnull=True).select_related("procedure")
    }
    timepoints = tuple(schedule_for_clinic(clinic_id=None))
    instruments = {row.region: row.definition for row in Instrument.objects.filter(is_active=True)}
    if not exercises or not timepoints or not instruments:
        raise DemoRefused(
            "The shipped exercise library, questionnaire schedule or instruments are missing; run "
            "`manage.py migrate` first."
        )
    return DemoCatalog(exercises, restrictions, timepoints, instruments)


def _write(plan: DemoPlan) -> None:
    procedures = dict(Procedure.objects.values_list("code", "name"))
    missing = set(_procedure_codes(plan)) - set(procedures)
    if missing:
        raise DemoRefused(
            f"Procedure(s) {', '.join(sorted(missing))} are missing; run `manage.py migrate` first."
        )
    clinic = Clinic.objects.create(id=plan.clinic_id, name=CLINIC_NAME, slug=CLINIC_SLUG, is_demo=True)
    password = make_password(DEMO_PASSWORD)
    staff = {
        member.key: User(
            id=member.id,
            email=member.email,
            full_name=member.full_name,
            role=member.role,
            clinic=clinic,
            password=password,
        )
        for member in plan.staff
    }
    patients = [
        User(
            id=p.user_id,
            email=p.email,
            full_name=p.full_name,
            role=Role.PATIENT,
            clinic=clinic,
            password=password,
        )
        for p in plan.patients
    ]
    User.objects.bulk_create([*staff.values(), *patients])
    PatientProfile.objects.bulk_create(
        PatientProfile(
            user=user, date_of_birth=p.date_of_birth, time_zone=p.time_zone, preferred_language=p.language
        )
        for user, p in zip(patients, plan.patients, strict=True)
    )
    surgeon = staff["surgeon"]
    episodes = Episode.objects.bulk_create(
        Episode(
            id=p.episode_id,
            clinic=clinic,
            patient=user,
            procedure_id=p.procedure,
            levels=list(p.levels),
            surgery_date=p.surgery_date,
            status=p.status,
            surgeon=surgeon,
            created_by=surgeon,
        )
        for user, p in zip(patients, plan.patients, strict=True)
    )
    through = Episode.physiotherapists.through
    through.objects.bulk_create(
        through(episode_id=p.episode_id, user_id=staff[key].id) for p in plan.patients for key in p.physios
    )
    CheckIn.objects.bulk_create(
        (
            CheckIn(
                id=c.id,
                episode=episode,
                recorded_at=c.recorded_at,
                local_date=c.local_date,
                axial_pain=c.axial_pain,
                limb_pain=c.limb_pain,
                walking_minutes=c.walking_minutes,
                steps=c.steps,
                sleep_quality=c.sleep_quality,
                took_opioid=c.took_opioid,
                red_flags=list(c.red_flags),
                note=c.note,
                created_by=user,
            )
            for episode, user, p in zip(episodes, patients, plan.patients, strict=True)
            for c in p.checkins
        ),
        batch_size=1000,
    )
    # auto_now_add stamped every row with "now"; make them look stored when they were recorded.
    CheckIn.objects.filter(episode__clinic=clinic).update(
        created_at=F("recorded_at"), updated_at=F("recorded_at")
    )
    _write_rehab(plan, staff, procedures)
    QuestionnaireResponse.objects.bulk_create(
        (
            QuestionnaireResponse(
                id=r.id,
                episode_id=p.episode_id,
                instrument_id=r.instrument,
                instrument_version=r.instrument_version,
                timepoint=r.timepoint,
                timepoint_label=r.timepoint_label,
                is_baseline=r.is_baseline,
                answers=r.answers,
                raw_score=r.raw_score,
                answered=r.answered,
                missing=r.missing,
                percent=r.percent,
                submitted_at=r.submitted_at,
                local_date=r.local_date,
                created_by_id=p.user_id,
            )
            for p in plan.patients
            for r in p.responses
        ),
        batch_size=1000,
    )
    QuestionnaireResponse.objects.filter(episode__clinic=clinic).update(created_at=F("submitted_at"))


def _write_rehab(plan: DemoPlan, staff: dict[str, User], procedures: dict[str, str]) -> None:
    EpisodeRestrictions.objects.bulk_create(
        EpisodeRestrictions(
            episode_id=p.episode_id,
            lifting_limit_kg=p.restrictions.lifting_limit_kg if p.restrictions else None,
            lifting_limit_until_day=p.restrictions.lifting_limit_until_day if p.restrictions else None,
            source=(
                p.restrictions.source
                if p.restrictions
                # The wording of rehab.restrictions.restrictions_ensure when a procedure has no default.
                else f"No default restrictions exist for {procedures[p.procedure]}; none apply until the "
                "surgeon sets them."
            ),
        )
        for p in plan.patients
    )
    MovementRestriction.objects.bulk_create(
        MovementRestriction(episode_id=p.episode_id, tag=tag, until_day=until_day)
        for p in plan.patients
        for tag, until_day in (p.restrictions.movements if p.restrictions else ())
    )
    assignments = Assignment.objects.bulk_create(
        Assignment(
            id=a.id,
            episode_id=p.episode_id,
            exercise_id=a.exercise.id,
            sets=a.sets,
            reps=a.reps,
            hold_seconds=a.hold_seconds,
            load_kg=None,
            sessions_per_day=a.sessions_per_day,
            days_of_week=list(a.days_of_week),
            start_day=a.start_day,
            end_day=a.end_day,
            notes=a.notes,
            prescribed_by_id=staff[a.prescriber].id,
        )
        for p in plan.patients
        for a in p.assignments
    )
    prescribed_at = {a.id: a.prescribed_at for p in plan.patients for a in p.assignments}
    for assignment in assignments:
        assignment.created_at = assignment.updated_at = prescribed_at[assignment.id]
    Assignment.objects.bulk_update(assignments, ["created_at", "updated_at"], batch_size=500)
    ExerciseLog.objects.bulk_create(
        (
            ExerciseLog(
                id=log.id,
                episode_id=p.episode_id,
                assignment_id=log.assignment_id,
                performed_at=log.performed_at,
                local_date=log.local_date,
                sets_completed=log.sets_completed,
                reps_completed=log.reps_completed,
                hold_seconds=log.hold_seconds,
                pain_during=log.pain_during,
                difficulty=log.difficulty,
                note=log.note,
                created_by_id=p.user_id,
            )
            for p in plan.patients
            for log in p.exercise_logs
        ),
        batch_size=2000,
    )
    ExerciseLog.objects.filter(episode__clinic_id=plan.clinic_id).update(created_at=F("performed_at"))


def _procedure_codes(plan: DemoPlan) -> list[str]:
    return [patient.procedure for patient in plan.patients]
