"""Seed data of the load benchmark, in the benchmark's own process (Django set up on the bench database).

The ``bench-load`` clinic is created once and grown as needed: a surgeon, two physiotherapists
(each on the care team of half the episodes), and patients in several time zones, each with an
episode 10 days after a lumbar microdiscectomy and two of the bench's own library exercises
prescribed every day from the day of surgery, three sessions a day. Every run starts by deleting
the clinic's check-ins, exercise logs and API tokens (nothing outside the clinic), then issues
fresh tokens.
"""

from __future__ import annotations

from datetime import timedelta

from bench.load_plan import CHECK_IN, EXERCISE_LOG, ClinicianSeed, PatientSeed

LOAD_CLINIC_SLUG = "bench-load"
TIME_ZONES = (
    "Europe/Madrid",
    "Europe/Lisbon",
    "America/New_York",
    "America/Mexico_City",
    "Asia/Tokyo",
    "Australia/Sydney",
)
#: The bench's own library exercises (no clinic). Plain, unrestricted movements, dosed in reps.
EXERCISES = (
    ("bench-load-pelvic-tilt", "Pelvic tilt (bench)"),
    ("bench-load-heel-slide", "Heel slide (bench)"),
)


def seed(patient_count: int) -> tuple[list[PatientSeed], list[ClinicianSeed]]:
    """The bench-load clinic (created once, grown as needed), emptied of writes, with fresh tokens.

    Returns the first ``patient_count`` patients and the three clinicians, each with the episodes
    in their scope.
    """
    from datetime import date

    from django.db import transaction
    from django.utils import timezone

    from recovery.accounts.models import ApiToken, Clinic, PatientProfile, Role, User
    from recovery.accounts.services import token_issue
    from recovery.checkins.models import CheckIn, CheckInRevision
    from recovery.episodes.models import Episode, EpisodeStatus, Procedure
    from recovery.rehab.models import Assignment, Exercise, ExerciseLog
    from recovery.rehab.vocabulary import WEEKDAYS, BodyRegion, Phase

    def user(clinic: Clinic, email: str, role: str, full_name: str) -> User:
        existing = User.objects.filter(email=email).first()
        if existing is not None:
            return existing
        return User.objects.create_user(email, full_name=full_name, role=role, clinic=clinic)

    surgery_date = timezone.now().date() - timedelta(days=10)
    with transaction.atomic():
        clinic, _ = Clinic.objects.get_or_create(
            slug=LOAD_CLINIC_SLUG, defaults={"name": "Bench Load Clinic"}
        )
        ExerciseLog.objects.filter(episode__clinic=clinic).delete()
        CheckInRevision.objects.filter(checkin__episode__clinic=clinic).delete()
        CheckIn.objects.filter(episode__clinic=clinic).delete()
        ApiToken.objects.filter(user__clinic=clinic).delete()

        surgeon = user(clinic, "bench-load-surgeon@example.org", Role.SURGEON, "Dr Load")
        physios = [
            user(clinic, f"bench-load-physio-{n}@example.org", Role.PHYSIOTHERAPIST, f"Physio Load {n}")
            for n in (1, 2)
        ]
        exercises = [
            Exercise.objects.get_or_create(
                clinic=None,
                slug=slug,
                defaults={
                    "name": name,
                    "region": BodyRegion.LUMBAR,
                    "phase": Phase.EARLY,
                    "default_sets": 2,
                    "default_reps": 10,
                    "default_sessions_per_day": 3,
                },
            )[0]
            for slug, name in EXERCISES
        ]
        procedure = Procedure.objects.get(code="lumbar_microdiscectomy")

        patients: list[PatientSeed] = []
        physio_episodes: list[list[str]] = [[] for _ in physios]
        for number in range(patient_count):
            patient = user(
                clinic,
                f"bench-load-patient-{number:03d}@example.org",
                Role.PATIENT,
                f"Patient Load {number:03d}",
            )
            PatientProfile.objects.update_or_create(
                user=patient,
                defaults={
                    "date_of_birth": date(1960 + number % 30, 1 + number % 12, 10),
                    "time_zone": TIME_ZONES[number % len(TIME_ZONES)],
                },
            )
            episode = Episode.objects.filter(clinic=clinic, patient=patient).first()
            if episode is None:
                episode = Episode.objects.create(
                    clinic=clinic,
                    patient=patient,
                    surgeon=surgeon,
                    procedure=procedure,
                    levels=["L4-L5"],
                    surgery_date=surgery_date,
                    status=EpisodeStatus.RECOVERING,
                    created_by=surgeon,
                )
            else:
                # Keep the surgery 10 days back, so that "now" stays within the plan's window.
                Episode.objects.filter(pk=episode.pk).update(surgery_date=surgery_date)
            team = number % len(physios)
            episode.physiotherapists.set([physios[team]])
            physio_episodes[team].append(str(episode.pk))
            assignments = []
            for exercise in exercises:
                assignment = Assignment.objects.filter(
                    episode=episode, exercise=exercise, ended_on__isnull=True
                ).first() or Assignment.objects.create(
                    episode=episode,
                    exercise=exercise,
                    sets=2,
                    reps=10,
                    sessions_per_day=3,
                    days_of_week=list(WEEKDAYS),
                    start_day=0,
                    end_day=None,
                    prescribed_by=surgeon,
                )
                assignments.append(str(assignment.pk))
            raw, _ = token_issue(user=patient, client="bench-load")
            patients.append({"token": raw, "episode": str(episode.pk), "assignments": assignments})

        clinicians: list[ClinicianSeed] = [
            {
                "token": token_issue(user=surgeon, client="bench-load")[0],
                "role": "surgeon",
                "episodes": [patient["episode"] for patient in patients],
            }
        ]
        for physio, episodes in zip(physios, physio_episodes, strict=True):
            token = token_issue(user=physio, client="bench-load")[0]
            clinicians.append({"token": token, "role": "physiotherapist", "episodes": episodes})
    return patients, clinicians


def stored_ids() -> dict[str, set[str]]:
    """Ids of the check-ins and exercise logs stored for the bench-load clinic."""
    from recovery.checkins.models import CheckIn
    from recovery.rehab.models import ExerciseLog

    return {
        CHECK_IN: {
            str(pk)
            for pk in CheckIn.objects.filter(episode__clinic__slug=LOAD_CLINIC_SLUG).values_list(
                "pk", flat=True
            )
        },
        EXERCISE_LOG: {
            str(pk)
            for pk in ExerciseLog.objects.filter(episode__clinic__slug=LOAD_CLINIC_SLUG).values_list(
                "pk", flat=True
            )
        },
    }
