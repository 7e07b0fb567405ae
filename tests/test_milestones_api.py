"""PUT/DELETE /api/v1/episodes/{id}/milestones/{key}/: recording the day a milestone was reached."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recovery.protocols.loading import load_shipped_protocols
from recovery.trajectories.models import MilestoneEvent
from tests.conftest import World, client_for


@pytest.fixture
def protocols(world: World) -> None:
    load_shipped_protocols()


def url(world: World, key: str) -> str:
    return f"/api/v1/episodes/{world.episode.id}/milestones/{key}/"


def test_patient_records_an_event_milestone_and_a_retry_changes_nothing(
    world: World, protocols: None
) -> None:
    day = world.episode.surgery_date + timedelta(days=1)
    client = client_for(world.patient)
    first = client.put(url(world, "discharge"), {"achieved_on": day.isoformat()}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["achieved_on"] == day.isoformat()
    assert first.json()["recorded_by"] == str(world.patient.id)
    again = client.put(url(world, "discharge"), {"achieved_on": day.isoformat()}, format="json")
    assert again.status_code == 200
    assert MilestoneEvent.objects.filter(episode=world.episode, key="discharge").count() == 1


def test_recording_again_moves_the_date(world: World, protocols: None) -> None:
    client = client_for(world.physio)
    client.put(url(world, "driving"), {"achieved_on": world.episode.surgery_date.isoformat()}, format="json")
    later = world.episode.surgery_date + timedelta(days=5)
    response = client.put(url(world, "driving"), {"achieved_on": later.isoformat()}, format="json")
    assert response.status_code == 200
    assert MilestoneEvent.objects.get(episode=world.episode, key="driving").achieved_on == later


def test_future_date_is_400_naming_achieved_on(world: World, protocols: None) -> None:
    tomorrow = world.episode.local_today() + timedelta(days=1)
    response = client_for(world.patient).put(
        url(world, "discharge"), {"achieved_on": tomorrow.isoformat()}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["achieved_on"]
    assert not MilestoneEvent.objects.exists()


def test_date_before_surgery_minus_30_days_is_400(world: World, protocols: None) -> None:
    too_early = world.episode.surgery_date - timedelta(days=31)
    response = client_for(world.surgeon).put(
        url(world, "discharge"), {"achieved_on": too_early.isoformat()}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["achieved_on"]
    earliest = world.episode.surgery_date - timedelta(days=30)
    ok = client_for(world.surgeon).put(
        url(world, "discharge"), {"achieved_on": earliest.isoformat()}, format="json"
    )
    assert ok.status_code == 201


@pytest.mark.parametrize(
    "body", [{}, {"achieved_on": "yesterday"}, {"achieved_on": 20260101}, {"achieved_on": None}]
)
def test_bad_body_is_400_naming_achieved_on(world: World, protocols: None, body: dict[str, object]) -> None:
    response = client_for(world.patient).put(url(world, "discharge"), body, format="json")
    assert response.status_code == 400
    assert "achieved_on" in response.json()["errors"]


def test_unknown_field_is_refused(world: World, protocols: None) -> None:
    body = {"achieved_on": world.episode.surgery_date.isoformat(), "note": "x"}
    response = client_for(world.patient).put(url(world, "discharge"), body, format="json")
    assert response.status_code == 400 and "note" in response.json()["errors"]


def test_unknown_key_is_400_naming_key(world: World, protocols: None) -> None:
    body = {"achieved_on": world.episode.surgery_date.isoformat()}
    response = client_for(world.surgeon).put(url(world, "moon_landing"), body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["key"]
    assert client_for(world.surgeon).delete(url(world, "moon_landing")).status_code == 400


def test_patient_cannot_record_a_data_milestone_but_the_care_team_can_confirm_it(
    world: World, protocols: None
) -> None:
    body = {"achieved_on": world.episode.surgery_date.isoformat()}
    refused = client_for(world.patient).put(url(world, "first_walk"), body, format="json")
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["key"]
    confirmed = client_for(world.physio).put(url(world, "first_walk"), body, format="json")
    assert confirmed.status_code == 201


def test_delete_removes_and_is_idempotent(world: World, protocols: None) -> None:
    client = client_for(world.patient)
    client.put(
        url(world, "discharge"), {"achieved_on": world.episode.surgery_date.isoformat()}, format="json"
    )
    assert client.delete(url(world, "discharge")).status_code == 204
    assert not MilestoneEvent.objects.exists()
    assert client.delete(url(world, "discharge")).status_code == 204


def test_other_patients_episode_is_404_and_nothing_is_written(world: World, protocols: None) -> None:
    body = {"achieved_on": world.episode.surgery_date.isoformat()}
    response = client_for(world.other_patient).put(url(world, "discharge"), body, format="json")
    assert response.status_code == 404
    assert not MilestoneEvent.objects.exists()
