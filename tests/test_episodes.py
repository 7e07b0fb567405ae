"""Episodes: the detail shape, post-op day in the patient's zone, and enrolment."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.accounts.models import Invitation, Role, User
from recovery.episodes.models import Episode
from tests.conftest import World, client_for
from tests.factories import EpisodeFactory, PatientFactory, UserFactory


def enrol_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient": {
            "email": "Maria.Lopez@Example.org",
            "name": "María López",
            "date_of_birth": "1971-06-30",
            "time_zone": "America/Mexico_City",
            "preferred_language": "es",
        },
        "procedure": "mis_tlif",
        "levels": ["L5-S1", "L4-L5"],
        "surgery_date": (timezone.now().date() + timedelta(days=14)).isoformat(),
    }
    body.update(overrides)
    return body


def test_episode_detail_has_the_contract_fields(world: World) -> None:
    data = client_for(world.patient).get(f"/api/v1/episodes/{world.episode.id}/").json()
    assert data["id"] == str(world.episode.id)
    assert data["patient"] == {"id": str(world.patient.id), "name": "Pat Doe"}
    assert data["procedure"] == "lumbar_microdiscectomy"
    assert data["levels"] == ["L4-L5"]
    assert data["surgery_date"] == world.episode.surgery_date.isoformat()
    assert data["post_op_day"] == 10
    assert data["status"] == "recovering"
    assert data["care_team"] == {
        "surgeon": {"id": str(world.surgeon.id), "name": "Dr Ana Ruiz"},
        "physiotherapists": [{"id": str(world.physio.id), "name": "Sam Lee"}],
    }


def test_post_op_day_follows_the_patients_calendar(world: World) -> None:
    episode = EpisodeFactory.create(surgery_date=date(2026, 3, 1))
    profile = episode.patient.patient_profile
    profile.time_zone = "Pacific/Auckland"
    profile.save()
    # 2026-03-01 11:30 UTC is already 2 March in Auckland (UTC+13) but still 1 March in London.
    with time_machine.travel(datetime(2026, 3, 1, 11, 30, tzinfo=ZoneInfo("UTC")), tick=False):
        assert client_for(episode.surgeon).get(f"/api/v1/episodes/{episode.id}/").json()["post_op_day"] == 1
        profile.time_zone = "Europe/London"
        profile.save()
        assert client_for(episode.surgeon).get(f"/api/v1/episodes/{episode.id}/").json()["post_op_day"] == 0


@time_machine.travel(datetime(2026, 11, 21, 12, tzinfo=ZoneInfo("UTC")), tick=False)
def test_surgeon_enrols_a_new_patient_who_is_invited(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(world.surgeon).post(
            "/api/v1/episodes/", enrol_body(physiotherapists=[str(world.physio.id)]), format="json"
        )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["levels"] == ["L4-L5", "L5-S1"]
    assert data["status"] == "planned"
    assert data["post_op_day"] == -14
    assert data["care_team"]["surgeon"]["id"] == str(world.surgeon.id)
    patient = User.objects.get(email="maria.lopez@example.org")
    assert (
        patient.role == Role.PATIENT and patient.clinic == world.clinic and not patient.has_usable_password()
    )
    assert patient.patient_profile.preferred_language == "es"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["maria.lopez@example.org"]
    assert "/accounts/set-password/" in mail.outbox[0].body
    assert Invitation.objects.get(user=patient).sent_at is not None


def test_enrolling_an_existing_patient_reuses_the_account_and_sends_no_invitation(world: World) -> None:
    body = enrol_body()
    body["patient"]["email"] = world.patient.email.upper()
    response = client_for(world.surgeon).post("/api/v1/episodes/", body, format="json")
    assert response.status_code == 201
    assert response.json()["patient"]["id"] == str(world.patient.id)
    assert Episode.objects.filter(patient=world.patient).count() == 2
    assert mail.outbox == []


def test_clinic_admin_must_name_a_surgeon_of_the_clinic(world: World) -> None:
    client = client_for(world.clinic_admin)
    response = client.post("/api/v1/episodes/", enrol_body(), format="json")
    assert response.status_code == 400 and "surgeon" in response.json()["errors"]
    foreign = client.post(
        "/api/v1/episodes/", enrol_body(surgeon=str(world.other_clinic_surgeon.id)), format="json"
    )
    assert foreign.status_code == 400 and "surgeon" in foreign.json()["errors"]
    ok = client.post("/api/v1/episodes/", enrol_body(surgeon=str(world.surgeon.id)), format="json")
    assert ok.status_code == 201


def test_enrolment_cannot_use_staff_or_another_clinics_patient(world: World) -> None:
    outsider_patient = PatientFactory.create(
        clinic=world.other_clinic_surgeon.clinic, email="far@else.example"
    )
    for email in (world.physio.email, outsider_patient.email):
        body = enrol_body()
        body["patient"]["email"] = email
        response = client_for(world.surgeon).post("/api/v1/episodes/", body, format="json")
        assert response.status_code == 400
        assert "patient.email" in response.json()["errors"]
    assert Episode.objects.count() == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"procedure": "laminectomy_open"}, "procedure"),
        ({"levels": ["C5-C6"]}, "levels"),
        ({"levels": ["L4-L6"]}, "levels"),
        ({"levels": ["L4-L5", "L4-L5"]}, "levels"),
        ({"levels": []}, "levels"),
        ({"levels": "L4-L5"}, "levels"),
        ({"surgery_date": "next week"}, "surgery_date"),
        ({"surgery_date": "2019-01-01"}, "surgery_date"),
        ({"status": "lost"}, "status"),
        ({"physiotherapists": ["nope"]}, "physiotherapists"),
        ({"physiotherapists": [str(uuid.uuid4())]}, "physiotherapists"),
        ({"colour": "blue"}, "colour"),
        ({"patient": "someone"}, "patient"),
    ],
)
def test_bad_enrolment_is_400_and_creates_nothing(world: World, change: dict[str, Any], field: str) -> None:
    users_before = User.objects.count()
    response = client_for(world.surgeon).post("/api/v1/episodes/", enrol_body(**change), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Episode.objects.count() == 2 and User.objects.count() == users_before
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("patient_change", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "patient.time_zone"),
        ({"time_zone": "europe/madrid"}, "patient.time_zone"),
        ({"email": "not-an-email"}, "patient.email"),
        ({"date_of_birth": "2999-01-01"}, "patient.date_of_birth"),
        ({"preferred_language": "fr"}, "patient.preferred_language"),
        ({"name": ""}, "patient.name"),
        ({"nickname": "M"}, "patient.nickname"),
    ],
)
def test_bad_patient_details_are_named_with_a_dotted_path(
    world: World, patient_change: dict[str, Any], field: str
) -> None:
    body = enrol_body()
    body["patient"].update(patient_change)
    response = client_for(world.surgeon).post("/api/v1/episodes/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_enrolment_with_client_id_is_safe_to_retry(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for(world.surgeon)
    body = enrol_body(id=str(uuid.uuid4()))
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/v1/episodes/", body, format="json")
        second = client.post("/api/v1/episodes/", body, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"] == body["id"]
    assert len(mail.outbox) == 1
    changed = client.post("/api/v1/episodes/", {**body, "levels": ["L3-L4"]}, format="json")
    assert changed.status_code == 409


def test_another_clinic_cannot_replay_an_episode_id(world: World) -> None:
    body = enrol_body(id=str(world.episode.id))
    response = client_for(world.other_clinic_surgeon).post("/api/v1/episodes/", body, format="json")
    assert response.status_code == 409
    assert Episode.objects.get(pk=world.episode.id).clinic == world.clinic


def test_episode_list_query_count_is_constant(world: World) -> None:
    client = client_for(world.clinic_admin)
    client.get("/api/v1/episodes/")
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/episodes/")
    physio = UserFactory.create(clinic=world.clinic, role=Role.PHYSIOTHERAPIST)
    for _ in range(10):
        EpisodeFactory.create(
            patient=PatientFactory.create(clinic=world.clinic),
            surgeon=world.surgeon,
            physiotherapists=[physio, world.physio],
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get("/api/v1/episodes/")
    assert response.json()["count"] == 12
    assert len(many) == len(few)
