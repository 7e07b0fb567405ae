"""An episode's access log for its care team: ``GET /api/v1/episodes/{id}/access-log/``.

Who (name, role), what and when, for staff reads and changes of this episode's records that went
through; no addresses or browser strings; the patient and the clinic admin are sent elsewhere (403).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recovery.audit.models import AuditEvent
from tests.conftest import World, client_for
from tests.factories import CheckInFactory, EpisodeFactory

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def log_url(episode_id: uuid.UUID) -> str:
    return f"/api/v1/episodes/{episode_id}/access-log/"


def checkins_url(episode_id: uuid.UUID) -> str:
    return f"/api/v1/episodes/{episode_id}/check-ins/"


def test_surgeon_sees_who_viewed_the_episode_newest_first_without_addresses(world: World, clock: Any) -> None:
    CheckInFactory.create(episode=world.episode)
    assert client_for(world.physio).get(checkins_url(world.episode.id)).status_code == 200
    clock.shift(timedelta(minutes=5))
    assert client_for(world.clinic_admin).get(f"/api/v1/episodes/{world.episode.id}/").status_code == 200
    clock.shift(timedelta(minutes=5))

    response = client_for(world.surgeon).get(log_url(world.episode.id))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    first, second = body["results"]
    assert first["who"] == {
        "id": str(world.clinic_admin.id),
        "name": world.clinic_admin.full_name,
        "role": "clinic_admin",
    }
    assert (first["role"], first["action"], first["resource"], first["via"]) == (
        "clinic_admin",
        "view",
        "api:episode-detail",
        "app",
    )
    assert second["who"]["name"] == world.physio.full_name
    assert (second["role"], second["action"], second["resource"]) == (
        "physiotherapist",
        "list",
        "api:checkin-list",
    )
    assert datetime.fromisoformat(first["at"]) == NOW + timedelta(minutes=5)
    for entry in body["results"]:
        assert not {"address", "user_agent", "client", "device", "path", "email"} & set(entry)
        assert "email" not in entry["who"]


def test_only_this_episodes_events_are_listed(world: World, clock: Any) -> None:
    # The admin reads the other episode; the surgeon of this one must not see that.
    assert (
        client_for(world.clinic_admin).get(f"/api/v1/episodes/{world.other_episode.id}/").status_code == 200
    )
    response = client_for(world.physio).get(log_url(world.episode.id))
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_refused_attempts_are_left_to_the_clinic_admins(world: World, clock: Any) -> None:
    # A physiotherapist may not set restrictions: a 403 recorded in the trail, not in the care team's log.
    refused = client_for(world.physio).put(
        f"/api/v1/episodes/{world.episode.id}/restrictions/", {"forbidden_movements": []}, format="json"
    )
    assert refused.status_code == 403
    assert AuditEvent.objects.filter(status_code=403).exists()
    response = client_for(world.surgeon).get(log_url(world.episode.id))
    assert response.json()["count"] == 0


def test_reading_the_log_is_itself_recorded_and_shown_next_time(world: World, clock: Any) -> None:
    surgeon = client_for(world.surgeon)
    assert surgeon.get(log_url(world.episode.id)).json()["count"] == 0
    clock.shift(timedelta(seconds=1))
    body = surgeon.get(log_url(world.episode.id)).json()
    assert [(e["who"]["name"], e["resource"]) for e in body["results"]] == [
        (world.surgeon.full_name, "api:episode-access-log")
    ]


def test_exclude_self_leaves_out_the_readers_own_views_only(world: World, clock: Any) -> None:
    surgeon = client_for(world.surgeon)
    assert surgeon.get(checkins_url(world.episode.id)).status_code == 200
    clock.shift(timedelta(seconds=1))
    assert client_for(world.physio).get(checkins_url(world.episode.id)).status_code == 200
    clock.shift(timedelta(seconds=1))
    others = surgeon.get(f"{log_url(world.episode.id)}?exclude_self=true").json()
    assert [e["who"]["name"] for e in others["results"]] == [world.physio.full_name]
    clock.shift(timedelta(seconds=1))
    everyone = surgeon.get(f"{log_url(world.episode.id)}?exclude_self=false").json()
    # Newest first: the surgeon's previous read of the log, the physio's read, the surgeon's own.
    assert [e["who"]["name"] for e in everyone["results"]] == [
        world.surgeon.full_name,
        world.physio.full_name,
        world.surgeon.full_name,
    ]
    bad = surgeon.get(f"{log_url(world.episode.id)}?exclude_self=yes")
    assert bad.status_code == 400
    assert "exclude_self" in bad.json()["errors"]


@pytest.mark.parametrize("persona", ["patient", "clinic_admin"])
def test_patient_and_clinic_admin_are_refused_with_403(world: World, persona: str) -> None:
    response = client_for(getattr(world, persona)).get(log_url(world.episode.id))
    assert response.status_code == 403
    assert set(response.json()) == {"errors"}


@pytest.mark.parametrize("persona", ["other_patient", "other_clinic_surgeon"])
def test_outsiders_get_404(world: World, persona: str) -> None:
    assert client_for(getattr(world, persona)).get(log_url(world.episode.id)).status_code == 404


def test_physio_not_on_the_team_of_another_episode_gets_404(world: World) -> None:
    foreign = EpisodeFactory.create(clinic=world.clinic, surgeon=world.surgeon)
    assert client_for(world.physio).get(log_url(foreign.id)).status_code == 404


def test_bad_page_size_is_a_400_naming_the_field(world: World) -> None:
    response = client_for(world.surgeon).get(f"{log_url(world.episode.id)}?page_size=x")
    assert response.status_code == 400
    assert "page_size" in response.json()["errors"]


def test_pages_hold_the_asked_size_and_the_rest_follows(world: World, clock: Any) -> None:
    physio = client_for(world.physio)
    for _ in range(5):
        physio.get(checkins_url(world.episode.id))
        clock.shift(timedelta(seconds=1))
    surgeon = client_for(world.surgeon)
    first = surgeon.get(f"{log_url(world.episode.id)}?page_size=3").json()
    assert first["count"] == 5 and len(first["results"]) == 3 and first["next"]
    second = surgeon.get(f"{log_url(world.episode.id)}?page_size=3&page=2").json()
    ids = [e["id"] for e in first["results"] + second["results"]]
    assert len(set(ids)) == 5


def _queries_for_log(world: World) -> int:
    client = client_for(world.surgeon)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"{log_url(world.episode.id)}?page_size=50").status_code == 200
    return len(queries)


def test_query_count_does_not_grow_with_events_or_actors(world: World, clock: Any) -> None:
    client_for(world.physio).get(checkins_url(world.episode.id))
    few = _queries_for_log(world)
    for reader in (world.physio, world.clinic_admin, world.surgeon):
        for _ in range(4):
            clock.shift(timedelta(seconds=1))
            client_for(reader).get(f"/api/v1/episodes/{world.episode.id}/")
    assert AuditEvent.objects.count() > 12
    assert _queries_for_log(world) == few
