"""``manage.py seed_demo``: logins, cohort shape, determinism, safety on non-demo data, re-runs,
value ranges and the expected recovery trend (anchors cited in ``recovery.core.demo.trajectories``);
exercise plans that fit procedure, phase and restrictions, exercise logs and adherence, and
questionnaires at the timepoints already passed, read back through the selectors and the API."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from io import StringIO
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from recovery.accounts.models import ApiToken, Clinic, PatientProfile, Role, User
from recovery.accounts.services import token_issue
from recovery.checkins.models import CheckIn, CheckInRevision
from recovery.checkins.vocabulary import RED_FLAG_CODES
from recovery.core.demo import DEMO_PASSWORD, DemoPlan, Scenario, plan_demo
from recovery.core.demo.rehab import AdherenceProfile
from recovery.core.demo.seed import load_catalog, purge_demo_data
from recovery.core.demo.trajectories import (
    ACDF,
    DISABILITY,
    DISCECTOMY,
    KIM_2021,
    MIS_DECOMPRESSION,
    NDI_ACDF,
    ODI_DISCECTOMY,
    SPORT_DISCECTOMY,
    STEP_RATIO,
    STIENEN_2020,
    TRAJECTORIES,
    all_anchors,
)
from recovery.core.management.commands.seed_demo import Command
from recovery.episodes.levels import validate_levels
from recovery.episodes.models import Episode, EpisodeStatus
from recovery.proms.models import Instrument, InstrumentText, QuestionnaireResponse, ScheduleTimepoint
from recovery.proms.scoring import clean_answers, score_answers
from recovery.proms.selectors import questionnaire_overview, schedule_for_clinic
from recovery.proms.timepoints import State, timepoint_on
from recovery.rehab.models import (
    Assignment,
    AssignmentRevision,
    EpisodeRestrictions,
    Exercise,
    ExerciseLog,
    MovementRestriction,
    RestrictionOverride,
)
from recovery.rehab.plan import adherence_report, assignment_inactive_reason
from recovery.rehab.restrictions import restriction_conflicts, restrictions_ensure
from recovery.rehab.vocabulary import PHASE_START_DAY, BodyRegion, Phase
from tests.factories import CheckInFactory, ClinicFactory, EpisodeFactory, PatientFactory

PROCEDURES = {
    "lumbar_microdiscectomy",
    "tubular_discectomy",
    "full_endoscopic_discectomy",
    "mis_lumbar_decompression",
    "mis_tlif",
    "acdf",
}
FROZEN = datetime(2026, 3, 30, 9, 15, tzinfo=ZoneInfo("UTC"))  # the day after Europe's DST change


def seed(**options: Any) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def demo_plan(patients: int = 40, seed: int = 42) -> DemoPlan:
    """The plan behind a seeded demo (call at the same frozen time as the seeding)."""
    return plan_demo(patients=patients, seed=seed, now=timezone.now(), catalog=load_catalog())


def episodes() -> list[Episode]:
    return list(Episode.objects.select_related("patient__patient_profile", "procedure").order_by("id"))


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    return {
        "users": list(User.objects.order_by("id").values_list("id", "email", "full_name", "role")),
        "profiles": list(
            PatientProfile.objects.order_by("user_id").values_list(
                "user_id", "date_of_birth", "time_zone", "preferred_language"
            )
        ),
        "episodes": list(
            Episode.objects.order_by("id").values_list(
                "id", "patient_id", "procedure_id", "levels", "surgery_date", "status"
            )
        ),
        "checkins": list(
            CheckIn.objects.order_by("id").values_list(
                "id",
                "episode_id",
                "recorded_at",
                "local_date",
                "axial_pain",
                "limb_pain",
                "walking_minutes",
                "steps",
                "sleep_quality",
                "took_opioid",
                "red_flags",
                "note",
            )
        ),
        "restrictions": list(
            EpisodeRestrictions.objects.order_by("episode_id").values_list(
                "episode_id", "lifting_limit_kg", "lifting_limit_until_day", "source"
            )
        ),
        "movements": list(
            MovementRestriction.objects.order_by("episode_id", "tag").values_list(
                "episode_id", "tag", "until_day"
            )
        ),
        "assignments": list(
            Assignment.objects.order_by("id").values_list(
                "id",
                "episode_id",
                "exercise_id",
                "sets",
                "reps",
                "hold_seconds",
                "sessions_per_day",
                "days_of_week",
                "start_day",
                "end_day",
                "notes",
                "prescribed_by_id",
                "created_at",
            )
        ),
        "exercise_logs": list(
            ExerciseLog.objects.order_by("id").values_list(
                "id",
                "assignment_id",
                "performed_at",
                "local_date",
                "sets_completed",
                "reps_completed",
                "hold_seconds",
                "pain_during",
                "difficulty",
                "note",
            )
        ),
        "responses": list(
            QuestionnaireResponse.objects.order_by("id").values_list(
                "id",
                "episode_id",
                "instrument_id",
                "timepoint",
                "answers",
                "raw_score",
                "percent",
                "submitted_at",
            )
        ),
    }


# --- Logins and cohort shape ----------------------------------------------------------------


@pytest.mark.django_db
def test_seed_creates_demo_logins_that_authenticate() -> None:
    output = seed(patients=8)

    expected = {
        "surgeon@demo.mobilize.example": Role.SURGEON,
        "physio@demo.mobilize.example": Role.PHYSIOTHERAPIST,
        "physio2@demo.mobilize.example": Role.PHYSIOTHERAPIST,
        "admin@demo.mobilize.example": Role.CLINIC_ADMIN,
        "patient@demo.mobilize.example": Role.PATIENT,
    }
    clinic = Clinic.objects.get()
    assert (clinic.slug, clinic.is_demo) == ("demo", True)
    for email, role in expected.items():
        user = authenticate(None, username=email, password=DEMO_PASSWORD)
        assert user is not None, email
        assert isinstance(user, User)
        assert (user.role, user.clinic_id, user.is_superuser) == (role, clinic.id, False)
    assert authenticate(None, username="patient@demo.mobilize.example", password="wrong") is None
    for email in ("surgeon@", "physio@", "patient@", "admin@"):
        assert email in output
    assert DEMO_PASSWORD in output


@pytest.mark.django_db
def test_patients_option_sets_the_number_of_patients() -> None:
    seed(patients=7)

    patients = User.objects.filter(role=Role.PATIENT)
    assert set(patients.values_list("email", flat=True)) == {"patient@demo.mobilize.example"} | {
        f"patient{n:02d}@demo.mobilize.example" for n in range(2, 8)
    }
    assert PatientProfile.objects.count() == 7
    assert Episode.objects.count() == 7
    assert User.objects.exclude(role=Role.PATIENT).count() == 4


# --- Determinism ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_same_seed_gives_identical_data_and_another_seed_differs() -> None:
    with time_machine.travel(FROZEN, tick=False):
        seed(patients=12, seed=5)
        first = snapshot()
        seed(patients=12, seed=5)
        second = snapshot()
        seed(patients=12, seed=6)
        other = snapshot()

    assert len(first["checkins"]) > 12 * 5
    assert len(first["exercise_logs"]) > 12 * 50 and len(first["responses"]) >= 12
    assert first == second
    for table in ("checkins", "assignments", "exercise_logs", "responses"):
        assert {row[0] for row in other[table]}.isdisjoint({row[0] for row in first[table]}), table
    values = [row[2:] for row in first["checkins"]]
    assert values != [row[2:] for row in other["checkins"]]
    assert [row[2:] for row in first["exercise_logs"]] != [row[2:] for row in other["exercise_logs"]]


# --- Safety ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_refuses_when_a_non_demo_clinic_exists_and_leaves_it_untouched() -> None:
    checkin_id = CheckInFactory.create(axial_pain=6, limb_pain=7).pk
    before = snapshot()

    with pytest.raises(CommandError, match="non-demo clinic"):
        seed(patients=5)

    assert snapshot() == before
    assert not Clinic.objects.filter(is_demo=True).exists()
    assert CheckIn.objects.values_list("axial_pain", "limb_pain").get(pk=checkin_id) == (6, 7)


@pytest.mark.django_db
def test_refuses_when_real_data_sits_beside_earlier_demo_data() -> None:
    seed(patients=5)
    real = ClinicFactory.create(name="Real Spine Clinic")
    EpisodeFactory.create(patient=PatientFactory.create(clinic=real))
    before = snapshot()

    with pytest.raises(CommandError, match="Refusing to seed"):
        seed(patients=5, seed=9)

    assert snapshot() == before


@pytest.mark.django_db
def test_refusal_exits_non_zero_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    ClinicFactory.create()

    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "seed_demo", "--patients", "3"])

    assert exited.value.code != 0
    assert "Refusing to seed demo data" in capsys.readouterr().err


@pytest.mark.django_db
def test_platform_superuser_is_allowed_and_kept() -> None:
    root = User.objects.create_superuser("root@example.org", "pw-for-root", full_name="Root")

    seed(patients=3)
    seed(patients=3)

    root.refresh_from_db()
    assert (root.is_superuser, root.clinic_id) == (True, None)
    assert root.check_password("pw-for-root")


@pytest.mark.django_db
def test_superuser_attached_to_the_demo_clinic_is_detached_not_deleted() -> None:
    seed(patients=2)
    root = User.objects.create_superuser(
        "root@example.org", "pw-for-root", full_name="Root", clinic=Clinic.objects.get()
    )

    seed(patients=2)

    root.refresh_from_db()
    assert (root.is_superuser, root.clinic_id) == (True, None)


@pytest.mark.django_db
def test_refuses_when_a_superuser_holds_a_demo_login_email() -> None:
    User.objects.create_superuser("surgeon@demo.mobilize.example", "pw", full_name="Root")

    with pytest.raises(CommandError, match="demo login email"):
        seed(patients=2)

    assert User.objects.count() == 1


@pytest.mark.django_db
def test_refuses_under_production_settings_unless_allowed(settings: Any) -> None:
    settings.IS_PRODUCTION = True

    with pytest.raises(CommandError, match="production"):
        seed(patients=2)
    assert not User.objects.exists()

    seed(patients=2, allow_production=True)
    assert User.objects.filter(role=Role.PATIENT).count() == 2


@pytest.mark.django_db
def test_refuses_without_the_shipped_reference_data_and_changes_nothing() -> None:
    seed(patients=3)
    before = snapshot()
    Exercise.objects.filter(clinic__isnull=True).update(is_active=False)

    with pytest.raises(CommandError, match="migrate"):
        seed(patients=3, seed=7)

    assert snapshot() == before


@pytest.mark.django_db
def test_only_active_shipped_exercises_are_prescribed() -> None:
    Exercise.objects.filter(clinic__isnull=True, slug__in=["walking", "heel-slides"]).update(is_active=False)

    seed(patients=6)

    slugs = set(Assignment.objects.values_list("exercise__slug", flat=True))
    assert slugs and not slugs & {"walking", "heel-slides"}
    assert all(Assignment.objects.filter(episode=episode).exists() for episode in Episode.objects.all())


def test_patients_must_be_positive() -> None:
    with pytest.raises(CommandError):
        call_command("seed_demo", patients=0, stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("seed_demo", "--patients", "0", stdout=StringIO())


# --- Re-runs --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rerun_replaces_the_demo_rather_than_duplicating_it() -> None:
    seed(patients=10, seed=1)
    single = {name: len(rows) for name, rows in snapshot().items()}
    # Rows that PROTECT demo rows: an edit revision and an API token of a demo patient.
    checkin = CheckIn.objects.filter(episode__patient__email="patient@demo.mobilize.example").first()
    assert checkin is not None
    CheckInRevision.objects.create(
        checkin=checkin, action="update", previous={}, changed_by=checkin.created_by
    )
    ApiToken.objects.create(
        user=checkin.created_by,
        key_hash="x" * 64,
        prefix="mob_",
        expires_at=timezone.now() + timedelta(days=1),
    )
    # And what demo staff may add through the app: an edit of a prescription, a surgeon's override,
    # the clinic's own exercise, schedule and licensed questionnaire wording.
    assignment = Assignment.objects.filter(episode=checkin.episode).first()
    assert assignment is not None
    clinic = Clinic.objects.get()
    surgeon = User.objects.get(email="surgeon@demo.mobilize.example")
    AssignmentRevision.objects.create(
        assignment=assignment, action="update", previous={}, changed_by=assignment.prescribed_by
    )
    own = Exercise.objects.create(
        clinic=clinic,
        slug="own",
        name="Own",
        instructions=["Do it."],
        region="general",
        phase="early",
        default_reps=5,
    )
    Assignment.objects.create(
        episode=checkin.episode, exercise=own, sets=1, reps=5, start_day=0, prescribed_by=surgeon
    )
    RestrictionOverride.objects.create(
        episode=checkin.episode, exercise=own, tag="lumbar_flexion", reason="Fine", created_by=surgeon
    )
    ScheduleTimepoint.objects.create(
        clinic=clinic,
        key="week_2",
        label="2 weeks",
        target_day=14,
        opens_day=10,
        closes_day=20,
        timepoint_source="x",
    )
    InstrumentText.objects.create(
        clinic=clinic, instrument=Instrument.objects.get(code="odi"), language="en", items=[]
    )

    output = seed(patients=10, seed=1)

    assert output.startswith("Replaced")
    assert {name: len(rows) for name, rows in snapshot().items()} == single
    assert Clinic.objects.count() == 1
    assert not CheckInRevision.objects.exists()
    assert not ApiToken.objects.exists()
    assert not AssignmentRevision.objects.exists() and not RestrictionOverride.objects.exists()
    assert not Exercise.objects.filter(clinic__isnull=False).exists()
    assert not ScheduleTimepoint.objects.filter(clinic__isnull=False).exists()
    assert not InstrumentText.objects.exists()
    # Shipped reference data is read, never touched.
    assert Exercise.objects.filter(clinic__isnull=True).count() > 30


@pytest.mark.django_db
def test_rerun_with_other_arguments_leaves_no_trace_of_the_first_run() -> None:
    seed(patients=9, seed=1)
    seed(patients=4, seed=2)

    assert User.objects.filter(role=Role.PATIENT).count() == 4
    assert Episode.objects.count() == 4
    current = set(Episode.objects.values_list("id", flat=True))
    for model in (CheckIn, Assignment, ExerciseLog, QuestionnaireResponse, EpisodeRestrictions):
        assert set(model.objects.values_list("episode_id", flat=True)) == current, model.__name__


@pytest.mark.django_db
def test_seeding_uses_a_bounded_number_of_queries() -> None:
    with CaptureQueriesContext(connection) as captured:
        seed(patients=40)

    inserts = [query for query in captured.captured_queries if query["sql"].startswith("INSERT")]
    # Reads, updates and deletes do not depend on the cohort's size; inserts come in batches of rows
    # (1000 check-ins, 2000 exercise logs), never one per patient, assignment or log. SQLite caps a
    # statement at 999 parameters, so its batches are smaller.
    assert len(captured.captured_queries) - len(inserts) <= 30
    if connection.vendor == "postgresql":
        assert len(inserts) <= 25
    else:
        assert len(inserts) <= (ExerciseLog.objects.count() + CheckIn.objects.count()) // 50


# --- The default demo, seeded once ---------------------------------------------------------------


@pytest.fixture(scope="class")
def demo(django_db_setup: None, django_db_blocker: Any) -> Iterator[DemoPlan]:
    """The default demo (40 patients, seed 42) seeded once, at ``FROZEN``, for the tests of a class.

    It is committed, so each test reads it inside its own rolled-back transaction (the tests may
    write, e.g. tokens), and it is deleted when the class is done. The clock stays at ``FROZEN`` for
    the whole class, so "today" is the seeding day in every test. Returns the plan behind the data.
    """
    traveller = time_machine.travel(FROZEN, tick=False)
    traveller.start()
    try:
        with django_db_blocker.unblock():
            seed()
            plan = demo_plan()
        yield plan
    finally:
        with django_db_blocker.unblock(), transaction.atomic():
            purge_demo_data()
        traveller.stop()


_PHASE_OF_START = sorted(PHASE_START_DAY.items(), key=lambda item: item[1])


def _phases_reached(post_op_day: int) -> set[str]:
    return {phase for phase, first in _PHASE_OF_START if post_op_day >= first}


def _adherence(episode: Episode, first: date, last: date) -> float | None:
    return adherence_report(episode=episode, date_from=first, date_to=last).overall.adherence


@pytest.mark.django_db
@pytest.mark.usefixtures("demo")
class TestSeededDemo:
    """Read the default demo: its cohort, check-ins, plans, logs, adherence and questionnaires."""

    def test_default_cohort_spreads_over_all_procedures_and_post_op_days_0_to_180(self) -> None:
        found = list(Episode.objects.select_related("patient__patient_profile", "procedure", "surgeon"))
        assert len(found) == 40
        assert {episode.procedure_id for episode in found} == PROCEDURES
        days = [episode.post_op_day() for episode in found]
        assert all(0 <= day <= 180 for day in days)
        assert min(days) <= 20 and max(days) >= 150  # spread, not bunched
        for episode, day in zip(found, days, strict=True):
            assert validate_levels(episode.levels, episode.procedure.region) == []
            assert episode.status == (EpisodeStatus.COMPLETED if day > 150 else EpisodeStatus.RECOVERING)
            assert episode.surgeon.email == "surgeon@demo.mobilize.example"
            physios = {physio.email for physio in episode.physiotherapists.all()}
            assert physios and physios <= {"physio@demo.mobilize.example", "physio2@demo.mobilize.example"}
        zones = set(PatientProfile.objects.values_list("time_zone", flat=True))
        assert len(zones) >= 4
        assert set(PatientProfile.objects.values_list("preferred_language", flat=True)) == {"en", "es"}

    def test_main_patient_is_a_microdiscectomy_in_week_two_or_three_with_a_rich_history(self) -> None:
        episode = Episode.objects.get(patient__email="patient@demo.mobilize.example")
        assert episode.procedure_id == "lumbar_microdiscectomy"
        assert 10 <= episode.post_op_day() <= 20
        assert episode.surgeon.email == "surgeon@demo.mobilize.example"
        assert [p.email for p in episode.physiotherapists.all()] == ["physio@demo.mobilize.example"]
        checkins = CheckIn.objects.filter(episode=episode)
        assert checkins.filter(local_date__lt=episode.surgery_date).count() == 2
        assert checkins.count() >= episode.post_op_day()
        assert checkins.exclude(note="").count() >= 3

    # --- Values ---------------------------------------------------------------------------------

    def test_checkins_respect_ranges_and_are_never_in_the_future(self) -> None:
        now = timezone.now()

        checkins = list(CheckIn.objects.select_related("episode__patient__patient_profile"))
        assert len(checkins) > 40 * 30
        for checkin in checkins:
            episode = checkin.episode
            assert 0 <= checkin.axial_pain <= 10 and 0 <= checkin.limb_pain <= 10
            assert checkin.sleep_quality is None or 0 <= checkin.sleep_quality <= 10
            assert checkin.steps is None or 0 <= checkin.steps <= 100_000
            assert checkin.walking_minutes is None or 0 <= checkin.walking_minutes <= 1440
            assert set(checkin.red_flags) <= RED_FLAG_CODES
            assert checkin.recorded_at <= now
            assert (
                checkin.local_date
                == timezone.localtime(checkin.recorded_at, episode.patient_time_zone).date()
            )
            assert -7 <= (checkin.local_date - episode.surgery_date).days <= 150
            assert checkin.created_by_id == episode.patient_id
            assert checkin.created_at == checkin.recorded_at and checkin.deleted_at is None

    def test_some_patients_report_red_flags_in_their_latest_checkin(self) -> None:
        latest_flags: dict[str, set[str]] = defaultdict(set)
        for episode in Episode.objects.select_related("procedure"):
            latest = CheckIn.objects.filter(episode=episode).order_by("-recorded_at").first()
            if latest is not None:
                latest_flags[episode.procedure.region].update(latest.red_flags)
        flags = set().union(*latest_flags.values())
        assert {"fever", "wound_drainage", "saddle_numbness", "bladder_bowel_change"} <= flags
        assert {"saddle_numbness", "bladder_bowel_change"} <= latest_flags["lumbar"]
        assert CheckIn.objects.exclude(red_flags=[]).count() == 3

    def test_some_recovering_patients_have_not_checked_in_for_three_days(self) -> None:
        silent = 0
        recovering = Episode.objects.filter(status=EpisodeStatus.RECOVERING).select_related(
            "patient__patient_profile"
        )
        for episode in recovering:
            last = CheckIn.objects.filter(episode=episode).order_by("-local_date").first()
            if last is not None and (episode.local_today() - last.local_date).days > 3:
                silent += 1
        assert silent >= 3

    def test_on_track_pain_falls_on_average_between_week_one_and_month_three(self, demo: DemoPlan) -> None:
        on_track = {p.episode_id for p in demo.patients if p.scenario == Scenario.ON_TRACK}
        windows: dict[str, list[int]] = defaultdict(list)
        for checkin in CheckIn.objects.filter(episode_id__in=on_track).select_related("episode"):
            day = (checkin.local_date - checkin.episode.surgery_date).days
            total = checkin.axial_pain + checkin.limb_pain
            if 0 <= day <= 6:
                windows["week 1"].append(total)
            elif 83 <= day <= 97:
                windows["month 3"].append(total)

        assert len(windows["week 1"]) >= 20 and len(windows["month 3"]) >= 20
        assert mean(windows["month 3"]) < mean(windows["week 1"]) - 2

    def test_off_track_patients_hurt_more_and_walk_less_after_week_two(self, demo: DemoPlan) -> None:
        groups = {p.episode_id: p.scenario for p in demo.patients}
        pain: dict[Scenario, list[int]] = defaultdict(list)
        steps: dict[Scenario, list[int]] = defaultdict(list)
        for checkin in CheckIn.objects.filter(episode__procedure__region="lumbar").select_related("episode"):
            day = (checkin.local_date - checkin.episode.surgery_date).days
            if 28 <= day <= 90 and groups[checkin.episode_id] in (Scenario.ON_TRACK, Scenario.OFF_TRACK):
                pain[groups[checkin.episode_id]].append(checkin.limb_pain)
                if checkin.steps is not None:
                    steps[groups[checkin.episode_id]].append(checkin.steps)

        assert mean(pain[Scenario.OFF_TRACK]) > mean(pain[Scenario.ON_TRACK]) + 1
        assert mean(steps[Scenario.OFF_TRACK]) < mean(steps[Scenario.ON_TRACK])

    # --- Exercise plans ---------------------------------------------------------------------------

    def test_every_episode_has_a_plan_that_fits_its_region_and_phases(self) -> None:
        for episode in episodes():
            region = episode.procedure.region
            day = episode.post_op_day()
            assignments = list(
                Assignment.objects.filter(episode=episode).select_related("exercise", "prescribed_by")
            )
            by_phase: dict[str, list[Assignment]] = defaultdict(list)
            for assignment in assignments:
                exercise = assignment.exercise
                by_phase[exercise.phase].append(assignment)
                assert exercise.clinic_id is None and exercise.is_active  # the shipped library
                assert exercise.region in (region, BodyRegion.GENERAL), (episode.procedure_id, exercise.slug)
                assert assignment.start_day >= PHASE_START_DAY[exercise.phase]
                assert assignment.start_day <= max(day, PHASE_START_DAY[exercise.phase] + 1)
                # The exercise's default dose, no load, prescribed by the episode's physiotherapist.
                assert (
                    assignment.sets,
                    assignment.reps,
                    assignment.hold_seconds,
                    assignment.sessions_per_day,
                ) == (
                    exercise.default_sets,
                    exercise.default_reps,
                    exercise.default_hold_seconds,
                    exercise.default_sessions_per_day,
                )
                assert assignment.load_kg is None and assignment.ended_on is None
                assert assignment.prescribed_by.role == Role.PHYSIOTHERAPIST
                assert episode.physiotherapists.filter(pk=assignment.prescribed_by_id).exists()
                assert assignment.created_at <= timezone.now()
                if exercise.phase != Phase.LATE and exercise.slug != "walking":
                    following = [
                        first for _, first in _PHASE_OF_START if first > PHASE_START_DAY[exercise.phase]
                    ]
                    assert assignment.end_day == following[0] - 1
                if episode.status == EpisodeStatus.COMPLETED:
                    assert assignment.end_day is not None and assignment.end_day <= 150
            assert set(by_phase) == _phases_reached(day), (episode.procedure_id, day)
            for phase, items in by_phase.items():
                assert 2 <= len(items) <= 5, (episode.procedure_id, phase)
                assert any(a.exercise.region == region for a in items), (episode.procedure_id, phase)
            assert any(a.exercise.slug == "walking" and a.end_day in (None, 150) for a in assignments)

    def test_no_assignment_breaks_the_restriction_guard(self) -> None:
        for assignment in Assignment.objects.select_related("episode__procedure", "exercise"):
            assert (
                restriction_conflicts(
                    episode=assignment.episode,
                    exercise=assignment.exercise,
                    start_day=assignment.start_day,
                    load_kg=assignment.load_kg,
                )
                == {}
            ), (assignment.episode.procedure_id, assignment.exercise.slug, assignment.start_day)
        # The MIS-TLIF default forbids lumbar flexion and loaded lifting up to day 42: exercises loading
        # them start on day 43, and the early and intermediate ones that load them are left out.
        tlif = Assignment.objects.filter(episode__procedure_id="mis_tlif").select_related("exercise")
        restricted = [a for a in tlif if {"lumbar_flexion", "loaded_lifting"} & set(a.exercise.movement_tags)]
        assert restricted
        assert all(
            a.start_day == 43 and a.exercise.phase == Phase.LATE and "day 43" in a.notes for a in restricted
        )

    def test_restrictions_are_initialised_as_the_service_initialises_them(self) -> None:
        seen: set[str] = set()
        for episode in episodes():
            if episode.procedure_id in seen:
                continue
            seen.add(episode.procedure_id)

            def document(episode: Episode = episode) -> tuple[Any, ...]:
                row = EpisodeRestrictions.objects.get(episode=episode)
                movements = sorted(
                    MovementRestriction.objects.filter(episode=episode).values_list("tag", "until_day")
                )
                return (
                    row.lifting_limit_kg,
                    row.lifting_limit_until_day,
                    row.source,
                    row.updated_by_id,
                    movements,
                )

            seeded = document()
            MovementRestriction.objects.filter(episode=episode).delete()
            EpisodeRestrictions.objects.filter(episode=episode).delete()
            restrictions_ensure(episode=episode)
            assert document() == seeded, episode.procedure_id
        assert len(seen) == 6
        assert set(
            MovementRestriction.objects.filter(episode__procedure_id="mis_tlif").values_list(
                "tag", "until_day"
            )
        ) == {("lumbar_flexion", 42), ("loaded_lifting", 42)}

    # --- Exercise logs and adherence ----------------------------------------------------------------

    def test_exercise_logs_fall_on_active_days_in_the_patient_zone_and_never_in_the_future(self) -> None:
        now = timezone.now()

        logs = list(ExerciseLog.objects.select_related("assignment", "episode__patient__patient_profile"))
        assert len(logs) > 40 * 100
        kinds: Counter[str] = Counter()
        for log in logs:
            episode, assignment = log.episode, log.assignment
            assert assignment.episode_id == episode.pk and log.created_by_id == episode.patient_id
            assert log.performed_at <= now and log.created_at == log.performed_at
            assert log.local_date == timezone.localtime(log.performed_at, episode.patient_time_zone).date()
            assert (
                assignment_inactive_reason(assignment, day=log.local_date, surgery_date=episode.surgery_date)
                is None
            )
            assert (log.reps_completed is None) == (assignment.reps is None)
            assert (log.hold_seconds is None) == (assignment.hold_seconds is None)
            assert log.hold_seconds is None or log.hold_seconds <= 600
            assert log.pain_during is None or 0 <= log.pain_during <= 10
            assert 6 <= timezone.localtime(log.performed_at, episode.patient_time_zone).hour <= 22
            assert log.local_date <= episode.surgery_date + timedelta(days=150)
            kinds[
                "attempt"
                if log.sets_completed == 0
                else "partial"
                if log.sets_completed < assignment.sets
                else "full"
            ] += 1
            kinds.update({"note"} if log.note else set())
            kinds.update({log.difficulty or "no difficulty"})
            kinds.update({"no pain"} if log.pain_during is None else set())
        for kind in ("attempt", "partial", "full", "note", "easy", "ok", "hard", "no difficulty", "no pain"):
            assert kinds[kind] > 0, kind
        assert kinds["note"] < len(logs) * 0.1

    def test_adherence_is_mostly_good_poor_when_off_track_and_falls_for_a_few(self, demo: DemoPlan) -> None:
        found = {episode.pk: episode for episode in episodes()}
        steady: list[float] = []
        poor: list[float] = []
        declining: list[tuple[float, float]] = []
        for patient in demo.patients:
            episode = found[patient.episode_id]
            # Up to the last day the patient was active (not today, which is under way).
            last = episode.surgery_date + timedelta(days=min(patient.post_op_day - 1, 150))
            if patient.scenario in (Scenario.GAP, Scenario.RED_FLAG):
                last = max(c.local_date for c in patient.checkins)
            if (last - episode.surgery_date).days < 14:
                continue
            overall = _adherence(episode, episode.surgery_date, last)
            assert overall is not None
            if patient.adherence.profile == AdherenceProfile.STEADY:
                steady.append(overall)
            elif patient.adherence.profile == AdherenceProfile.POOR:
                poor.append(overall)
            else:
                early = _adherence(episode, episode.surgery_date, episode.surgery_date + timedelta(days=27))
                late = _adherence(episode, last - timedelta(days=27), last)
                assert early is not None and late is not None
                declining.append((early, late))

        assert len(poor) >= 4 and all(0.15 <= value <= 0.55 for value in poor), poor
        in_range = [value for value in steady if 0.65 <= value <= 0.97]
        assert len(steady) >= 20 and len(in_range) >= 0.8 * len(steady), steady
        assert mean(steady) > mean(poor) + 0.3
        assert len(declining) == 3 and all(late < early - 0.2 for early, late in declining), declining

    def test_pain_during_exercise_follows_the_patients_pain(self, demo: DemoPlan) -> None:
        groups = {p.episode_id: p.scenario for p in demo.patients}
        pain: dict[Scenario, list[int]] = defaultdict(list)
        early_late: dict[str, list[int]] = defaultdict(list)
        for log in ExerciseLog.objects.exclude(pain_during=None).select_related("episode"):
            day = (log.local_date - log.episode.surgery_date).days
            assert log.pain_during is not None
            if 28 <= day <= 90:
                pain[groups[log.episode_id]].append(log.pain_during)
            if groups[log.episode_id] == Scenario.ON_TRACK:
                early_late["week 1" if day <= 6 else "month 3" if 83 <= day <= 97 else "other"].append(
                    log.pain_during
                )

        assert mean(pain[Scenario.OFF_TRACK]) > mean(pain[Scenario.ON_TRACK]) + 1
        assert mean(early_late["month 3"]) < mean(early_late["week 1"]) - 1

    # --- Questionnaires -----------------------------------------------------------------------------

    def test_questionnaires_are_answered_only_in_windows_already_open_and_scored_as_the_api_scores(
        self,
    ) -> None:
        instruments = {row.region: row for row in Instrument.objects.filter(is_active=True)}
        schedule = schedule_for_clinic(clinic_id=Clinic.objects.get().pk)

        baselines = 0
        for response in QuestionnaireResponse.objects.select_related(
            "episode__procedure", "episode__patient__patient_profile"
        ):
            episode = response.episode
            instrument = instruments[episode.procedure.region]
            assert (response.instrument_id, response.instrument_version) == (
                instrument.code,
                instrument.version,
            )
            assert (
                response.local_date
                == timezone.localtime(response.submitted_at, episode.patient_time_zone).date()
            )
            assert (
                response.local_date < episode.local_today() and response.created_by_id == episode.patient_id
            )
            timepoint = timepoint_on(schedule, surgery_date=episode.surgery_date, day=response.local_date)
            assert timepoint is not None
            assert (timepoint.key, timepoint.label, timepoint.is_baseline) == (
                response.timepoint,
                response.timepoint_label,
                response.is_baseline,
            )
            definition = instrument.definition
            score = score_answers(definition, clean_answers(definition, response.answers))
            assert (score.raw, score.answered, score.missing, score.percent) == (
                response.raw_score,
                response.answered,
                response.missing,
                response.percent,
            )
            baselines += response.is_baseline
        assert baselines == Episode.objects.count()  # everyone answered before surgery
        assert {"odi", "ndi"} == set(QuestionnaireResponse.objects.values_list("instrument_id", flat=True))
        assert QuestionnaireResponse.objects.filter(missing=1).exists()

    def test_questionnaire_schedules_show_completed_due_missed_and_upcoming_timepoints(self) -> None:
        states: Counter[State] = Counter()
        for episode in episodes():
            overview = questionnaire_overview(episode=episode)
            day = episode.post_op_day()
            for status in overview.timepoints:
                states[status.state] += 1
                assert status.opens_day is not None
                if status.opens_day > day:
                    assert status.state == State.UPCOMING
        assert states[State.COMPLETED] >= 60
        assert 3 <= states[State.DUE] <= 20 and 3 <= states[State.MISSED] <= 20

    def test_questionnaire_scores_improve_from_the_cited_baselines_and_less_when_off_track(
        self, demo: DemoPlan
    ) -> None:
        groups = {p.episode_id: p.scenario for p in demo.patients}
        scores: dict[str, list[float]] = defaultdict(list)
        change: dict[Scenario, list[float]] = defaultdict(list)
        baselines = dict(
            QuestionnaireResponse.objects.filter(is_baseline=True).values_list("episode_id", "percent")
        )
        for episode_id, timepoint, percent, instrument in QuestionnaireResponse.objects.values_list(
            "episode_id", "timepoint", "percent", "instrument_id"
        ):
            scores[f"{instrument} {timepoint}"].append(float(percent))
            if timepoint != "baseline":
                change[groups[episode_id]].append(float(baselines[episode_id] - percent))

        # Lumbar baselines around the cited means (43.0-51.0), spread as NORspine's SD of 17.3.
        assert 35 <= mean(scores["odi baseline"]) <= 60
        assert mean(scores["odi month_3"]) < mean(scores["odi baseline"]) - 10
        assert mean(scores["ndi baseline"]) < mean(scores["odi baseline"])
        assert mean(change[Scenario.OFF_TRACK]) < mean(change[Scenario.ON_TRACK]) - 5

    # --- The demo through the API -------------------------------------------------------------------

    def test_the_demo_patient_and_physio_get_plan_adherence_and_questionnaires_from_the_api(self) -> None:
        patient = User.objects.get(email="patient@demo.mobilize.example")
        physio = User.objects.get(email="physio@demo.mobilize.example")
        episode = Episode.objects.select_related("patient__patient_profile").get(patient=patient)
        base = f"/api/v1/episodes/{episode.pk}"

        for user in (patient, physio):
            client = APIClient()
            raw, _ = token_issue(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
            today = client.get(f"{base}/plan/today/")
            adherence = client.get(f"{base}/adherence/")
            questionnaires = client.get(f"{base}/questionnaires/")

            assert (today.status_code, adherence.status_code, questionnaires.status_code) == (200, 200, 200)
            assert today.json()["date"] == episode.local_today().isoformat()
            assert len(today.json()["assignments"]) >= 3
            overall = adherence.json()["overall"]
            assert overall["prescribed"] > 50 and 0.5 <= overall["adherence"] <= 1
            states = {item["timepoint"]: item["state"] for item in questionnaires.json()["timepoints"]}
            assert states == {
                "baseline": "completed",
                "week_6": "upcoming",
                "month_3": "upcoming",
                "month_6": "upcoming",
                "month_12": "upcoming",
            }


# --- Anchors (pure) -------------------------------------------------------------------------


def test_every_anchor_names_its_source_in_the_clinical_reference() -> None:
    anchors = all_anchors()
    assert len(anchors) > 20
    for label, anchor in anchors:
        assert "REFERENCE.md §" in anchor.source, label
        assert anchor.timepoint, label
    assert set(TRAJECTORIES) == PROCEDURES


def test_curves_interpolate_linearly_between_cited_anchors() -> None:
    # Kim 2021 Table 3: VAS leg 7.05 pre-op, 2.75 at 1 mo (day 30) -> midpoint day 15 = 4.90.
    assert KIM_2021 in DISCECTOMY.limb.points[1][1].source
    assert DISCECTOMY.limb.at(-3) == pytest.approx(7.05)
    assert DISCECTOMY.limb.at(15) == pytest.approx((7.05 + 2.75) / 2)
    assert DISCECTOMY.limb.at(30) == pytest.approx(2.75)
    # IJSS 2021 Table 3: VAS back 2.7 at 6 wk (day 42), 1.7 at 12 wk (day 84) -> day 63 = 2.2.
    assert MIS_DECOMPRESSION.axial.at(63) == pytest.approx((2.7 + 1.7) / 2)
    # Auffinger 2013 1-yr VAS 1.72 holds after its last anchor (day 365).
    assert ACDF.limb.at(400) == pytest.approx(1.72)
    # Stienen 2020: -71% in week 1, -37% in week 2, -23% in week 4, pre-op level before surgery.
    assert STIENEN_2020 in STEP_RATIO.points[0][1].source
    assert STEP_RATIO.at(-1) == 1.0
    assert [STEP_RATIO.at(day) for day in (3, 10, 24)] == pytest.approx([0.29, 0.63, 0.77])


def test_questionnaire_curves_follow_the_cited_baselines_and_changes() -> None:
    # SPORT Table III: ODI 51.0 at baseline, -31.9 at 3 mo (day 90), -36.3 at 1 yr (day 365).
    assert SPORT_DISCECTOMY in ODI_DISCECTOMY.curve.points[1][1].source
    assert [ODI_DISCECTOMY.curve.at(day) for day in (-10, 90, 365)] == pytest.approx([51.0, 19.1, 14.7])
    assert ODI_DISCECTOMY.relative_improvement(90) == pytest.approx(31.9 / 51.0)
    # Auffinger: NDI 29.24 -> 14.82 at 1 yr; 6 weeks lands near the outpatient ACDF mean of 27.97.
    assert NDI_ACDF.curve.at(42) == pytest.approx(29.24 - (29.24 - 14.82) * 42 / 365)
    assert abs(NDI_ACDF.curve.at(42) - 27.97) < 0.5
    assert "0-100" in NDI_ACDF.curve.preop.source
    instruments = {code: DISABILITY[code].instrument for code in PROCEDURES}
    assert instruments == {code: "ndi" if code == "acdf" else "odi" for code in PROCEDURES}
