"""Prescription: assignments and their history, the restriction guard, restrictions and clinic defaults.

The clock is frozen at 2026-11-21 12:00 UTC; the world's episode (a lumbar microdiscectomy, patient
in Madrid) had surgery on 2026-11-11, so today is post-op day 10.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from recovery.episodes.models import Procedure
from recovery.rehab.defaults import SHIPPED_DEFAULTS, pounds_to_kg
from recovery.rehab.models import (
    Assignment,
    AssignmentRevision,
    EpisodeRestrictions,
    Exercise,
    RestrictionDefault,
    RestrictionOverride,
)
from recovery.rehab.selectors import active_q, assignment_is_active
from tests.conftest import World, client_for
from tests.factories import AssignmentFactory, EpisodeFactory, ExerciseFactory, load_shipped_rehab

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
SURGERY = date(2026, 11, 11)


@pytest.fixture(autouse=True)
def clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rehab(world: World) -> World:
    """The world with today at post-op day 10 and the shipped library and defaults loaded."""
    load_shipped_rehab()
    world.episode.surgery_date = SURGERY
    world.episode.save()
    return world


@pytest.fixture
def toe_touch() -> Exercise:
    return ExerciseFactory.create(name="Toe touches", movement_tags=["lumbar_flexion"], default_reps=8)


@pytest.fixture
def plain() -> Exercise:
    return ExerciseFactory.create(
        name="Heel raises", default_sets=2, default_reps=10, default_sessions_per_day=3, movement_tags=[]
    )


def url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/assignments/"


def detail(world: World, assignment: Any) -> str:
    return f"{url(world)}{assignment.id if hasattr(assignment, 'id') else assignment}/"


def restrictions_url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/restrictions/"


def as_procedure(world: World, code: str) -> None:
    world.episode.procedure_id = code
    world.episode.save()


def doc(**overrides: Any) -> dict[str, Any]:
    return {
        "lifting_limit_kg": None,
        "lifting_limit_until_day": None,
        "forbidden_movements": [],
        "overrides": [],
        "source": "Dr Ruiz, operative note of 11 Nov.",
        **overrides,
    }


# --- Prescribing -----------------------------------------------------------------------------------


def test_physio_prescribes_an_exercise_with_its_default_dose(rehab: World, plain: Exercise) -> None:
    response = client_for(rehab.physio).post(url(rehab), {"exercise": str(plain.id)}, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["exercise"] == {
        "id": str(plain.id),
        "name": "Heel raises",
        "region": "lumbar",
        "phase": "early",
        "instructions": plain.instructions,
        "media_url": "",
        "movement_tags": [],
    }
    assert data["dose"] == {
        "sets": 2,
        "reps": 10,
        "hold_seconds": None,
        "load_kg": None,
        "sessions_per_day": 3,
    }
    assert data["schedule"] == {
        "days_of_week": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start_day": 10,
        "end_day": None,
    }
    assert (data["active"], data["ended_on"], data["ended_by"]) == (True, None, None)
    assert data["prescribed_by"] == {"id": str(rehab.physio.id), "name": "Sam Lee"}
    assert Assignment.objects.get(pk=data["id"]).prescribed_by == rehab.physio


def test_surgeon_prescribes_a_full_dose_and_schedule(rehab: World, plain: Exercise) -> None:
    payload = {
        "exercise": str(plain.id),
        "sets": 3,
        "hold_seconds": 30,
        "load_kg": 2.5,
        "sessions_per_day": 2,
        "days_of_week": ["fri", "mon", "mon"],
        "start_day": 12,
        "end_day": 40,
        "notes": "Stop if the leg pain comes back.",
    }
    response = client_for(rehab.surgeon).post(url(rehab), payload, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    # Sending only hold_seconds means no reps: the exercise's default reps are not mixed in.
    assert data["dose"] == {
        "sets": 3,
        "reps": None,
        "hold_seconds": 30,
        "load_kg": 2.5,
        "sessions_per_day": 2,
    }
    assert data["schedule"] == {"days_of_week": ["mon", "fri"], "start_day": 12, "end_day": 40}
    stored = Assignment.objects.get(pk=data["id"])
    assert stored.load_kg == Decimal("2.5")
    assert stored.notes == "Stop if the leg pain comes back."


def test_default_start_day_is_never_before_surgery(rehab: World, plain: Exercise) -> None:
    rehab.episode.surgery_date = date(2026, 12, 1)
    rehab.episode.save()
    response = client_for(rehab.physio).post(url(rehab), {"exercise": str(plain.id)}, format="json")
    assert response.json()["schedule"]["start_day"] == 0
    prehab = client_for(rehab.physio).post(
        url(rehab), {"exercise": str(plain.id), "start_day": -7}, format="json"
    )
    assert prehab.json()["schedule"]["start_day"] == -7


def test_a_clinics_own_exercise_can_be_prescribed(rehab: World) -> None:
    own = ExerciseFactory.create(clinic=rehab.clinic, name="Riverside drill")
    response = client_for(rehab.physio).post(url(rehab), {"exercise": str(own.id)}, format="json")
    assert response.status_code == 201
    assert response.json()["exercise"]["name"] == "Riverside drill"


@pytest.mark.parametrize("whose", ["other_clinic", "retired", "unknown"])
def test_exercise_outside_the_clinics_active_library_is_400(rehab: World, whose: str) -> None:
    if whose == "other_clinic":
        exercise_id = ExerciseFactory.create(clinic=rehab.other_clinic_surgeon.clinic).id
    elif whose == "retired":
        exercise_id = ExerciseFactory.create(clinic=rehab.clinic, is_active=False).id
    else:
        exercise_id = uuid.uuid4()
    response = client_for(rehab.physio).post(url(rehab), {"exercise": str(exercise_id)}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "exercise": ["No active exercise with this id in this clinic's library."]
    }
    assert not Assignment.objects.exists()


def test_replay_with_the_same_id_is_200_and_creates_nothing(rehab: World, plain: Exercise) -> None:
    client = client_for(rehab.physio)
    payload = {
        "id": str(uuid.uuid4()),
        "exercise": str(plain.id),
        "days_of_week": ["tue", "mon"],
        "load_kg": 1,
    }
    first = client.post(url(rehab), payload, format="json")
    again = client.post(url(rehab), payload, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Assignment.objects.count() == 1


def test_replay_on_a_later_day_without_start_day_still_matches(
    rehab: World, plain: Exercise, clock: Any
) -> None:
    client = client_for(rehab.physio)
    payload = {"id": str(uuid.uuid4()), "exercise": str(plain.id)}
    assert client.post(url(rehab), payload, format="json").status_code == 201
    clock.shift(timedelta(days=2))
    again = client.post(url(rehab), payload, format="json")
    assert again.status_code == 200
    assert again.json()["schedule"]["start_day"] == 10


@pytest.mark.parametrize(
    "change",
    [{"sets": 4}, {"notes": "other"}, {"start_day": 11}, {"load_kg": 1.5}, {"days_of_week": ["mon"]}],
)
def test_same_id_with_other_content_is_409_and_changes_nothing(
    rehab: World, plain: Exercise, change: dict[str, Any]
) -> None:
    client = client_for(rehab.physio)
    payload: dict[str, Any] = {"id": str(uuid.uuid4()), "exercise": str(plain.id), "start_day": 10}
    client.post(url(rehab), payload, format="json")
    response = client.post(url(rehab), {**payload, **change}, format="json")
    assert response.status_code == 409
    assert "id" in response.json()["errors"]
    stored = Assignment.objects.get(pk=payload["id"])
    assert (stored.sets, stored.notes, stored.start_day, stored.load_kg) == (2, "", 10, None)


def test_same_id_with_another_exercise_is_409(rehab: World, plain: Exercise, toe_touch: Exercise) -> None:
    client = client_for(rehab.physio)
    payload = {"id": str(uuid.uuid4()), "exercise": str(plain.id)}
    client.post(url(rehab), payload, format="json")
    response = client.post(url(rehab), {**payload, "exercise": str(toe_touch.id)}, format="json")
    assert response.status_code == 409


def test_id_of_an_assignment_on_another_episode_is_409_and_touches_nothing(
    rehab: World, plain: Exercise
) -> None:
    foreign = AssignmentFactory.create(episode=rehab.other_episode, exercise=plain)
    response = client_for(rehab.physio).post(
        url(rehab), {"id": str(foreign.id), "exercise": str(plain.id)}, format="json"
    )
    assert response.status_code == 409
    assert Assignment.objects.get(pk=foreign.id).episode == rehab.other_episode


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_posts_store_one_assignment(rehab: World, plain: Exercise) -> None:
    payload: dict[str, Any] = {"id": str(uuid.uuid4()), "exercise": str(plain.id), "start_day": 10}
    statuses: list[int] = []

    def post() -> None:
        statuses.append(client_for(rehab.physio).post(url(rehab), payload, format="json").status_code)
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    assert Assignment.objects.filter(pk=payload["id"]).count() == 1


BAD_ASSIGNMENTS = [
    ({"sets": "2"}, "sets"),
    ({"sets": 0}, "sets"),
    ({"sets": 21}, "sets"),
    ({"reps": 101}, "reps"),
    ({"reps": 2.5}, "reps"),
    ({"hold_seconds": 601}, "hold_seconds"),
    ({"reps": None, "hold_seconds": None}, "reps"),
    ({"load_kg": -1}, "load_kg"),
    ({"load_kg": 100.5}, "load_kg"),
    ({"load_kg": 2.25}, "load_kg"),
    ({"load_kg": "5"}, "load_kg"),
    ({"load_kg": True}, "load_kg"),
    ({"sessions_per_day": 0}, "sessions_per_day"),
    ({"sessions_per_day": 11}, "sessions_per_day"),
    ({"days_of_week": []}, "days_of_week"),
    ({"days_of_week": ["monday"]}, "days_of_week"),
    ({"days_of_week": "mon"}, "days_of_week"),
    ({"days_of_week": [1]}, "days_of_week"),
    ({"start_day": 731}, "start_day"),
    ({"start_day": -31}, "start_day"),
    ({"start_day": "10"}, "start_day"),
    ({"start_day": 20, "end_day": 19}, "end_day"),
    ({"end_day": 5}, "end_day"),  # before the default start, today's post-op day 10
    ({"end_day": 731}, "end_day"),
    ({"end_day": True}, "end_day"),
    ({"notes": "x" * 2001}, "notes"),
    ({"notes": 5}, "notes"),
    ({"exercise": "not-a-uuid"}, "exercise"),
    ({"exercise": 123}, "exercise"),
    ({"exercise": None}, "exercise"),
    ({"id": "not-a-uuid"}, "id"),
    ({"colour": "blue"}, "colour"),
    ({"active": False}, "active"),
]


@pytest.mark.parametrize(("change", "field"), BAD_ASSIGNMENTS)
def test_bad_assignment_is_400_naming_the_field_and_saves_nothing(
    rehab: World, plain: Exercise, change: dict[str, Any], field: str
) -> None:
    response = client_for(rehab.physio).post(url(rehab), {"exercise": str(plain.id), **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Assignment.objects.exists()


def test_missing_exercise_is_400(rehab: World) -> None:
    response = client_for(rehab.physio).post(url(rehab), {"sets": 2}, format="json")
    assert response.status_code == 400
    assert "exercise" in response.json()["errors"]


def test_the_patient_reads_but_cannot_prescribe_change_or_end(rehab: World, plain: Exercise) -> None:
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=plain)
    client = client_for(rehab.patient)
    assert client.get(url(rehab)).json()["count"] == 1
    assert client.post(url(rehab), {"exercise": str(plain.id)}, format="json").status_code == 403
    assert client.patch(detail(rehab, assignment), {"sets": 5}, format="json").status_code == 403
    assert client.delete(detail(rehab, assignment)).status_code == 403
    assignment.refresh_from_db()
    assert (assignment.sets, assignment.ended_on) == (2, None)


def test_clinic_admin_and_outsiders_do_not_see_assignments(rehab: World, plain: Exercise) -> None:
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=plain)
    for persona in (rehab.clinic_admin, rehab.other_patient, rehab.other_clinic_surgeon):
        assert client_for(persona).get(url(rehab)).status_code == 404
        assert client_for(persona).get(detail(rehab, assignment)).status_code == 404


def test_assignment_of_another_episode_is_404_through_own_episode_url(rehab: World, plain: Exercise) -> None:
    foreign = AssignmentFactory.create(episode=rehab.other_episode, exercise=plain)
    client = client_for(rehab.physio)
    assert client.get(detail(rehab, foreign)).status_code == 404
    assert client.patch(detail(rehab, foreign), {"sets": 3}, format="json").status_code == 404
    assert client.delete(detail(rehab, foreign)).status_code == 404


# --- Listing ---------------------------------------------------------------------------------------


def test_list_filters_active_and_ended_assignments(rehab: World, plain: Exercise) -> None:
    current = AssignmentFactory.create(episode=rehab.episode, exercise=plain, start_day=0)
    upcoming = AssignmentFactory.create(episode=rehab.episode, exercise=plain, start_day=20)
    last_day_today = AssignmentFactory.create(episode=rehab.episode, exercise=plain, start_day=0, end_day=10)
    past = AssignmentFactory.create(episode=rehab.episode, exercise=plain, start_day=0, end_day=9)
    ended = AssignmentFactory.create(
        episode=rehab.episode, exercise=plain, ended_on=date(2026, 11, 20), ended_by=rehab.physio
    )
    client = client_for(rehab.patient)

    def ids(query: str) -> set[str]:
        return {item["id"] for item in client.get(url(rehab) + query).json()["results"]}

    assert ids("") == {str(a.id) for a in (current, upcoming, last_day_today, past, ended)}
    assert ids("?active=true") == {str(a.id) for a in (current, upcoming, last_day_today)}
    assert ids("?active=false") == {str(past.id), str(ended.id)}
    by_id = {item["id"]: item for item in client.get(url(rehab)).json()["results"]}
    assert by_id[str(ended.id)]["active"] is False
    assert by_id[str(ended.id)]["ended_on"] == "2026-11-20"
    assert by_id[str(ended.id)]["ended_by"]["name"] == "Sam Lee"
    assert by_id[str(past.id)]["active"] is False


@pytest.mark.parametrize("value", ["yes", "1", "True"])
def test_bad_active_filter_is_400(rehab: World, value: str) -> None:
    response = client_for(rehab.physio).get(f"{url(rehab)}?active={value}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["active"]


def test_active_flag_and_active_filter_agree(rehab: World, plain: Exercise) -> None:
    cases = [
        AssignmentFactory.create(episode=rehab.episode, exercise=plain, start_day=s, end_day=e, ended_on=o)
        for s, e, o in [
            (0, None, None),
            (0, 9, None),
            (0, 10, None),
            (5, 11, date(2026, 11, 21)),
            (30, None, None),
        ]
    ]
    active_ids = set(Assignment.objects.filter(active_q(10)).values_list("id", flat=True))
    assert {a.id for a in cases if assignment_is_active(a, 10)} == active_ids


def test_assignment_list_runs_the_same_queries_however_long_it_is(rehab: World, plain: Exercise) -> None:
    client = client_for(rehab.physio)
    AssignmentFactory.create(episode=rehab.episode, exercise=plain, prescribed_by=rehab.physio)
    client.get(url(rehab))  # the first request of a token records its first use
    with CaptureQueriesContext(connection) as few:
        client.get(url(rehab))
    for index in range(12):
        exercise = ExerciseFactory.create(clinic=rehab.clinic)
        AssignmentFactory.create(
            episode=rehab.episode,
            exercise=exercise,
            prescribed_by=rehab.physio if index % 2 else rehab.surgeon,
            ended_on=date(2026, 11, 20) if index % 3 == 0 else None,
            ended_by=rehab.surgeon if index % 3 == 0 else None,
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(url(rehab) + "?active=true")
    assert response.status_code == 200
    assert len(many) == len(few)


# --- Changing and ending ---------------------------------------------------------------------------


def test_patch_changes_dose_and_schedule_and_keeps_the_previous_content(
    rehab: World, plain: Exercise
) -> None:
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=plain, start_day=3)
    response = client_for(rehab.physio).patch(
        detail(rehab, assignment),
        {
            "sets": 3,
            "reps": None,
            "hold_seconds": 20,
            "days_of_week": ["wed", "mon"],
            "end_day": 30,
            "notes": "ok",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["dose"]["sets"] == 3 and data["dose"]["reps"] is None and data["dose"]["hold_seconds"] == 20
    assert data["schedule"] == {"days_of_week": ["mon", "wed"], "start_day": 3, "end_day": 30}
    revision = AssignmentRevision.objects.get(assignment=assignment)
    assert revision.action == "update"
    assert revision.changed_by == rehab.physio
    assert revision.previous["sets"] == 2 and revision.previous["reps"] == 10
    assert revision.previous["days_of_week"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert revision.previous["exercise"] == str(plain.id)


def test_patch_that_changes_nothing_writes_no_revision(rehab: World, plain: Exercise) -> None:
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=plain)
    response = client_for(rehab.physio).patch(
        detail(rehab, assignment),
        {"sets": 2, "days_of_week": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]},
        format="json",
    )
    assert response.status_code == 200
    assert not AssignmentRevision.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"exercise": "00000000-0000-0000-0000-000000000001"}, "exercise"),
        ({"reps": None}, "reps"),
        ({"end_day": 2}, "end_day"),
        ({"start_day": 40, "end_day": 39}, "end_day"),
        ({"sets": 50}, "sets"),
        ({"days_of_week": []}, "days_of_week"),
        ({"id": str(uuid.uuid4())}, "id"),
    ],
)
def test_bad_patch_is_400_and_changes_nothing(
    rehab: World, plain: Exercise, change: dict[str, Any], field: str
) -> None:
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=plain, start_day=3, end_day=None)
    response = client_for(rehab.physio).patch(detail(rehab, assignment), change, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assignment.refresh_from_db()
    assert (assignment.reps, assignment.start_day, assignment.end_day, assignment.sets) == (10, 3, None, 2)
    assert not AssignmentRevision.objects.exists()


def test_delete_ends_the_assignment_on_the_patients_local_date(rehab: World, plain: Exercise) -> None:
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=plain)
    # 23:30 UTC on the 21st is already 00:30 on the 22nd in Madrid.
    with time_machine.travel(datetime(2026, 11, 21, 23, 30, tzinfo=UTC), tick=False):
        response = client_for(rehab.physio).delete(detail(rehab, assignment))
    assert response.status_code == 204
    assignment.refresh_from_db()
    assert assignment.ended_on == date(2026, 11, 22)
    assert assignment.ended_by == rehab.physio
    revision = AssignmentRevision.objects.get(assignment=assignment)
    assert (revision.action, revision.previous["ended_on"]) == ("end", None)
    data = client_for(rehab.patient).get(detail(rehab, assignment)).json()
    assert (data["active"], data["ended_on"]) == (False, "2026-11-22")


def test_ending_twice_is_204_and_writes_no_second_revision(rehab: World, plain: Exercise, clock: Any) -> None:
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=plain)
    client = client_for(rehab.surgeon)
    assert client.delete(detail(rehab, assignment)).status_code == 204
    clock.shift(timedelta(days=3))
    assert client.delete(detail(rehab, assignment)).status_code == 204
    assignment.refresh_from_db()
    assert assignment.ended_on == date(2026, 11, 21)
    assert AssignmentRevision.objects.filter(assignment=assignment).count() == 1


def test_patch_of_an_ended_assignment_is_409(rehab: World, plain: Exercise) -> None:
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=plain)
    client = client_for(rehab.physio)
    client.delete(detail(rehab, assignment))
    response = client.patch(detail(rehab, assignment), {"sets": 4}, format="json")
    assert response.status_code == 409
    assert "2026-11-21" in response.json()["errors"]["non_field_errors"][0]
    assignment.refresh_from_db()
    assert assignment.sets == 2


# --- The restriction guard -------------------------------------------------------------------------


def test_guard_rejects_a_forbidden_movement_and_names_the_restriction(
    rehab: World, toe_touch: Exercise
) -> None:
    as_procedure(rehab, "mis_tlif")
    response = client_for(rehab.physio).post(url(rehab), {"exercise": str(toe_touch.id)}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "exercise": [
            "Conflicts with the restriction 'no lumbar_flexion until post-op day 42' (from the procedure's "
            "default restrictions). Start on day 43 or later, or ask the surgeon to record an override."
        ]
    }
    # Nobody had opened the restrictions: the guard initialised them from the defaults for its check
    # (and the rejected request rolled that back with everything else; the next use does it again).
    assert not Assignment.objects.exists()
    assert not EpisodeRestrictions.objects.filter(episode=rehab.episode).exists()


def test_guard_names_the_surgeon_when_the_surgeon_set_the_restriction(
    rehab: World, toe_touch: Exercise
) -> None:
    client_for(rehab.surgeon).put(
        restrictions_url(rehab),
        doc(forbidden_movements=[{"tag": "lumbar_flexion", "until_day": 42}]),
        format="json",
    )
    response = client_for(rehab.physio).post(url(rehab), {"exercise": str(toe_touch.id)}, format="json")
    assert response.json() == {
        "errors": {
            "exercise": [
                "Conflicts with the restriction 'no lumbar_flexion until post-op day 42' (set by the surgeon). "
                "Start on day 43 or later, or ask the surgeon to record an override."
            ]
        }
    }


@pytest.mark.parametrize(
    ("start_day", "end_day", "expected"), [(42, None, 400), (10, 20, 400), (43, None, 201)]
)
def test_guard_checks_every_day_of_the_window_up_to_the_restricted_day(
    rehab: World, toe_touch: Exercise, start_day: int, end_day: int | None, expected: int
) -> None:
    as_procedure(rehab, "mis_tlif")
    payload = {"exercise": str(toe_touch.id), "start_day": start_day, "end_day": end_day}
    assert client_for(rehab.physio).post(url(rehab), payload, format="json").status_code == expected


def test_a_surgeon_override_lets_the_physio_prescribe(rehab: World, toe_touch: Exercise) -> None:
    as_procedure(rehab, "mis_tlif")
    current = client_for(rehab.surgeon).get(restrictions_url(rehab)).json()
    document = {
        "lifting_limit_kg": current["lifting_limit_kg"],
        "lifting_limit_until_day": current["lifting_limit_until_day"],
        "forbidden_movements": current["forbidden_movements"],
        "source": current["source"],
        "overrides": [
            {
                "exercise": str(toe_touch.id),
                "tag": "lumbar_flexion",
                "reason": "Gentle range only, seen on day 9.",
            }
        ],
    }
    assert client_for(rehab.surgeon).put(restrictions_url(rehab), document, format="json").status_code == 200
    response = client_for(rehab.physio).post(url(rehab), {"exercise": str(toe_touch.id)}, format="json")
    assert response.status_code == 201, response.json()
    # The override covers that exercise only.
    other = ExerciseFactory.create(movement_tags=["lumbar_flexion"])
    assert (
        client_for(rehab.physio).post(url(rehab), {"exercise": str(other.id)}, format="json").status_code
        == 400
    )


def test_an_override_for_one_tag_does_not_lift_another(rehab: World) -> None:
    as_procedure(rehab, "mis_tlif")
    lift = ExerciseFactory.create(movement_tags=["lumbar_flexion", "loaded_lifting"])
    RestrictionOverride.objects.create(
        episode=rehab.episode, exercise=lift, tag="lumbar_flexion", reason="ok", created_by=rehab.surgeon
    )
    response = client_for(rehab.physio).post(url(rehab), {"exercise": str(lift.id)}, format="json")
    assert response.status_code == 400
    (message,) = response.json()["errors"]["exercise"]
    assert "'no loaded_lifting until post-op day 42'" in message


def test_lifting_limit_rejects_a_heavier_load_while_it_applies(rehab: World, plain: Exercise) -> None:
    client = client_for(rehab.physio)
    heavy = client.post(url(rehab), {"exercise": str(plain.id), "load_kg": 5}, format="json")
    assert heavy.status_code == 400
    assert heavy.json()["errors"] == {
        "load_kg": [
            "Exceeds the lifting limit of 4.5 kg until post-op day 14 (from the procedure's default "
            "restrictions). Use 4.5 kg or less, or start on day 15 or later."
        ]
    }
    assert (
        client.post(url(rehab), {"exercise": str(plain.id), "load_kg": 4.5}, format="json").status_code == 201
    )
    later = client.post(url(rehab), {"exercise": str(plain.id), "load_kg": 5, "start_day": 15}, format="json")
    assert later.status_code == 201


def test_a_lifting_limit_without_an_end_day_always_applies(rehab: World, plain: Exercise) -> None:
    as_procedure(rehab, "acdf")
    response = client_for(rehab.physio).post(
        url(rehab), {"exercise": str(plain.id), "load_kg": 3, "start_day": 400}, format="json"
    )
    assert response.status_code == 400
    assert "lifting limit of 2.3 kg, which has no end day" in response.json()["errors"]["load_kg"][0]


def test_guard_runs_when_a_patch_moves_the_start_or_raises_the_load(
    rehab: World, toe_touch: Exercise
) -> None:
    as_procedure(rehab, "mis_tlif")
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=toe_touch, start_day=50)
    client = client_for(rehab.physio)
    moved = client.patch(detail(rehab, assignment), {"start_day": 30}, format="json")
    assert moved.status_code == 400
    assert "no lumbar_flexion until post-op day 42" in moved.json()["errors"]["exercise"][0]
    heavier = client.patch(detail(rehab, assignment), {"load_kg": 50}, format="json")
    assert heavier.status_code == 200  # MIS-TLIF ships no limit in kg
    assignment.refresh_from_db()
    assert assignment.start_day == 50
    assert AssignmentRevision.objects.filter(assignment=assignment).count() == 1


def test_notes_can_change_on_an_assignment_that_later_restrictions_would_block(
    rehab: World, toe_touch: Exercise
) -> None:
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=toe_touch, start_day=10)
    client_for(rehab.surgeon).put(
        restrictions_url(rehab),
        doc(forbidden_movements=[{"tag": "lumbar_flexion", "until_day": 42}]),
        format="json",
    )
    response = client_for(rehab.physio).patch(detail(rehab, assignment), {"notes": "Hold off"}, format="json")
    assert response.status_code == 200


# --- Restrictions ----------------------------------------------------------------------------------


def test_restrictions_start_from_the_shipped_defaults_of_the_procedure(rehab: World) -> None:
    data = client_for(rehab.patient).get(restrictions_url(rehab)).json()
    assert data["episode"] == str(rehab.episode.id)
    assert (data["lifting_limit_kg"], data["lifting_limit_until_day"]) == (4.5, 14)
    assert data["forbidden_movements"] == [] and data["overrides"] == []
    assert data["source"].startswith("From Mobilize's shipped defaults for Lumbar microdiscectomy: ")
    assert "Bono" in data["source"] and "sw.org" in data["source"]
    assert data["updated_by"] is None


def test_mis_tlif_defaults_are_labelled_clinic_default_not_evidence(rehab: World) -> None:
    as_procedure(rehab, "mis_tlif")
    data = client_for(rehab.physio).get(restrictions_url(rehab)).json()
    assert data["forbidden_movements"] == [
        {"tag": "loaded_lifting", "until_day": 42},
        {"tag": "lumbar_flexion", "until_day": 42},
    ]
    assert data["lifting_limit_kg"] is None
    assert "clinic default, not evidence" in data["source"]


def test_restrictions_start_from_the_clinics_own_defaults_when_it_has_them(rehab: World) -> None:
    started = EpisodeFactory.create(
        patient=rehab.patient, surgeon=rehab.surgeon, physiotherapists=[rehab.physio], surgery_date=SURGERY
    )
    client_for(rehab.surgeon).get(f"/api/v1/episodes/{started.id}/restrictions/")
    clinic_defaults = {
        "lifting_limit_kg": 9,
        "lifting_limit_until_day": 28,
        "forbidden_movements": [{"tag": "lumbar_rotation", "until_day": 21}],
        "source": "clinic default, not evidence: Riverside spine board, 2026.",
    }
    put = client_for(rehab.clinic_admin).put(
        "/api/v1/procedures/lumbar_microdiscectomy/restriction-defaults/", clinic_defaults, format="json"
    )
    assert put.status_code == 201, put.json()
    data = client_for(rehab.surgeon).get(restrictions_url(rehab)).json()
    assert (data["lifting_limit_kg"], data["lifting_limit_until_day"]) == (9.0, 28)
    assert data["forbidden_movements"] == [{"tag": "lumbar_rotation", "until_day": 21}]
    assert data["source"] == (
        "From Riverside Spine's defaults for Lumbar microdiscectomy: "
        "clinic default, not evidence: Riverside spine board, 2026."
    )
    # An episode whose restrictions already existed keeps them.
    kept = client_for(rehab.surgeon).get(f"/api/v1/episodes/{started.id}/restrictions/").json()
    assert kept["lifting_limit_kg"] == 4.5


def test_a_procedure_without_defaults_starts_with_no_restrictions(rehab: World) -> None:
    Procedure.objects.create(code="clinic_special", name="Clinic special", region="lumbar")
    as_procedure(rehab, "clinic_special")
    data = client_for(rehab.physio).get(restrictions_url(rehab)).json()
    assert (data["lifting_limit_kg"], data["forbidden_movements"]) == (None, [])
    assert (
        data["source"]
        == "No default restrictions exist for Clinic special; none apply until the surgeon sets them."
    )


def test_only_the_surgeon_replaces_restrictions(rehab: World) -> None:
    body = doc(lifting_limit_kg=2, lifting_limit_until_day=30)
    for persona, expected in [
        (rehab.physio, 403),
        (rehab.patient, 403),
        (rehab.clinic_admin, 404),
        (rehab.other_patient, 404),
        (rehab.other_clinic_surgeon, 404),
    ]:
        assert client_for(persona).put(restrictions_url(rehab), body, format="json").status_code == expected
    assert not EpisodeRestrictions.objects.filter(episode=rehab.episode, lifting_limit_kg=2).exists()


def test_put_replaces_the_whole_document_and_records_who_and_when(
    rehab: World, toe_touch: Exercise, clock: Any
) -> None:
    client = client_for(rehab.surgeon)
    client.get(restrictions_url(rehab))
    clock.shift(timedelta(hours=2))
    body = doc(
        lifting_limit_kg=6.8,
        lifting_limit_until_day=21,
        forbidden_movements=[
            {"tag": "lumbar_rotation", "until_day": 28},
            {"tag": "lumbar_flexion", "until_day": 14},
        ],
        overrides=[{"exercise": str(toe_touch.id), "tag": "lumbar_flexion", "reason": "Supervised only."}],
    )
    response = client.put(restrictions_url(rehab), body, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["lifting_limit_kg"], data["lifting_limit_until_day"]) == (6.8, 21)
    assert [m["tag"] for m in data["forbidden_movements"]] == ["lumbar_flexion", "lumbar_rotation"]
    (override,) = data["overrides"]
    assert override["exercise"] == str(toe_touch.id) and override["exercise_name"] == "Toe touches"
    assert override["created_by"]["name"] == "Dr Ana Ruiz"
    assert data["updated_by"] == {"id": str(rehab.surgeon.id), "name": "Dr Ana Ruiz"}
    assert data["updated_at"] == "2026-11-21T14:00:00Z"
    assert data["source"] == "Dr Ruiz, operative note of 11 Nov."
    # Replacing with an empty document clears everything, overrides included.
    cleared = client.put(restrictions_url(rehab), doc(), format="json").json()
    assert (cleared["lifting_limit_kg"], cleared["forbidden_movements"], cleared["overrides"]) == (
        None,
        [],
        [],
    )
    assert not RestrictionOverride.objects.filter(episode=rehab.episode).exists()


def test_putting_the_same_document_again_writes_nothing(
    rehab: World, toe_touch: Exercise, clock: Any
) -> None:
    client = client_for(rehab.surgeon)
    body = doc(
        forbidden_movements=[{"tag": "lumbar_flexion", "until_day": 20}],
        overrides=[{"exercise": str(toe_touch.id), "tag": "lumbar_flexion", "reason": "Supervised only."}],
    )
    first = client.put(restrictions_url(rehab), body, format="json").json()
    clock.shift(timedelta(days=1))
    second = client.put(restrictions_url(rehab), body, format="json")
    assert second.status_code == 200
    assert second.json() == first
    # Changing one override's reason re-records that override only.
    body["overrides"][0]["reason"] = "Supervised by the physio only."
    third = client.put(restrictions_url(rehab), body, format="json").json()
    assert third["overrides"][0]["created_at"] != first["overrides"][0]["created_at"]
    assert third["updated_at"] != first["updated_at"]


BAD_RESTRICTIONS = [
    ({"forbidden_movements": [{"tag": "bending", "until_day": 10}]}, "forbidden_movements"),
    (
        {
            "forbidden_movements": [
                {"tag": "lumbar_flexion", "until_day": 10},
                {"tag": "lumbar_flexion", "until_day": 20},
            ]
        },
        "forbidden_movements",
    ),
    ({"forbidden_movements": [{"tag": "lumbar_flexion", "until_day": 731}]}, "forbidden_movements"),
    ({"forbidden_movements": [{"tag": "lumbar_flexion", "until_day": -1}]}, "forbidden_movements"),
    ({"forbidden_movements": [{"tag": "lumbar_flexion"}]}, "forbidden_movements"),
    ({"forbidden_movements": "lumbar_flexion"}, "forbidden_movements"),
    ({"lifting_limit_kg": 101}, "lifting_limit_kg"),
    ({"lifting_limit_kg": "4.5"}, "lifting_limit_kg"),
    ({"lifting_limit_kg": 4.55}, "lifting_limit_kg"),
    ({"lifting_limit_until_day": 5}, "lifting_limit_until_day"),
    ({"lifting_limit_kg": 4.5, "lifting_limit_until_day": 731}, "lifting_limit_until_day"),
    ({"source": ""}, "source"),
    ({"overrides": [{"exercise": str(uuid.uuid4()), "tag": "lumbar_flexion", "reason": "x"}]}, "overrides"),
    ({"overrides": [{"exercise": "TOE", "tag": "prone_lying", "reason": "x"}]}, "overrides"),
    ({"overrides": [{"exercise": "TOE", "tag": "lumbar_flexion", "reason": ""}]}, "overrides"),
    ({"overrides": [{"exercise": "TOE", "tag": "lumbar_flexion"}]}, "overrides"),
    (
        {
            "overrides": [
                {"exercise": "TOE", "tag": "lumbar_flexion", "reason": "a"},
                {"exercise": "TOE", "tag": "lumbar_flexion", "reason": "b"},
            ]
        },
        "overrides",
    ),
    ({"updated_by": None}, "updated_by"),
]


@pytest.mark.parametrize(("change", "field"), BAD_RESTRICTIONS)
def test_bad_restrictions_are_400_naming_the_field_and_change_nothing(
    rehab: World, toe_touch: Exercise, change: dict[str, Any], field: str
) -> None:
    change = {
        key: [
            {**item, "exercise": str(toe_touch.id)} if item.get("exercise") == "TOE" else item
            for item in value
        ]
        if key == "overrides"
        else value
        for key, value in change.items()
    }
    response = client_for(rehab.surgeon).put(restrictions_url(rehab), doc(**change), format="json")
    assert response.status_code == 400
    assert any(key.startswith(field) for key in response.json()["errors"]), response.json()
    assert not EpisodeRestrictions.objects.filter(episode=rehab.episode, updated_by__isnull=False).exists()


@pytest.mark.parametrize("missing", ["lifting_limit_kg", "forbidden_movements", "overrides", "source"])
def test_put_needs_the_whole_document(rehab: World, missing: str) -> None:
    body = doc()
    del body[missing]
    response = client_for(rehab.surgeon).put(restrictions_url(rehab), body, format="json")
    assert response.status_code == 400
    assert missing in response.json()["errors"]


def test_an_override_for_another_clinics_exercise_is_400(rehab: World) -> None:
    foreign = ExerciseFactory.create(
        clinic=rehab.other_clinic_surgeon.clinic, movement_tags=["lumbar_flexion"]
    )
    body = doc(overrides=[{"exercise": str(foreign.id), "tag": "lumbar_flexion", "reason": "x"}])
    response = client_for(rehab.surgeon).put(restrictions_url(rehab), body, format="json")
    assert response.status_code == 400
    assert "overrides" in response.json()["errors"]


def test_restrictions_read_runs_the_same_queries_however_many_overrides(rehab: World) -> None:
    client = client_for(rehab.physio)
    client.get(restrictions_url(rehab))
    with CaptureQueriesContext(connection) as few:
        client.get(restrictions_url(rehab))
    for index in range(8):
        exercise = ExerciseFactory.create(movement_tags=["lumbar_flexion"])
        RestrictionOverride.objects.create(
            episode=rehab.episode,
            exercise=exercise,
            tag="lumbar_flexion",
            reason=f"r{index}",
            created_by=rehab.surgeon,
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(restrictions_url(rehab))
    assert len(response.json()["overrides"]) == 8
    assert len(many) == len(few)


# --- Default restrictions --------------------------------------------------------------------------


def test_pounds_are_converted_to_kg_with_one_decimal() -> None:
    assert (pounds_to_kg(10), pounds_to_kg(15), pounds_to_kg(5)) == (
        Decimal("4.5"),
        Decimal("6.8"),
        Decimal("2.3"),
    )


def test_every_shipped_procedure_has_a_default_that_names_its_source(procedures: None) -> None:
    codes = set(Procedure.objects.values_list("code", flat=True))
    assert {item.procedure for item in SHIPPED_DEFAULTS} == codes
    for item in SHIPPED_DEFAULTS:
        assert "REFERENCE.md section 3" in item.source, item.procedure
        if item.lifting_limit_kg is not None:
            assert "lb" in item.source and "kg at 1 lb = 0.45359237 kg" in item.source
            assert "one decimal" in item.source
    by_code = {item.procedure: item for item in SHIPPED_DEFAULTS}
    for code in ("lumbar_microdiscectomy", "tubular_discectomy", "full_endoscopic_discectomy"):
        assert (by_code[code].lifting_limit_kg, by_code[code].lifting_limit_until_day) == (Decimal("4.5"), 14)
        assert "Bono" in by_code[code].source and "sw.org" in by_code[code].source
    assert (by_code["acdf"].lifting_limit_kg, by_code["acdf"].lifting_limit_until_day) == (
        Decimal("2.3"),
        None,
    )
    assert "Krames" in by_code["acdf"].source
    assert by_code["mis_tlif"].forbidden_movements == (("loaded_lifting", 42), ("lumbar_flexion", 42))
    assert "clinic default, not evidence" in by_code["mis_tlif"].source


def test_staff_read_the_defaults_a_procedure_starts_from(rehab: World) -> None:
    response = client_for(rehab.physio).get("/api/v1/procedures/mis_tlif/restriction-defaults/")
    assert response.status_code == 200
    data = response.json()
    assert (data["procedure"], data["scope"]) == ("mis_tlif", "shipped")
    assert data["forbidden_movements"] == [
        {"tag": "loaded_lifting", "until_day": 42},
        {"tag": "lumbar_flexion", "until_day": 42},
    ]
    assert "clinic default, not evidence" in data["source"]
    assert (
        client_for(rehab.patient).get("/api/v1/procedures/mis_tlif/restriction-defaults/").status_code == 403
    )
    assert client_for(rehab.physio).get("/api/v1/procedures/nope/restriction-defaults/").status_code == 404


def test_surgeon_sets_the_clinics_own_defaults_and_other_clinics_never_see_them(rehab: World) -> None:
    defaults_url = "/api/v1/procedures/mis_tlif/restriction-defaults/"
    body = {
        "lifting_limit_kg": 4.5,
        "lifting_limit_until_day": 42,
        "forbidden_movements": [
            {"tag": "lumbar_flexion", "until_day": 28},
            {"tag": "high_impact", "until_day": 90},
        ],
        "source": "clinic default, not evidence: Riverside protocol 2026.",
    }
    client = client_for(rehab.surgeon)
    created = client.put(defaults_url, body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["scope"] == "clinic"
    assert [m["tag"] for m in created.json()["forbidden_movements"]] == ["lumbar_flexion", "high_impact"]
    again = client.put(defaults_url, body, format="json")
    assert again.status_code == 200
    assert again.json() == created.json()
    assert RestrictionDefault.objects.filter(clinic=rehab.clinic).count() == 1
    assert client_for(rehab.physio).put(defaults_url, body, format="json").status_code == 403
    elsewhere = client_for(rehab.other_clinic_surgeon).get(defaults_url).json()
    assert elsewhere["scope"] == "shipped"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": ""}, "source"),
        ({"source": "   "}, "source"),
        ({"overrides": []}, "overrides"),
        ({"forbidden_movements": [{"tag": "bending", "until_day": 3}]}, "forbidden_movements"),
        ({"lifting_limit_kg": -1}, "lifting_limit_kg"),
    ],
)
def test_bad_clinic_defaults_are_400(rehab: World, change: dict[str, Any], field: str) -> None:
    body: dict[str, Any] = {
        "lifting_limit_kg": None,
        "lifting_limit_until_day": None,
        "forbidden_movements": [],
        "source": "x",
    }
    response = client_for(rehab.clinic_admin).put(
        "/api/v1/procedures/acdf/restriction-defaults/", {**body, **change}, format="json"
    )
    assert response.status_code == 400
    assert any(key.startswith(field) for key in response.json()["errors"]), response.json()
    assert not RestrictionDefault.objects.filter(clinic=rehab.clinic).exists()


# --- Admin -----------------------------------------------------------------------------------------


def admin_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_assignments_in_the_admin_are_read_only_and_follow_the_care_team(
    rehab: World, plain: Exercise
) -> None:
    assignment = AssignmentFactory.create(episode=rehab.episode, exercise=plain)
    foreign = AssignmentFactory.create(episode=rehab.other_episode, exercise=plain)
    listing = admin_client(rehab.physio).get("/admin/rehab/assignment/").content.decode()
    assert str(assignment.pk) in listing or "Heel raises" in listing
    page = admin_client(rehab.physio).get(f"/admin/rehab/assignment/{assignment.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client(rehab.physio).get(f"/admin/rehab/assignment/{foreign.pk}/change/").status_code == 302
    # Clinic admins do not read clinical data.
    assert (
        admin_client(rehab.clinic_admin).get(f"/admin/rehab/assignment/{assignment.pk}/change/").status_code
        == 302
    )


def test_shipped_default_restrictions_are_read_only_in_the_admin(rehab: World) -> None:
    shipped = RestrictionDefault.objects.get(procedure_id="acdf", clinic__isnull=True)
    page = admin_client(rehab.surgeon).get(f"/admin/rehab/restrictiondefault/{shipped.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    add = admin_client(rehab.surgeon).post(
        "/admin/rehab/restrictiondefault/add/",
        {"procedure": "acdf", "forbidden_movements": "[]", "lifting_limit_kg": "2", "source": ""},
    )
    assert add.status_code == 200  # the form comes back: a source is required
    assert not RestrictionDefault.objects.filter(clinic=rehab.clinic).exists()
    assert admin_client(rehab.physio).get("/admin/rehab/restrictiondefault/add/").status_code == 403
