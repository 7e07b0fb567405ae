"""Privacy: the patient's own data (JSON and FHIR), terms consent, erasure and retention."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from recovery.accounts.models import ApiToken, Role, User
from recovery.alerts.models import Alert, AlertState
from recovery.audit.models import AuditRecord
from recovery.checkins.models import CheckIn, CheckInRevision
from recovery.episodes.models import Episode, EpisodeStatus
from recovery.interop.fhir.ids import Kind, stable_id
from recovery.interop.models import ImportedObservation
from recovery.notifications.models import PushSubscription
from recovery.privacy import services, tasks
from recovery.privacy.models import ErasureRequest, ErasureState, TermsConsent
from recovery.protocols.loading import load_shipped_protocols
from recovery.rehab.models import EpisodeRestrictions, ExerciseLog, MovementRestriction
from recovery.reminders.models import (
    DeliveryState,
    ReminderDelivery,
    ReminderKind,
    ReminderSchedule,
    WalkLog,
)
from recovery.security.models import Lockout, LockScope, LoginFailure
from recovery.trajectories.models import MilestoneEvent
from tests.conftest import World, client_for
from tests.factories import PASSWORD, AssignmentFactory, CheckInFactory, EpisodeFactory, UserFactory
from tests.test_trajectory_api import answer

NOW = datetime.fromisoformat("2026-03-20T11:00:00+00:00")
SURGERY = date(2026, 3, 10)
ENDPOINT = "https://push.example.net/wp/abcdefghijklmnop1234"


@pytest.fixture(autouse=True)
def _pinned() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def setup(world: World) -> World:
    load_shipped_protocols()
    Episode.objects.filter(pk__in=[world.episode.pk, world.other_episode.pk]).update(surgery_date=SURGERY)
    world.episode.refresh_from_db()
    return world


def checkin(episode: Episode, post_op_day: int, **values: Any) -> CheckIn:
    local = datetime.combine(SURGERY + timedelta(days=post_op_day), time(9), tzinfo=episode.patient_time_zone)
    return CheckInFactory.create(episode=episode, recorded_at=local, **values)


def patient_data(world: World) -> dict[str, Any]:
    """A patient with notes everywhere, a revision, a log, a push subscription and a sign-in failure."""
    first = checkin(world.episode, 1, axial_pain=7, limb_pain=5, note="Call me at 555-0100, Pat")
    checkin(world.episode, 2, axial_pain=6, limb_pain=4)
    edited = client_for(world.patient).patch(
        f"/api/v1/episodes/{world.episode.id}/check-ins/{first.id}/",
        {"note": "Neighbour Jo drove me to the pharmacy"},
        format="json",
    )
    assert edited.status_code == 200, edited.content
    assignment = AssignmentFactory.create(episode=world.episode, notes="Pat prefers mornings")
    ExerciseLog.objects.create(
        episode=world.episode,
        assignment=assignment,
        performed_at=NOW,
        local_date=NOW.date(),
        sets_completed=2,
        reps_completed=10,
        note="At the Riverside gym",
        created_by=world.patient,
    )
    PushSubscription.objects.create(user=world.patient, endpoint=ENDPOINT, p256dh="x", auth="y")
    LoginFailure.objects.create(email=world.patient.email, address="203.0.113.9", at=NOW, reason="password")
    Lockout.objects.create(scope=LockScope.ACCOUNT, key=world.patient.email, until=NOW + timedelta(minutes=5))
    return {"first": first, "assignment": assignment}


def erase(world: World) -> dict[str, Any]:
    asked = client_for(world.patient).post("/api/v1/me/erasure/", {"confirm": True}, format="json")
    assert asked.status_code == 201, asked.content
    request_id = asked.json()["request"]["id"]
    done = client_for(world.clinic_admin).post(f"/api/v1/clinic/erasure-requests/{request_id}/carry-out/")
    assert done.status_code == 200, done.content
    body: dict[str, Any] = done.json()
    return body


# ---------------------------------------------------------------------------------------------
# export


def test_patient_export_is_an_attachment_with_their_records(setup: World) -> None:
    world = setup
    made = patient_data(world)
    checkin(world.other_episode, 1, note="Olga's own note")
    client_for(world.surgeon).get(f"/api/v1/episodes/{world.episode.id}/")  # leaves an access-log row
    client_for(world.patient).post("/api/v1/me/consents/terms/", {"version": "2026-05", "accepted": True})
    more_clinical_data(world)

    response = client_for(world.patient).get("/api/v1/me/export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="mobilize-export-2026-03-20.json"'
    document = json.loads(response.content)
    assert document["account"]["email"] == "patient@river.example"
    assert document["profile"]["date_of_birth"] == "1968-04-12"
    [episode] = document["episodes"]
    assert episode["id"] == str(world.episode.id)
    assert [c["axial_pain"] for c in episode["checkins"]] == [7, 6]
    [revision] = episode["checkins"][0]["revisions"]
    assert revision["previous"]["note"] == "Call me at 555-0100, Pat"
    assert revision["changed_by_you"] is True
    assert episode["checkins"][0]["note"] == "Neighbour Jo drove me to the pharmacy"
    assert [a["id"] for a in episode["assignments"]] == [str(made["assignment"].id)]
    assert episode["exercise_logs"][0]["note"] == "At the Riverside gym"
    assert episode["care_team"]["surgeon"]["name"] == "Dr Ana Ruiz"
    [subscription] = document["push_subscriptions"]
    assert subscription["endpoint"] == "https://push.example.net/…1234"
    assert ENDPOINT not in response.content.decode()
    assert document["consents"]["terms"][0]["version"] == "2026-05"
    assert [e["who"]["name"] for e in document["access_log"]] == ["Dr Ana Ruiz"]
    assert "Olga" not in response.content.decode()
    [questionnaire] = episode["questionnaire_responses"]
    assert (questionnaire["instrument"], questionnaire["percent"]) == ("odi", 60.0)
    assert episode["milestones"] == [
        {"key": "discharge", "achieved_on": "2026-03-11", "recorded_at": "2026-03-20T11:00:00Z"}
    ]
    assert episode["walks"] == [{"at": "2026-03-20T11:00:00Z", "minutes": 10}]
    assert episode["imported_observations"][0]["value"] == 1200
    assert episode["restrictions"]["forbidden_movements"] == [{"tag": "lumbar_flexion", "until_day": 42}]
    assert document["reminders"]["deliveries"][0]["state"] == "done"


def test_export_costs_the_same_queries_whatever_the_amount_of_data(setup: World) -> None:
    world = setup
    checkin(world.episode, 1)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client_for(world.patient).get("/api/v1/me/export/").status_code == 200
        return len(queries)

    few = count()
    for day in range(2, 8):
        checkin(world.episode, day)
    AssignmentFactory.create(episode=world.episode)
    assert count() == few


def test_staff_export_holds_their_account_but_not_their_patients(setup: World) -> None:
    world = setup
    checkin(world.episode, 1)
    document = client_for(world.surgeon).get("/api/v1/me/export/").json()
    assert document["account"]["email"] == "surgeon@river.example"
    assert document["episodes"] == []
    assert document["profile"] is None
    assert document["access_log"] == []


def test_fhir_download_holds_every_episode_with_the_patient_once(setup: World) -> None:
    world = setup
    second = EpisodeFactory.create(
        patient=world.patient,
        surgeon=world.surgeon,
        surgery_date=date(2025, 6, 1),
        procedure_id="acdf",
        levels=["C5-C6"],
    )
    checkin(world.episode, 1)

    response = client_for(world.patient).get("/api/v1/me/export/fhir/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    bundle = json.loads(response.content)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    types = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert types.count("Patient") == 1
    assert types.count("Practitioner") == 2  # the surgeon and the physiotherapist, once each
    assert types.count("Procedure") == 2
    assert types.count("Observation") == 2  # the check-in's two pain values
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert len(full_urls) == len(bundle["entry"])
    procedures = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Procedure"]
    assert all(p["subject"]["reference"] in full_urls for p in procedures)
    assert {p["id"] for p in procedures} == {
        stable_id(Kind.PROCEDURE, world.episode.pk),
        stable_id(Kind.PROCEDURE, second.pk),
    }


# ---------------------------------------------------------------------------------------------
# terms consent


def test_terms_consent_is_appended_and_a_replay_records_nothing(setup: World) -> None:
    client = client_for(setup.patient)
    first = client.post("/api/v1/me/consents/terms/", {"version": "2026-05", "accepted": True}, format="json")
    again = client.post("/api/v1/me/consents/terms/", {"version": "2026-05", "accepted": True}, format="json")
    declined = client.post(
        "/api/v1/me/consents/terms/", {"version": "2026-05", "accepted": False}, format="json"
    )

    assert (first.status_code, again.status_code, declined.status_code) == (201, 200, 201)
    assert TermsConsent.objects.filter(user=setup.patient).count() == 2
    state = client.get("/api/v1/me/consents/terms/").json()
    assert state["current"] == {"version": "2026-05", "accepted": False, "at": "2026-03-20T11:00:00Z"}
    assert [row["accepted"] for row in state["history"]] == [False, True]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"accepted": True}, "version"),
        ({"version": "2026-05", "accepted": "yes"}, "accepted"),
        ({"version": "x" * 33, "accepted": True}, "version"),
        ({"version": "  ", "accepted": True}, "version"),
        ({"version": "2026-05", "accepted": True, "ip": "1.2.3.4"}, "ip"),
    ],
)
def test_bad_terms_consent_is_400_naming_the_field(setup: World, body: dict[str, Any], field: str) -> None:
    response = client_for(setup.patient).post("/api/v1/me/consents/terms/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not TermsConsent.objects.exists()


# ---------------------------------------------------------------------------------------------
# erasure


@pytest.mark.parametrize("body", [{}, {"confirm": False}, {"confirm": "true"}])
def test_erasure_request_needs_confirm_true(setup: World, body: dict[str, Any]) -> None:
    response = client_for(setup.patient).post("/api/v1/me/erasure/", body, format="json")
    assert response.status_code == 400
    assert "confirm" in response.json()["errors"]
    assert not ErasureRequest.objects.exists()


def test_asking_twice_is_one_request_and_nothing_is_erased_until_an_admin_carries_it_out(
    setup: World,
) -> None:
    client = client_for(setup.patient)
    first = client.post("/api/v1/me/erasure/", {"confirm": True}, format="json")
    again = client.post("/api/v1/me/erasure/", {"confirm": True}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert client.get("/api/v1/me/erasure/").json()["request"]["state"] == "pending"
    setup.patient.refresh_from_db()
    assert setup.patient.is_active and setup.patient.full_name == "Pat Doe"

    listed = client_for(setup.clinic_admin).get("/api/v1/clinic/erasure-requests/?state=pending").json()
    [row] = listed["results"]
    assert row["patient"]["email"] == "patient@river.example"  # the admin can check who is asking


def test_erasure_closes_the_account_and_removes_identifiers_but_keeps_the_numbers(setup: World) -> None:
    world = setup
    made = patient_data(world)
    more_clinical_data(world)
    phone = client_for(world.patient)  # a second sign-in, to be revoked too

    result = erase(world)

    assert result["state"] == "carried_out"
    assert result["carried_out_by"]["name"] == "Kim Admin"
    assert result["removed"]["checkin_notes"] == 1
    assert result["removed"]["checkin_revision_notes"] == 1
    assert result["removed"]["push_subscriptions"] == 1
    assert result["removed"]["login_failures"] == 1
    assert "555" not in json.dumps(result)
    patient = User.objects.get(pk=world.patient.pk)
    assert patient.full_name == "Erased patient"
    assert patient.email == f"erased-{patient.pk.hex}@erased.invalid"
    assert not patient.is_active and not patient.has_usable_password()
    assert patient.patient_profile.date_of_birth == date(1968, 1, 1)
    assert patient.patient_profile.time_zone == "Europe/Madrid"  # local days of the kept data
    checkins = CheckIn.objects.filter(episode=world.episode).order_by("recorded_at")
    assert [(c.axial_pain, c.limb_pain, c.note) for c in checkins] == [(7, 5, ""), (6, 4, "")]
    assert CheckInRevision.objects.get(checkin=made["first"]).previous["note"] == ""
    assert ExerciseLog.objects.get().note == ""
    assert list(ImportedObservation.objects.values_list("value", "resource")) == [(1200, {})]
    made["assignment"].refresh_from_db()
    assert made["assignment"].notes == ""
    assert not PushSubscription.objects.filter(user=patient).exists()
    assert not LoginFailure.objects.exists() and not Lockout.objects.exists()
    assert Episode.objects.get(pk=world.episode.pk).status == EpisodeStatus.COMPLETED
    assert phone.get("/api/v1/me/").status_code == 401
    signed_in = client_for(None).post(
        "/api/v1/auth/token/", {"email": "patient@river.example", "password": PASSWORD}, format="json"
    )
    assert signed_in.status_code == 401


def test_erasure_ends_a_browser_session(setup: World) -> None:
    browser = APIClient()
    browser.force_login(setup.patient)
    assert browser.get("/api/v1/me/").status_code == 200
    erase(setup)
    assert browser.get("/api/v1/me/").status_code in (401, 403)


def test_replaying_the_erasure_is_a_no_op(setup: World) -> None:
    patient_data(setup)
    first = erase(setup)
    again = client_for(setup.clinic_admin).post(f"/api/v1/clinic/erasure-requests/{first['id']}/carry-out/")
    assert again.status_code == 200
    assert again.json() == first
    assert services.patient_erase(patient_id=setup.patient.pk)["identity"] == 0
    assert ErasureRequest.objects.count() == 1


def test_after_erasure_cohort_outcomes_still_count_the_episode(setup: World) -> None:
    world = setup
    patient_data(world)
    url = "/api/v1/cohort/outcomes/?procedure=lumbar_microdiscectomy"
    before = client_for(world.surgeon).get(url).json()

    erase(world)

    after = client_for(world.surgeon).get(url).json()
    assert after["episodes"] == before["episodes"] == 1
    assert [(d["post_op_day"], d["n"], d["axial_median"]) for d in after["pain"]] == [
        (d["post_op_day"], d["n"], d["axial_median"]) for d in before["pain"]
    ]
    assert sum(d["n"] for d in after["pain"]) == 2


def test_after_erasure_no_api_read_names_the_patient(setup: World) -> None:
    world = setup
    patient_data(world)
    erase(world)

    reads = [
        client_for(world.surgeon).get("/api/v1/cohort/"),
        client_for(world.surgeon).get("/api/v1/cohort/export.csv"),
        client_for(world.surgeon).get(f"/api/v1/episodes/{world.episode.id}/"),
        client_for(world.surgeon).get(f"/api/v1/episodes/{world.episode.id}/check-ins/"),
        client_for(world.surgeon).get(f"/api/v1/episodes/{world.episode.id}/fhir/"),
        client_for(world.clinic_admin).get("/api/v1/audit/"),
        client_for(world.clinic_admin).get("/api/v1/clinic/erasure-requests/"),
        client_for(world.clinic_admin).get("/api/v1/episodes/"),
    ]
    for response in reads:
        assert response.status_code == 200, response.request["PATH_INFO"]
        text = response.getvalue().decode()
        for identifier in ("Pat Doe", "patient@river.example", "1968-04-12", "555-0100", "Jo drove"):
            assert identifier not in text, (response.request["PATH_INFO"], identifier)
    assert "Erased patient" in client_for(world.surgeon).get("/api/v1/cohort/").content.decode()


def test_erasure_leaves_the_audit_trail_alone(setup: World) -> None:
    world = setup
    client_for(world.surgeon).get(f"/api/v1/episodes/{world.episode.id}/")
    before = list(AuditRecord.objects.filter(patient_id=world.patient.pk).values_list("pk", "episode_id"))
    erase(world)
    after = AuditRecord.objects.filter(patient_id=world.patient.pk).values_list("pk", "episode_id")
    assert set(before) <= set(after)  # kept; the carry-out adds its own event


def test_erasure_stops_pending_reminders_and_resolves_open_alerts(setup: World) -> None:
    world = setup
    schedule = ReminderSchedule.objects.create(
        episode=world.episode, kind=ReminderKind.WALK, recipient=world.patient, next_due_at=NOW
    )
    pending = ReminderDelivery.objects.create(schedule=schedule, slot=NOW, state=DeliveryState.PENDING)
    alert = Alert.objects.create(
        episode=world.episode, rule="no_checkin", severity="moderate", reason="Silent", raised_at=NOW
    )
    erase(world)
    schedule.refresh_from_db()
    pending.refresh_from_db()
    alert.refresh_from_db()
    assert (schedule.active, schedule.next_due_at) == (False, None)
    assert pending.state == DeliveryState.SKIPPED_CONDITION
    assert alert.state == AlertState.RESOLVED
    assert alert.events.get().note.startswith("Follow-up ended")


def test_a_failed_erasure_changes_nothing(setup: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world = setup
    patient_data(world)
    row, _ = services.erasure_request(patient=world.patient)

    def boom(user_id: uuid.UUID) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_sessions_delete", boom)
    with pytest.raises(RuntimeError):
        services.erasure_carry_out(actor=world.clinic_admin, request_id=row.pk)
    patient = User.objects.get(pk=world.patient.pk)
    assert (patient.full_name, patient.is_active) == ("Pat Doe", True)
    assert ErasureRequest.objects.get().state == ErasureState.PENDING
    assert ApiToken.objects.filter(user=patient).exists()


def test_another_clinics_admin_gets_404(setup: World) -> None:
    row, _ = services.erasure_request(patient=setup.patient)
    elsewhere_admin = UserFactory.create(clinic=setup.other_clinic_surgeon.clinic, role=Role.CLINIC_ADMIN)
    response = client_for(elsewhere_admin).post(f"/api/v1/clinic/erasure-requests/{row.pk}/carry-out/")
    assert response.status_code == 404
    assert client_for(elsewhere_admin).get("/api/v1/clinic/erasure-requests/").json()["results"] == []
    assert ErasureRequest.objects.get().state == ErasureState.PENDING


# ---------------------------------------------------------------------------------------------
# retention and purge


def test_retention_defaults_to_a_labelled_clinic_default_and_can_be_set(setup: World) -> None:
    client = client_for(setup.clinic_admin)
    default = client.get("/api/v1/clinic/privacy/").json()
    assert default["retention_days"] == 3650
    assert default["retention_source"] == "clinic default, not evidence"
    changed = client.put("/api/v1/clinic/privacy/", {"retention_days": 30}, format="json")
    assert changed.status_code == 200
    assert changed.json()["retention_days"] == 30
    assert changed.json()["updated_by"]["name"] == "Kim Admin"


@pytest.mark.parametrize("value", [-1, 36501, "30", 1.5, None])
def test_bad_retention_is_400_naming_the_field(setup: World, value: Any) -> None:
    response = client_for(setup.clinic_admin).put(
        "/api/v1/clinic/privacy/", {"retention_days": value}, format="json"
    )
    assert response.status_code == 400
    assert "retention_days" in response.json()["errors"]


def more_clinical_data(world: World) -> None:
    """A row of every other kind kept under an episode, so the purge must get past every PROTECT."""
    answer(world, world.episode, -1, 3)
    MilestoneEvent.objects.create(
        episode=world.episode, key="discharge", achieved_on=SURGERY + timedelta(days=1), recorded_at=NOW
    )
    schedule = ReminderSchedule.objects.create(
        episode=world.episode, kind=ReminderKind.WALK, recipient=world.patient, next_due_at=None
    )
    delivery = ReminderDelivery.objects.create(schedule=schedule, slot=NOW, state=DeliveryState.DONE)
    WalkLog.objects.create(episode=world.episode, delivery=delivery, at=NOW, minutes=10)
    ImportedObservation.objects.create(
        episode=world.episode,
        identifier_system="https://watch.example",
        identifier_value="obs-1",
        kind="steps",
        value=1200,
        effective_at=NOW,
        local_date=NOW.date(),
        resource={"resourceType": "Observation", "subject": {"display": "Pat Doe"}},
        imported_by=world.patient,
    )
    EpisodeRestrictions.objects.create(episode=world.episode, lifting_limit_kg=5, source="clinic default")
    MovementRestriction.objects.create(episode=world.episode, tag="lumbar_flexion", until_day=42)


def test_purge_deletes_erased_clinical_data_after_the_retention_once(setup: World) -> None:
    world = setup
    patient_data(world)
    more_clinical_data(world)
    Alert.objects.create(episode=world.episode, rule="red_flag", severity="urgent", reason="x", raised_at=NOW)
    client_for(world.surgeon).get(f"/api/v1/episodes/{world.episode.id}/")
    client_for(world.clinic_admin).put("/api/v1/clinic/privacy/", {"retention_days": 30}, format="json")
    checkin(world.other_episode, 1)
    erase(world)
    audit_rows = AuditRecord.objects.filter(patient_id=world.patient.pk).count()

    with time_machine.travel(NOW + timedelta(days=29), tick=False):
        assert tasks.purge_erased_data() == 0
    assert Episode.objects.filter(pk=world.episode.pk).exists()

    with time_machine.travel(NOW + timedelta(days=30, minutes=1), tick=False):
        assert tasks.purge_erased_data() == 1
        assert tasks.purge_erased_data() == 0

    assert not Episode.objects.filter(pk=world.episode.pk).exists()
    assert not CheckIn.objects.filter(episode_id=world.episode.pk).exists()
    assert CheckIn.objects.filter(episode=world.other_episode).count() == 1  # other patients untouched
    assert AuditRecord.objects.filter(patient_id=world.patient.pk).count() == audit_rows
    row = ErasureRequest.objects.get()
    assert row.purged_at is not None
    assert row.purged["episodes"] == 1 and row.purged["checkins"] == 2
    assert row.purged["questionnaire_responses"] == 1 and row.purged["walks"] == 1
    assert not ImportedObservation.objects.exists() and not MilestoneEvent.objects.exists()


def test_the_admin_shows_erasure_requests_read_only_to_their_clinics_admins(setup: World) -> None:
    row, _ = services.erasure_request(patient=setup.patient)
    admin = Client()
    admin.force_login(setup.clinic_admin)
    assert admin.get(f"/admin/privacy/erasurerequest/{row.pk}/change/").status_code == 200
    assert admin.post(f"/admin/privacy/erasurerequest/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    surgeon = Client()
    surgeon.force_login(setup.surgeon)
    assert surgeon.get("/admin/privacy/erasurerequest/").status_code == 403
    elsewhere = Client()
    elsewhere.force_login(
        UserFactory.create(clinic=setup.other_clinic_surgeon.clinic, role=Role.CLINIC_ADMIN)
    )
    assert elsewhere.get(f"/admin/privacy/erasurerequest/{row.pk}/change/").status_code == 302  # not found
    assert ErasureRequest.objects.filter(pk=row.pk).exists()
