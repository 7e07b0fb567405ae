"""Exercise logs: recording, replays, validation against the prescription, and listing."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.rehab.models import Assignment, ExerciseLog
from tests.conftest import World, client_for
from tests.factories import AssignmentFactory

MADRID = ZoneInfo("Europe/Madrid")
# Wednesday 6 May 2026, 14:00 in Madrid (UTC+2); surgery on Monday 20 April, so today is post-op day 16.
NOW = datetime(2026, 5, 6, 14, 0, tzinfo=MADRID)
SURGERY = date(2026, 4, 20)


@pytest.fixture
def clock(world: World) -> Iterator[None]:
    world.episode.surgery_date = SURGERY
    world.episode.save()
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def assignment(world: World, clock: None) -> Assignment:
    return AssignmentFactory.create(episode=world.episode, sets=3, reps=10, sessions_per_day=2)


def url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/exercise-logs/"


def body(assignment: Assignment, **overrides: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "assignment": str(assignment.id),
        "sets_completed": 3,
        "reps_completed": 10,
        **overrides,
    }


def test_patient_logs_a_full_session(world: World, assignment: Assignment) -> None:
    payload = body(
        assignment,
        performed_at="2026-05-06T07:15:00-04:00",
        sets_completed=2,
        reps_completed=8,
        pain_during=3,
        difficulty="hard",
        note="Stiff in the morning.",
    )
    response = client_for(world.patient).post(url(world), payload, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["id"] == payload["id"]
    assert data["performed_at"] == "2026-05-06T11:15:00Z"
    assert data["local_date"] == "2026-05-06"
    assert (data["assignment"], data["exercise"]) == (str(assignment.id), str(assignment.exercise_id))
    assert data["exercise_name"] == assignment.exercise.name
    assert (data["sets_completed"], data["reps_completed"], data["hold_seconds"]) == (2, 8, None)
    assert (data["pain_during"], data["difficulty"], data["note"]) == (3, "hard", "Stiff in the morning.")
    stored = ExerciseLog.objects.get(pk=payload["id"])
    assert stored.episode == world.episode and stored.created_by == world.patient
    assert stored.local_date == date(2026, 5, 6)


def test_performed_at_defaults_to_now_and_optional_fields_to_empty(
    world: World, assignment: Assignment
) -> None:
    response = client_for(world.patient).post(
        url(world),
        {"assignment": str(assignment.id), "sets_completed": 1, "reps_completed": 5},
        format="json",
    )
    assert response.status_code == 201
    data = response.json()
    assert datetime.fromisoformat(data["performed_at"]) == NOW
    assert (data["pain_during"], data["difficulty"], data["note"]) == (None, None, "")


def test_patient_local_day_decides_whether_the_exercise_is_due(world: World, clock: None) -> None:
    mondays = AssignmentFactory.create(episode=world.episode, days_of_week=["mon"])
    client = client_for(world.patient)
    # 23:30 on Sunday 3 May in Madrid is 21:30 UTC: still Sunday for the patient.
    sunday_night = client.post(url(world), body(mondays, performed_at="2026-05-03T21:30:00Z"), format="json")
    assert sunday_night.status_code == 400
    assert "2026-05-03" in sunday_night.json()["errors"]["assignment"][0]
    # 00:30 on Monday in Madrid is 22:30 UTC on Sunday: Monday for the patient.
    monday = client.post(url(world), body(mondays, performed_at="2026-05-03T22:30:00Z"), format="json")
    assert monday.status_code == 201, monday.json()
    assert monday.json()["local_date"] == "2026-05-04"


def test_replay_with_same_content_returns_200_and_creates_nothing(
    world: World, assignment: Assignment
) -> None:
    client = client_for(world.patient)
    payload = body(assignment, pain_during=2, difficulty="ok", note="fine")
    first = client.post(url(world), payload, format="json")
    second = client.post(url(world), payload, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert ExerciseLog.objects.filter(pk=payload["id"]).count() == 1


def test_replay_without_performed_at_still_matches(world: World, assignment: Assignment) -> None:
    client = client_for(world.patient)
    payload = body(assignment)
    client.post(url(world), payload, format="json")
    with time_machine.travel(NOW + timedelta(minutes=3), tick=False):
        again = client.post(url(world), payload, format="json")
    assert again.status_code == 200
    assert ExerciseLog.objects.count() == 1


def test_replay_spelling_out_the_defaults_matches(world: World, assignment: Assignment) -> None:
    client = client_for(world.patient)
    payload = body(assignment)
    client.post(url(world), payload, format="json")
    spelled = {**payload, "pain_during": None, "difficulty": None, "note": "", "hold_seconds": None}
    assert client.post(url(world), spelled, format="json").status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"sets_completed": 1},
        {"reps_completed": 9},
        {"pain_during": 4},
        {"difficulty": "easy"},
        {"note": "different"},
        {"performed_at": "2026-05-06T09:00:00+02:00"},
    ],
)
def test_same_id_with_different_content_is_409(
    world: World, assignment: Assignment, change: dict[str, Any]
) -> None:
    client = client_for(world.patient)
    payload = body(assignment, performed_at="2026-05-06T08:00:00+02:00")
    client.post(url(world), payload, format="json")
    response = client.post(url(world), {**payload, **change}, format="json")
    assert response.status_code == 409
    assert "id" in response.json()["errors"]
    stored = ExerciseLog.objects.get(pk=payload["id"])
    assert (stored.sets_completed, stored.reps_completed, stored.note) == (3, 10, "")


def test_same_id_for_another_assignment_is_409(world: World, assignment: Assignment) -> None:
    other = AssignmentFactory.create(episode=world.episode)
    client = client_for(world.patient)
    payload = body(assignment)
    client.post(url(world), payload, format="json")
    response = client.post(url(world), {**payload, "assignment": str(other.id)}, format="json")
    assert response.status_code == 409


def test_same_id_on_another_episode_is_409_and_touches_nothing(world: World, assignment: Assignment) -> None:
    foreign_assignment = AssignmentFactory.create(episode=world.other_episode)
    foreign = ExerciseLog.objects.create(
        episode=world.other_episode,
        assignment=foreign_assignment,
        performed_at=NOW,
        local_date=NOW.date(),
        sets_completed=1,
        reps_completed=10,
        created_by=world.other_patient,
    )
    response = client_for(world.patient).post(url(world), body(assignment, id=str(foreign.id)), format="json")
    assert response.status_code == 409
    assert ExerciseLog.objects.get(pk=foreign.id).episode == world.other_episode
    assert ExerciseLog.objects.count() == 1


def test_replay_is_answered_from_the_stored_log_after_the_assignment_ended(
    world: World, assignment: Assignment
) -> None:
    client = client_for(world.patient)
    payload = body(assignment)
    first = client.post(url(world), payload, format="json")
    Assignment.objects.filter(pk=assignment.pk).update(ended_on=NOW.date())
    # A phone that never saw the first answer retries: the log is stored, so it is told so.
    replay = client.post(url(world), payload, format="json")
    assert replay.status_code == 200 and replay.json() == first.json()
    # New content under the same id is still a conflict, and a new id is refused as not due.
    assert client.post(url(world), {**payload, "sets_completed": 1}, format="json").status_code == 409
    fresh = client.post(url(world), body(assignment), format="json")
    assert fresh.status_code == 400 and "ended on 2026-05-06" in fresh.json()["errors"]["assignment"][0]


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_posts_store_one_log(world: World) -> None:
    world.episode.surgery_date = SURGERY
    world.episode.save()
    assignment = AssignmentFactory.create(episode=world.episode)
    payload = body(assignment, performed_at="2026-05-06T09:00:00+02:00")
    statuses: list[int] = []

    def post() -> None:
        statuses.append(client_for(world.patient).post(url(world), payload, format="json").status_code)
        connection.close()

    with time_machine.travel(NOW, tick=False):
        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    assert ExerciseLog.objects.filter(pk=payload["id"]).count() == 1


BAD_INPUT = [
    ({"sets_completed": 21}, "sets_completed"),
    ({"sets_completed": -1}, "sets_completed"),
    ({"sets_completed": 2.5}, "sets_completed"),
    ({"sets_completed": "2"}, "sets_completed"),
    ({"sets_completed": True}, "sets_completed"),
    ({"sets_completed": None}, "sets_completed"),
    ({"reps_completed": 201}, "reps_completed"),
    ({"reps_completed": -1}, "reps_completed"),
    ({"reps_completed": "10"}, "reps_completed"),
    ({"hold_seconds": 601}, "hold_seconds"),
    ({"hold_seconds": 30}, "hold_seconds"),  # the assignment counts repetitions, not a hold
    ({"reps_completed": None}, "reps_completed"),  # ... so the repetitions are required
    ({"pain_during": 11}, "pain_during"),
    ({"pain_during": -1}, "pain_during"),
    ({"pain_during": 3.0}, "pain_during"),
    ({"difficulty": "brutal"}, "difficulty"),
    ({"difficulty": 1}, "difficulty"),
    ({"difficulty": ""}, "difficulty"),
    ({"note": "x" * 2001}, "note"),
    ({"note": 5}, "note"),
    ({"performed_at": "this morning"}, "performed_at"),
    ({"performed_at": "2026-05-06T09:00:00"}, "performed_at"),
    ({"performed_at": 1778050800}, "performed_at"),
    ({"performed_at": "2026-05-06T12:06:00Z"}, "performed_at"),  # 6 minutes ahead
    ({"performed_at": "2026-03-20T12:00:00+01:00"}, "performed_at"),  # 31 days before surgery
    ({"assignment": "not-a-uuid"}, "assignment"),
    ({"assignment": 7}, "assignment"),
    ({"assignment": None}, "assignment"),
    ({"assignment": str(uuid.uuid4())}, "assignment"),
    ({"id": "not-a-uuid"}, "id"),
    ({"id": 12}, "id"),
    ({"episode": "x"}, "episode"),
    ({"sets": 3}, "sets"),
]


@pytest.mark.parametrize(("override", "field"), BAD_INPUT)
def test_bad_input_is_400_naming_the_field_and_saves_nothing(
    world: World, assignment: Assignment, override: dict[str, Any], field: str
) -> None:
    response = client_for(world.patient).post(url(world), {**body(assignment), **override}, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert field in errors and all(isinstance(m, str) and m for m in errors[field])
    assert not ExerciseLog.objects.exists()


def test_missing_required_fields_are_named(world: World, assignment: Assignment) -> None:
    response = client_for(world.patient).post(url(world), {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"assignment", "sets_completed"}


@pytest.mark.parametrize("raw", ["{bad json", "[1, 2]", '"text"', "null"])
def test_malformed_or_non_object_json_is_400(world: World, assignment: Assignment, raw: str) -> None:
    response = client_for(world.patient).post(url(world), raw, content_type="application/json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()["errors"]
    assert not ExerciseLog.objects.exists()


def test_performed_at_limits_follow_the_check_in_rules(world: World, assignment: Assignment) -> None:
    prehab = AssignmentFactory.create(episode=world.episode, start_day=-30)
    client = client_for(world.patient)
    soon = (NOW + timedelta(minutes=4)).isoformat()
    earliest = datetime.combine(SURGERY - timedelta(days=30), datetime.min.time(), tzinfo=MADRID)
    assert client.post(url(world), body(assignment, performed_at=soon), format="json").status_code == 201
    ok = client.post(url(world), body(prehab, performed_at=earliest.isoformat()), format="json")
    assert ok.status_code == 201, ok.json()
    too_early = (earliest - timedelta(seconds=1)).isoformat()
    response = client.post(url(world), body(prehab, performed_at=too_early), format="json")
    assert response.status_code == 400
    assert "earliest 2026-03-21" in response.json()["errors"]["performed_at"][0]


def test_assignment_of_another_episode_is_400_naming_assignment(world: World, clock: None) -> None:
    foreign = AssignmentFactory.create(episode=world.other_episode)
    response = client_for(world.patient).post(url(world), body(foreign), format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"assignment"}
    assert not ExerciseLog.objects.exists()


@pytest.mark.parametrize(
    ("schedule", "performed_at", "reason"),
    [
        # Sunday 3 May is post-op day 13.
        (
            {"start_day": 14},
            "2026-05-03T12:00:00+02:00",
            "not prescribed on 2026-05-03: it starts on post-op day 14 (2026-05-04)",
        ),
        (
            {"start_day": 0, "end_day": 12},
            "2026-05-03T12:00:00+02:00",
            "not prescribed on 2026-05-03: its last day was post-op day 12 (2026-05-02)",
        ),
        (
            {"days_of_week": ["mon", "wed", "fri"]},
            "2026-05-03T12:00:00+02:00",
            "not prescribed on 2026-05-03 (a Sunday); its days are: mon, wed, fri",
        ),
        ({"ended_on": date(2026, 5, 3)}, "2026-05-03T12:00:00+02:00", "ended on 2026-05-03"),
        ({"ended_on": date(2026, 5, 1)}, "2026-05-03T12:00:00+02:00", "ended on 2026-05-01"),
    ],
)
def test_assignment_not_due_that_day_is_400_with_the_reason(
    world: World, clock: None, schedule: dict[str, Any], performed_at: str, reason: str
) -> None:
    assignment = AssignmentFactory.create(episode=world.episode, **schedule)
    response = client_for(world.patient).post(
        url(world), body(assignment, performed_at=performed_at), format="json"
    )
    assert response.status_code == 400
    messages = response.json()["errors"]["assignment"]
    assert reason in messages[0], messages
    assert not ExerciseLog.objects.exists()


@pytest.mark.parametrize(
    ("schedule", "performed_at"),
    [
        ({"start_day": 13}, "2026-05-03T12:00:00+02:00"),  # first day
        ({"start_day": 0, "end_day": 13}, "2026-05-03T12:00:00+02:00"),  # last day
        ({"days_of_week": ["sun"]}, "2026-05-03T12:00:00+02:00"),
        ({"ended_on": date(2026, 5, 4)}, "2026-05-03T23:59:00+02:00"),  # the day before it ended
    ],
)
def test_assignment_due_that_day_is_accepted_at_the_edges(
    world: World, clock: None, schedule: dict[str, Any], performed_at: str
) -> None:
    assignment = AssignmentFactory.create(episode=world.episode, **schedule)
    response = client_for(world.patient).post(
        url(world), body(assignment, performed_at=performed_at), format="json"
    )
    assert response.status_code == 201, response.json()


def test_hold_exercise_requires_hold_seconds_and_refuses_reps(world: World, clock: None) -> None:
    plank = AssignmentFactory.create(episode=world.episode, reps=None, hold_seconds=20)
    client = client_for(world.patient)
    base = {"assignment": str(plank.id), "sets_completed": 3}
    missing = client.post(url(world), base, format="json")
    assert missing.status_code == 400 and set(missing.json()["errors"]) == {"hold_seconds"}
    wrong = client.post(url(world), {**base, "reps_completed": 10, "hold_seconds": 20}, format="json")
    assert wrong.status_code == 400 and set(wrong.json()["errors"]) == {"reps_completed"}
    ok = client.post(url(world), {**base, "hold_seconds": 25}, format="json")
    assert ok.status_code == 201 and ok.json()["hold_seconds"] == 25
    assert ExerciseLog.objects.count() == 1


def test_exercise_dosed_in_reps_and_hold_requires_both(world: World, clock: None) -> None:
    bridge = AssignmentFactory.create(episode=world.episode, reps=8, hold_seconds=5)
    client = client_for(world.patient)
    base = {"assignment": str(bridge.id), "sets_completed": 2}
    response = client.post(url(world), base, format="json")
    assert set(response.json()["errors"]) == {"reps_completed", "hold_seconds"}
    ok = client.post(url(world), {**base, "reps_completed": 8, "hold_seconds": 5}, format="json")
    assert ok.status_code == 201


def test_zero_sets_and_zero_reps_are_an_accepted_attempt(world: World, assignment: Assignment) -> None:
    response = client_for(world.patient).post(
        url(world), body(assignment, sets_completed=0, reps_completed=0, pain_during=8), format="json"
    )
    assert response.status_code == 201


# --- Listing -------------------------------------------------------------------------------------


def _log(world: World, assignment: Assignment, performed_at: datetime) -> ExerciseLog:
    return ExerciseLog.objects.create(
        episode=world.episode,
        assignment=assignment,
        performed_at=performed_at,
        local_date=timezone.localtime(performed_at, MADRID).date(),
        sets_completed=2,
        reps_completed=10,
        created_by=world.patient,
    )


def test_care_team_lists_logs_newest_first_filtered_by_local_day_and_assignment(
    world: World, assignment: Assignment
) -> None:
    other = AssignmentFactory.create(episode=world.episode)
    base = datetime(2026, 5, 1, tzinfo=MADRID)
    for day in range(4):
        _log(world, assignment, base + timedelta(days=day, hours=8))
        _log(world, other, base + timedelta(days=day, hours=23, minutes=30))
    client = client_for(world.physio)
    everything = client.get(url(world)).json()
    assert everything["count"] == 8
    performed = [row["performed_at"] for row in everything["results"]]
    assert performed == sorted(performed, reverse=True)
    # 23:30 in Madrid is 21:30 UTC: the local day, not the UTC day, decides.
    window = client.get(url(world), {"from": "2026-05-02", "to": "2026-05-03"}).json()
    assert window["count"] == 4
    assert {row["local_date"] for row in window["results"]} == {"2026-05-02", "2026-05-03"}
    only = client.get(url(world), {"assignment": str(other.id), "to": "2026-05-01"}).json()
    assert only["count"] == 1 and only["results"][0]["assignment"] == str(other.id)
    page = client.get(url(world), {"page_size": 3}).json()
    assert len(page["results"]) == 3 and page["next"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "soon"}, "to"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
        ({"assignment": "nope"}, "assignment"),
        ({"assignment": str(uuid.UUID(int=1))}, "assignment"),
        ({"page": "0"}, "page"),
        ({"page": "99"}, "page"),
        ({"page_size": "x"}, "page_size"),
    ],
)
def test_bad_list_parameters_are_400(
    world: World, assignment: Assignment, params: dict[str, str], field: str
) -> None:
    response = client_for(world.patient).get(url(world), params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_list_rejects_an_assignment_of_another_episode(world: World, assignment: Assignment) -> None:
    foreign = AssignmentFactory.create(episode=world.other_episode)
    response = client_for(world.patient).get(url(world), {"assignment": str(foreign.id)})
    assert response.status_code == 400 and "assignment" in response.json()["errors"]


def test_list_never_shows_another_episodes_logs(world: World, assignment: Assignment) -> None:
    foreign = AssignmentFactory.create(episode=world.other_episode)
    ExerciseLog.objects.create(
        episode=world.other_episode,
        assignment=foreign,
        performed_at=NOW,
        local_date=NOW.date(),
        sets_completed=1,
        reps_completed=10,
        created_by=world.other_patient,
    )
    assert client_for(world.patient).get(url(world)).json()["count"] == 0


def test_list_query_count_does_not_grow_with_rows(world: World, assignment: Assignment) -> None:
    client = client_for(world.surgeon)
    _log(world, assignment, NOW - timedelta(hours=1))
    client.get(url(world))  # the first use of a token records last_used_at
    with CaptureQueriesContext(connection) as few:
        client.get(url(world))
    for hours in range(2, 22):
        _log(world, AssignmentFactory.create(episode=world.episode), NOW - timedelta(hours=hours))
    with CaptureQueriesContext(connection) as many:
        response = client.get(url(world))
    assert response.json()["count"] == 21
    assert len(many) == len(few)


def test_post_query_count_is_small_and_fixed(world: World, assignment: Assignment) -> None:
    client = client_for(world.patient)
    client.post(url(world), body(assignment), format="json")  # warm the token
    with CaptureQueriesContext(connection) as queries:
        assert client.post(url(world), body(assignment), format="json").status_code == 201
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    # The token, the episode (with the patient's zone), the assignment, the insert.
    assert len(statements) == 4, statements


def test_response_matches_the_documented_log_fields(world: World, assignment: Assignment) -> None:
    from api.exercise_logs import ExerciseLogSerializer

    response = client_for(world.patient).post(url(world), body(assignment), format="json")
    assert set(response.json()) == set(ExerciseLogSerializer().fields)
    listed = client_for(world.physio).get(url(world)).json()["results"][0]
    assert listed == response.json()


def test_logs_cannot_be_changed_or_deleted(world: World, assignment: Assignment) -> None:
    client = client_for(world.patient)
    created = client.post(url(world), body(assignment), format="json").json()
    # The base view refuses a method it has no action for before routing to a handler.
    assert client.patch(url(world), {"note": "x"}, format="json").status_code == 403
    assert client.delete(f"{url(world)}{created['id']}/").status_code == 404
    assert ExerciseLog.objects.filter(pk=created["id"]).exists()


def test_schema_documents_the_rehab_endpoints(world: World) -> None:
    schema = client_for(None).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/episodes/{episode_id}/exercise-logs/"])
    assert "get" in paths["/api/v1/episodes/{episode_id}/plan/today/"]
    assert "get" in paths["/api/v1/episodes/{episode_id}/adherence/"]
    components = schema["components"]["schemas"]
    assert {"id", "assignment", "performed_at", "sets_completed", "reps_completed", "hold_seconds"} <= set(
        components["ExerciseLogInputRequest"]["properties"]
    )
    assert list(components["Adherence"]["properties"])[:2] == ["from", "to"]
