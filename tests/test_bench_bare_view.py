"""The benchmark's framework-free check-in view (bench.bare): the same validated insert, no auth.

The view is called directly (``recovery.urls`` includes ``bench.urls`` only when MOBILIZE_BENCH is
on at import time); one test routes through ``bench.urls`` to check it is reachable without CSRF.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import pytest
import time_machine
from django.test import Client, RequestFactory

from bench.bare import checkin_create
from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode


def _post(episode_id: uuid.UUID, body: Any) -> Any:
    request = RequestFactory().post(
        f"/bench/checkins/{episode_id}/", data=json.dumps(body), content_type="application/json"
    )
    return checkin_create(request, episode_id=episode_id)


def _valid(**changes: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "axial_pain": 4,
        "limb_pain": 3,
        "walking_minutes": 20,
        "red_flags": [],
        "note": "Walked to the corner shop.",
        **changes,
    }


def test_valid_checkin_is_stored_for_the_patient_with_their_local_date(world):
    Episode.objects.filter(pk=world.episode.pk).update(surgery_date=date(2026, 2, 20))
    body = _valid(recorded_at="2026-03-01T23:30:00+00:00", red_flags=["fever", "saddle_numbness", "fever"])

    with time_machine.travel("2026-03-02T00:10:00+00:00", tick=False):
        response = _post(world.episode.id, body)

    assert response.status_code == 201, response.content
    checkin = CheckIn.objects.get(pk=body["id"])
    assert checkin.episode_id == world.episode.id
    assert checkin.created_by_id == world.patient.id
    # 23:30 UTC on 1 March is already 2 March in Madrid (UTC+1).
    assert checkin.local_date == date(2026, 3, 2)
    assert checkin.red_flags == ["saddle_numbness", "fever"]
    answer = json.loads(response.content)
    assert answer["id"] == body["id"]
    assert answer["local_date"] == "2026-03-02"


def test_checkin_without_recorded_at_is_recorded_now(world):
    response = _post(world.episode.id, _valid())

    assert response.status_code == 201, response.content
    assert CheckIn.objects.filter(episode=world.episode).count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("axial_pain", 11),
        ("axial_pain", -1),
        ("limb_pain", "5"),
        ("limb_pain", True),
        ("walking_minutes", 1441),
        ("red_flags", ["not_a_flag"]),
        ("note", "x" * 2001),
        ("mood", "fine"),
    ],
)
def test_invalid_field_is_400_and_stores_nothing(world, field, value):
    response = _post(world.episode.id, _valid(**{field: value}))

    assert response.status_code == 400
    assert field in json.loads(response.content)["errors"]
    assert not CheckIn.objects.exists()


def test_missing_pain_is_400(world):
    body = _valid()
    del body["axial_pain"]

    response = _post(world.episode.id, body)

    assert response.status_code == 400
    assert "axial_pain" in json.loads(response.content)["errors"]


def test_unknown_episode_is_404(world):
    response = _post(uuid.uuid4(), _valid())

    assert response.status_code == 404
    assert not CheckIn.objects.exists()


def test_routed_view_takes_json_posts_without_csrf_token(world, settings):
    settings.ROOT_URLCONF = "bench.urls"
    client = Client(enforce_csrf_checks=True)

    response = client.post(f"/checkins/{world.episode.id}/", _valid(), content_type="application/json")

    assert response.status_code == 201, response.content
