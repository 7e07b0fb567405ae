"""Deterministic factories for the domain (factory_boy)."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from factory.declarations import (
    LazyAttribute,
    LazyFunction,
    PostGenerationMethodCall,
    RelatedFactory,
    SelfAttribute,
    Sequence,
    SubFactory,
)
from factory.django import DjangoModelFactory
from factory.helpers import post_generation

from recovery.accounts.models import Clinic, PatientProfile, Role, User
from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode, EpisodeStatus, Procedure
from recovery.rehab.models import Assignment, Exercise
from recovery.rehab.vocabulary import BodyRegion, Phase

PASSWORD = "correct-horse-battery"


class ClinicFactory(DjangoModelFactory[Clinic]):
    class Meta:
        model = Clinic

    name = Sequence(lambda n: f"Clinic {n}")
    slug = Sequence(lambda n: f"clinic-{n}")


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = Sequence(lambda n: f"user{n}@example.org")
    full_name = Sequence(lambda n: f"Person {n}")
    role = Role.SURGEON
    clinic = SubFactory(ClinicFactory)
    password = PostGenerationMethodCall("set_password", PASSWORD)

    @post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:  # noqa: N805
        if create:
            obj.save()


class PatientFactory(UserFactory):
    role = Role.PATIENT
    profile = RelatedFactory("tests.factories.PatientProfileFactory", factory_related_name="user")


class PatientProfileFactory(DjangoModelFactory[PatientProfile]):
    class Meta:
        model = PatientProfile

    user = SubFactory(PatientFactory, profile=None)
    date_of_birth = date(1968, 4, 12)
    time_zone = "Europe/Madrid"
    preferred_language = "en"


def _zone_of(patient: User) -> ZoneInfo:
    profile = getattr(patient, "patient_profile", None)
    return ZoneInfo(profile.time_zone if profile is not None else "UTC")


class EpisodeFactory(DjangoModelFactory[Episode]):
    class Meta:
        model = Episode
        skip_postgeneration_save = True

    patient = SubFactory(PatientFactory)
    clinic = LazyAttribute(lambda o: o.patient.clinic)
    surgeon = SubFactory(UserFactory, role=Role.SURGEON, clinic=SelfAttribute("..clinic"))
    procedure = LazyFunction(lambda: Procedure.objects.get(code="lumbar_microdiscectomy"))
    levels = LazyFunction(lambda: ["L4-L5"])
    # Ten days ago on the patient's own calendar, whatever the hour in UTC.
    surgery_date = LazyAttribute(
        lambda o: timezone.localtime(timezone.now(), _zone_of(o.patient)).date() - timedelta(days=10)
    )
    status = EpisodeStatus.RECOVERING

    @post_generation
    def physiotherapists(obj: Episode, create: bool, extracted: list[User] | None, **kwargs: object) -> None:  # noqa: N805
        if create and extracted:
            obj.physiotherapists.set(extracted)


class CheckInFactory(DjangoModelFactory[CheckIn]):
    class Meta:
        model = CheckIn

    episode = SubFactory(EpisodeFactory)
    recorded_at = LazyFunction(timezone.now)
    local_date = LazyAttribute(
        lambda o: timezone.localtime(o.recorded_at, o.episode.patient_time_zone).date()
    )
    axial_pain = 4
    limb_pain = 3
    created_by = LazyAttribute(lambda o: o.episode.patient)


class ExerciseFactory(DjangoModelFactory[Exercise]):
    class Meta:
        model = Exercise

    clinic = None
    slug = Sequence(lambda n: f"exercise-{n}")
    name = Sequence(lambda n: f"Exercise {n}")
    instructions = LazyFunction(
        lambda: ["Lie on your back.", "Breathe out and tighten your tummy.", "Relax."]
    )
    region = BodyRegion.LUMBAR
    phase = Phase.EARLY
    default_sets = 2
    default_reps = 10
    movement_tags = LazyFunction(list)


class AssignmentFactory(DjangoModelFactory[Assignment]):
    class Meta:
        model = Assignment

    episode = SubFactory(EpisodeFactory)
    exercise = SubFactory(ExerciseFactory)
    sets = 2
    reps = 10
    sessions_per_day = 1
    days_of_week = LazyFunction(lambda: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    start_day = 0
    end_day = None
    prescribed_by = LazyAttribute(lambda o: o.episode.surgeon)


def load_shipped_rehab() -> None:
    """Load the shipped exercise library and default restrictions (after the procedures). A
    transactional test flushes what the data migrations loaded; both loaders are idempotent."""
    from django.apps import apps

    from recovery.rehab.defaults import load_restriction_defaults
    from recovery.rehab.library import load_library

    load_library(apps, None)
    load_restriction_defaults(apps, None)
