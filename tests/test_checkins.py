"""Check-ins: recording, replays, validation, the 72-hour edit window, history and listing."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.checkins.models import CheckIn, CheckInRevision
from tests.conftest import World, client_for
from tests.factories import CheckInFactory


def url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/check-ins/"


def body(**overrides: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "axial_pain": 4, "limb_pain": 6, **overrides}


def test_patient_records_a_full_check_in(world: World) -> None:
    payload = body(
        recorded_at="2026-11-20T21:30:00-05:00",
        walking_minutes=35,
        steps=2400,
        sleep_quality=6,
        took_opioid=False,
        red_flags=["fever", "wound_drainage"],
        note="Sore after the walk.",
    )
    with time_machine.travel(datetime(2026, 11, 21, 12, tzinfo=ZoneInfo("UTC")), tick=False):
        world.episode.surgery_date = datetime(2026, 11, 11).date()
        world.episode.save()
        response = client_for(world.patient).post(url(world), payload, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["id"] == payload["id"]
    assert data["recorded_at"] == "2026-11-21T02:30:00Z"
    # The patient is in Madrid: 02:30 UTC is 03:30 on the 21st there.
    assert data["local_date"] == "2026-11-21"
    assert data["red_flags"] == ["fever", "wound_drainage"]
    stored = CheckIn.objects.get(pk=payload["id"])
    assert (stored.axial_pain, stored.limb_pain, stored.steps, stored.took_opioid) == (4, 6, 2400, False)
    assert stored.created_by == world.patient


def test_recorded_at_defaults_to_now(world: World) -> None:
    response = client_for(world.patient).post(url(world), {"axial_pain": 2, "limb_pain": 1}, format="json")
    assert response.status_code == 201
    recorded = datetime.fromisoformat(response.json()["recorded_at"])
    assert abs(recorded - timezone.now()) < timedelta(seconds=10)


def test_replay_with_same_content_returns_200_and_creates_nothing(world: World) -> None:
    client = client_for(world.patient)
    payload = body(red_flags=["fever"], note="ok")
    first = client.post(url(world), payload, format="json")
    second = client.post(url(world), payload, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert CheckIn.objects.filter(pk=payload["id"]).count() == 1


def test_replay_without_recorded_at_still_matches(world: World) -> None:
    client = client_for(world.patient)
    payload = body()
    client.post(url(world), payload, format="json")
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        again = client.post(url(world), payload, format="json")
    assert again.status_code == 200


def test_same_id_with_different_content_is_409(world: World) -> None:
    client = client_for(world.patient)
    payload = body()
    client.post(url(world), payload, format="json")
    response = client.post(url(world), {**payload, "axial_pain": 9}, format="json")
    assert response.status_code == 409
    assert "id" in response.json()["errors"]
    assert CheckIn.objects.get(pk=payload["id"]).axial_pain == 4


def test_same_id_on_another_episode_is_409_and_touches_nothing(world: World) -> None:
    foreign = CheckInFactory.create(episode=world.other_episode)
    response = client_for(world.patient).post(url(world), body(id=str(foreign.id)), format="json")
    assert response.status_code == 409
    assert CheckIn.objects.get(pk=foreign.id).episode == world.other_episode


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_posts_store_one_check_in(world: World) -> None:
    payload = body()
    statuses: list[int] = []

    def post() -> None:
        statuses.append(client_for(world.patient).post(url(world), payload, format="json").status_code)
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    assert CheckIn.objects.filter(pk=payload["id"]).count() == 1


BAD_INPUT = [
    ({"axial_pain": 11}, "axial_pain"),
    ({"axial_pain": -1}, "axial_pain"),
    ({"axial_pain": 3.5}, "axial_pain"),
    ({"axial_pain": "3"}, "axial_pain"),
    ({"axial_pain": True}, "axial_pain"),
    ({"axial_pain": None}, "axial_pain"),
    ({"limb_pain": 10.0}, "limb_pain"),
    ({"walking_minutes": 1441}, "walking_minutes"),
    ({"steps": 100001}, "steps"),
    ({"sleep_quality": 11}, "sleep_quality"),
    ({"took_opioid": "yes"}, "took_opioid"),
    ({"took_opioid": 1}, "took_opioid"),
    ({"red_flags": ["headache"]}, "red_flags"),
    ({"red_flags": "fever"}, "red_flags"),
    ({"red_flags": [1]}, "red_flags"),
    ({"note": "x" * 2001}, "note"),
    ({"note": 5}, "note"),
    ({"recorded_at": "yesterday"}, "recorded_at"),
    ({"recorded_at": "2026-11-20T10:00:00"}, "recorded_at"),
    ({"recorded_at": 1700000000}, "recorded_at"),
    ({"id": "not-a-uuid"}, "id"),
    ({"id": 12}, "id"),
    ({"mood": "fine"}, "mood"),
    ({"episode": "x"}, "episode"),
]


@pytest.mark.parametrize(("override", "field"), BAD_INPUT)
def test_bad_input_is_400_naming_the_field_and_saves_nothing(
    world: World, override: dict[str, Any], field: str
) -> None:
    payload = {"axial_pain": 3, "limb_pain": 2, **override}
    response = client_for(world.patient).post(url(world), payload, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert field in errors and all(isinstance(m, str) and m for m in errors[field])
    assert not CheckIn.objects.exists()


def test_missing_required_pain_scores_are_named(world: World) -> None:
    response = client_for(world.patient).post(url(world), {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"axial_pain", "limb_pain"}


@pytest.mark.parametrize("raw", ["{bad json", "[1, 2]", '"text"', "null"])
def test_malformed_or_non_object_json_is_400(world: World, raw: str) -> None:
    response = client_for(world.patient).post(url(world), raw, content_type="application/json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()["errors"]
    assert not CheckIn.objects.exists()


def test_non_json_content_type_is_415(world: World) -> None:
    response = client_for(world.patient).post(url(world), "axial_pain=3", content_type="text/plain")
    assert response.status_code == 415
    assert "errors" in response.json()


def test_recorded_at_more_than_five_minutes_ahead_is_rejected(world: World) -> None:
    client = client_for(world.patient)
    soon = (timezone.now() + timedelta(minutes=4)).isoformat()
    later = (timezone.now() + timedelta(minutes=6)).isoformat()
    assert client.post(url(world), body(recorded_at=soon), format="json").status_code == 201
    response = client.post(url(world), body(recorded_at=later), format="json")
    assert response.status_code == 400 and "recorded_at" in response.json()["errors"]


def test_recorded_at_more_than_30_days_before_surgery_is_rejected(world: World) -> None:
    tz = ZoneInfo("Europe/Madrid")
    surgery = world.episode.surgery_date
    ok = datetime.combine(surgery - timedelta(days=30), datetime.min.time(), tzinfo=tz) + timedelta(hours=9)
    too_early = ok - timedelta(days=1)
    client = client_for(world.patient)
    assert client.post(url(world), body(recorded_at=ok.isoformat()), format="json").status_code == 201
    response = client.post(url(world), body(recorded_at=too_early.isoformat()), format="json")
    assert response.status_code == 400 and "recorded_at" in response.json()["errors"]


def test_duplicate_red_flags_are_stored_once_in_vocabulary_order(world: World) -> None:
    response = client_for(world.patient).post(
        url(world), body(red_flags=["fever", "saddle_numbness", "fever"]), format="json"
    )
    assert response.json()["red_flags"] == ["saddle_numbness", "fever"]


def test_patient_edits_within_72_hours_and_history_is_kept(world: World) -> None:
    client = client_for(world.patient)
    created = client.post(url(world), body(note="first"), format="json").json()
    detail = f"{url(world)}{created['id']}/"
    with time_machine.travel(timezone.now() + timedelta(hours=71)):
        response = client.patch(detail, {"axial_pain": 2, "note": "corrected"}, format="json")
    assert response.status_code == 200
    assert (response.json()["axial_pain"], response.json()["note"]) == (2, "corrected")
    revision = CheckInRevision.objects.get(checkin_id=created["id"])
    assert revision.action == "update" and revision.previous["axial_pain"] == 4
    assert revision.previous["note"] == "first"


def test_patient_cannot_edit_or_delete_after_72_hours(world: World) -> None:
    client = client_for(world.patient)
    created = client.post(url(world), body(), format="json").json()
    detail = f"{url(world)}{created['id']}/"
    with time_machine.travel(timezone.now() + timedelta(hours=73)):
        assert client.patch(detail, {"axial_pain": 1}, format="json").status_code == 403
        assert client.delete(detail).status_code == 403
    assert CheckIn.objects.get(pk=created["id"]).axial_pain == 4


def test_patch_validates_like_post(world: World) -> None:
    client = client_for(world.patient)
    created = client.post(url(world), body(), format="json").json()
    detail = f"{url(world)}{created['id']}/"
    for bad, field in [
        ({"axial_pain": 12}, "axial_pain"),
        ({"id": str(uuid.uuid4())}, "id"),
        ({"x": 1}, "x"),
    ]:
        response = client.patch(detail, bad, format="json")
        assert response.status_code == 400 and field in response.json()["errors"]
    assert not CheckInRevision.objects.exists()


def test_delete_hides_the_check_in_but_keeps_it(world: World) -> None:
    client = client_for(world.patient)
    created = client.post(url(world), body(), format="json").json()
    detail = f"{url(world)}{created['id']}/"
    assert client.delete(detail).status_code == 204
    assert client.get(detail).status_code == 404
    assert client.delete(detail).status_code == 404
    assert client.get(url(world)).json()["count"] == 0
    stored = CheckIn.objects.get(pk=created["id"])
    assert stored.deleted_at is not None
    assert CheckInRevision.objects.filter(checkin=stored, action="delete").exists()
    # Replaying the original POST cannot resurrect or duplicate it.
    replay = client.post(url(world), {"id": created["id"], "axial_pain": 4, "limb_pain": 6}, format="json")
    assert replay.status_code == 409


def test_list_filters_by_local_day_and_paginates(world: World) -> None:
    tz = ZoneInfo("Europe/Madrid")
    base = datetime.combine(world.episode.surgery_date, datetime.min.time(), tzinfo=tz)
    for day in range(5):
        for hour in (8, 20):
            CheckInFactory.create(episode=world.episode, recorded_at=base + timedelta(days=day, hours=hour))
    client = client_for(world.surgeon)
    first_day = world.episode.surgery_date
    response = client.get(
        url(world),
        {
            "from": (first_day + timedelta(days=1)).isoformat(),
            "to": (first_day + timedelta(days=2)).isoformat(),
        },
    )
    assert response.json()["count"] == 4
    page = client.get(url(world), {"page_size": 3}).json()
    assert page["count"] == 10 and len(page["results"]) == 3 and page["next"]
    recorded = [r["recorded_at"] for r in page["results"]]
    assert recorded == sorted(recorded, reverse=True)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "soon"}, "to"),
        ({"page": "0"}, "page"),
        ({"page": "99"}, "page"),
        ({"page_size": "x"}, "page_size"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
    ],
)
def test_bad_list_parameters_are_400(world: World, params: dict[str, str], field: str) -> None:
    response = client_for(world.patient).get(url(world), params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_list_query_count_does_not_grow_with_rows(world: World) -> None:
    client = client_for(world.physio)
    CheckInFactory.create(episode=world.episode)
    client.get(url(world))  # the first use of a token records last_used_at
    with CaptureQueriesContext(connection) as few:
        client.get(url(world))
    for _ in range(20):
        CheckInFactory.create(episode=world.episode)
    with CaptureQueriesContext(connection) as many:
        client.get(url(world))
    assert len(many) == len(few)


def test_response_matches_the_documented_check_in_fields(world: World) -> None:
    from api.checkins import CheckInSerializer

    response = client_for(world.patient).post(url(world), body(), format="json")
    assert set(response.json()) == set(CheckInSerializer().fields)
