from __future__ import annotations

from recovery.episodes.models import EpisodeStatus
from tests.conftest import World, client_for


def test_patient_me_includes_active_episode(world: World) -> None:
    data = client_for(world.patient).get("/api/v1/me/").json()
    assert data["id"] == str(world.patient.id)
    assert data["email"] == "patient@river.example"
    assert data["role"] == "patient"
    assert data["clinic"] == {"id": str(world.clinic.id), "name": "Riverside Spine"}
    assert data["active_episode"] == str(world.episode.id)
    assert data["time_zone"] == "Europe/Madrid"


def test_patient_without_a_current_episode_has_null(world: World) -> None:
    world.episode.status = EpisodeStatus.COMPLETED
    world.episode.save()
    assert client_for(world.patient).get("/api/v1/me/").json()["active_episode"] is None


def test_staff_me_has_no_episode(world: World) -> None:
    data = client_for(world.physio).get("/api/v1/me/").json()
    assert data["role"] == "physiotherapist"
    assert data["active_episode"] is None


def test_anonymous_me_is_401_with_error_body(db: None) -> None:
    response = client_for(None).get("/api/v1/me/")
    assert response.status_code == 401
    assert list(response.json()["errors"]) == ["non_field_errors"]
