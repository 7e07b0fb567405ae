"""Today's plan: the exercises due on the patient's local day, with what was logged so far."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.rehab.models import Assignment, ExerciseLog
from recovery.rehab.vocabulary import BodyRegion, Phase
from tests.conftest import World, client_for
from tests.factories import AssignmentFactory, ExerciseFactory

MADRID = ZoneInfo("Europe/Madrid")
# Wednesday 6 May 2026, 14:00 in Madrid; surgery on Monday 20 April: today is post-op day 16.
NOW = datetime(2026, 5, 6, 14, 0, tzinfo=MADRID)
SURGERY = date(2026, 4, 20)


@pytest.fixture
def clock(world: World) -> Iterator[None]:
    world.episode.surgery_date = SURGERY
    world.episode.save()
    with time_machine.travel(NOW, tick=False):
        yield


def url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/plan/today/"


def log(world: World, assignment: Assignment, performed_at: datetime, sets: int = 3) -> ExerciseLog:
    tz = world.episode.patient_time_zone
    return ExerciseLog.objects.create(
        episode=world.episode,
        assignment=assignment,
        performed_at=performed_at,
        local_date=timezone.localtime(performed_at, tz).date(),
        sets_completed=sets,
        reps_completed=assignment.reps and 10,
        hold_seconds=assignment.hold_seconds,
        created_by=world.patient,
    )


def set_zone(world: World, name: str) -> None:
    profile = world.patient.patient_profile
    profile.time_zone = name
    profile.save()


def test_plan_lists_what_is_due_today_with_todays_logs(world: World, clock: None) -> None:
    walk = AssignmentFactory.create(
        episode=world.episode,
        exercise=ExerciseFactory.create(
            name="Heel slides",
            instructions=["Lie on your back.", "Slide one heel towards you."],
            media_url="https://media.example/heel-slides.mp4",
            region=BodyRegion.LUMBAR,
            phase=Phase.INTERMEDIATE,
        ),
        sets=3,
        reps=10,
        load_kg=Decimal("2.5"),
        sessions_per_day=2,
        notes="Slow and steady.",
    )
    plank = AssignmentFactory.create(
        episode=world.episode, reps=None, hold_seconds=20, days_of_week=["mon", "wed", "fri"], start_day=1
    )
    AssignmentFactory.create(episode=world.episode, days_of_week=["tue", "thu"])
    AssignmentFactory.create(episode=world.episode, ended_on=date(2026, 5, 6))
    AssignmentFactory.create(episode=world.episode, start_day=17)
    AssignmentFactory.create(episode=world.episode, end_day=15)
    AssignmentFactory.create(episode=world.other_episode)
    morning = log(world, walk, datetime(2026, 5, 6, 8, 0, tzinfo=MADRID))
    attempt = log(world, walk, datetime(2026, 5, 6, 9, 0, tzinfo=MADRID), sets=0)
    log(world, walk, datetime(2026, 5, 5, 23, 30, tzinfo=MADRID))  # yesterday, locally
    log(world, plank, datetime(2026, 5, 6, 7, 0, tzinfo=MADRID))
    log(world, plank, datetime(2026, 5, 6, 12, 0, tzinfo=MADRID))

    response = client_for(world.patient).get(url(world))

    assert response.status_code == 200
    data = response.json()
    assert (data["date"], data["post_op_day"], data["time_zone"]) == ("2026-05-06", 16, "Europe/Madrid")
    assert [item["assignment"] for item in data["assignments"]] == [str(walk.id), str(plank.id)]
    first, second = data["assignments"]
    assert first == {
        "assignment": str(walk.id),
        "exercise": {
            "id": str(walk.exercise_id),
            "name": "Heel slides",
            "instructions": ["Lie on your back.", "Slide one heel towards you."],
            "media_url": "https://media.example/heel-slides.mp4",
            "region": "lumbar",
            "phase": "intermediate",
        },
        "dose": {"sets": 3, "reps": 10, "hold_seconds": None, "load_kg": 2.5},
        "notes": "Slow and steady.",
        "sessions_per_day": 2,
        # The 0-set log is an attempt: it is listed but is not a session done.
        "sessions_logged": 1,
        "remaining": 1,
        "done": False,
        "logs": [
            {
                "id": str(morning.id),
                "performed_at": "2026-05-06T06:00:00Z",
                "sets_completed": 3,
                "reps_completed": 10,
                "hold_seconds": None,
                "pain_during": None,
                "difficulty": None,
            },
            {
                "id": str(attempt.id),
                "performed_at": "2026-05-06T07:00:00Z",
                "sets_completed": 0,
                "reps_completed": 10,
                "hold_seconds": None,
                "pain_during": None,
                "difficulty": None,
            },
        ],
    }
    assert second["dose"] == {"sets": 2, "reps": None, "hold_seconds": 20, "load_kg": None}
    assert (second["sessions_logged"], second["remaining"], second["done"]) == (2, 0, True)


def test_plan_follows_a_log_made_through_the_api(world: World, clock: None) -> None:
    walk = AssignmentFactory.create(episode=world.episode, sessions_per_day=1)
    client = client_for(world.patient)
    assert client.get(url(world)).json()["assignments"][0]["done"] is False
    posted = client.post(
        f"/api/v1/episodes/{world.episode.id}/exercise-logs/",
        {"assignment": str(walk.id), "sets_completed": 2, "reps_completed": 10, "difficulty": "easy"},
        format="json",
    )
    assert posted.status_code == 201
    item = client.get(url(world)).json()["assignments"][0]
    assert (item["sessions_logged"], item["remaining"], item["done"]) == (1, 0, True)
    assert item["logs"][0]["id"] == posted.json()["id"]
    assert item["logs"][0]["difficulty"] == "easy"


@pytest.mark.parametrize(
    ("zone", "utc_moment", "expected_day"),
    [
        # 02:00 UTC on 7 May is still the evening of 6 May in New York (UTC-4 in May).
        ("America/New_York", datetime(2026, 5, 7, 2, 0, tzinfo=ZoneInfo("UTC")), "2026-05-06"),
        ("Europe/Madrid", datetime(2026, 5, 7, 2, 0, tzinfo=ZoneInfo("UTC")), "2026-05-07"),
        # 13:00 UTC on 6 May is already 01:00 on 7 May in Auckland (UTC+12 in May).
        ("Pacific/Auckland", datetime(2026, 5, 6, 13, 0, tzinfo=ZoneInfo("UTC")), "2026-05-07"),
    ],
)
def test_today_is_the_patients_local_day(
    world: World, zone: str, utc_moment: datetime, expected_day: str
) -> None:
    world.episode.surgery_date = SURGERY
    world.episode.save()
    set_zone(world, zone)
    # Due only on Wednesdays (6 May): it shows only where the patient's day is still Wednesday.
    wednesdays = AssignmentFactory.create(episode=world.episode, days_of_week=["wed"])
    with time_machine.travel(utc_moment, tick=False):
        data = client_for(world.physio).get(url(world)).json()
    assert data["date"] == expected_day and data["time_zone"] == zone
    assert data["post_op_day"] == (date.fromisoformat(expected_day) - SURGERY).days
    expected = [str(wednesdays.id)] if expected_day == "2026-05-06" else []
    assert [item["assignment"] for item in data["assignments"]] == expected


def test_plan_for_another_local_day(world: World, clock: None) -> None:
    tuesdays = AssignmentFactory.create(episode=world.episode, days_of_week=["tue"])
    AssignmentFactory.create(episode=world.episode, days_of_week=["wed"])
    log(world, tuesdays, datetime(2026, 5, 5, 23, 30, tzinfo=MADRID))
    data = client_for(world.surgeon).get(url(world), {"date": "2026-05-05"}).json()
    assert (data["date"], data["post_op_day"]) == ("2026-05-05", 15)
    assert [item["assignment"] for item in data["assignments"]] == [str(tuesdays.id)]
    assert data["assignments"][0]["sessions_logged"] == 1


def test_plan_with_nothing_prescribed_is_empty(world: World, clock: None) -> None:
    data = client_for(world.patient).get(url(world)).json()
    assert data == {"date": "2026-05-06", "post_op_day": 16, "time_zone": "Europe/Madrid", "assignments": []}


@pytest.mark.parametrize("raw", ["2026-02-30", "tomorrow", "06/05/2026", "2026-5-6x"])
def test_bad_date_is_400_naming_date(world: World, clock: None, raw: str) -> None:
    response = client_for(world.patient).get(url(world), {"date": raw})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"date"}


def test_plan_query_count_does_not_grow_with_assignments(world: World, clock: None) -> None:
    client = client_for(world.patient)
    first = AssignmentFactory.create(episode=world.episode)
    log(world, first, NOW - timedelta(hours=1))
    client.get(url(world))  # the first use of a token records last_used_at
    with CaptureQueriesContext(connection) as few:
        client.get(url(world))
    for _ in range(12):
        more = AssignmentFactory.create(episode=world.episode, exercise=ExerciseFactory.create())
        log(world, more, NOW - timedelta(hours=2))
        log(world, more, NOW - timedelta(hours=3))
    with CaptureQueriesContext(connection) as many:
        response = client.get(url(world))
    assert len(response.json()["assignments"]) == 13
    assert len(many) == len(few)


def test_response_matches_the_documented_plan_fields(world: World, clock: None) -> None:
    from api.exercise_logs import PlanAssignmentSerializer, PlanDaySerializer, PlanLogSerializer

    walk = AssignmentFactory.create(episode=world.episode)
    log(world, walk, NOW - timedelta(hours=1))
    data = client_for(world.patient).get(url(world)).json()
    assert set(data) == set(PlanDaySerializer().fields)
    item = data["assignments"][0]
    assert set(item) == set(PlanAssignmentSerializer().fields)
    assert set(item["logs"][0]) == set(PlanLogSerializer().fields)
