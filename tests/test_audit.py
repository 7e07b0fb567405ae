"""The audit trail: staff reads and writes of patient records are recorded automatically, with the
write in one transaction, append-only; clinic admins search their clinic's trail, a patient sees who
opened their record.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from recovery.accounts.models import Role, User
from recovery.accounts.services import token_issue
from recovery.audit.models import AppendOnlyError, AuditEvent, AuditRecord
from recovery.checkins.models import CheckIn
from recovery.rehab.models import Assignment, Exercise
from recovery.security.models import TokenDevice
from tests.conftest import World, client_for
from tests.factories import CheckInFactory, EpisodeFactory, ExerciseFactory, PatientFactory, UserFactory

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


def named_client(user: User, device: str = "", **kwargs: Any) -> APIClient:
    """A bearer-token client whose token has a device name, sending a browser string."""
    raw, token = token_issue(user=user)
    if device:
        TokenDevice.objects.create(token=token, name=device)
    client = APIClient(**kwargs)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_USER_AGENT="WardBrowser/1.0")
    return client


def records_of(event: AuditEvent) -> set[tuple[uuid.UUID | None, uuid.UUID]]:
    return {(r.episode_id, r.patient_id) for r in AuditRecord.objects.filter(event=event)}


def checkins_url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/check-ins/"


def assignments_url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/assignments/"


@pytest.fixture
def plain() -> Exercise:
    return ExerciseFactory.create(name="Heel raises", default_reps=10, movement_tags=[])


# --- What is recorded ------------------------------------------------------------------------------


def test_surgeon_viewing_checkins_records_one_event_with_the_episode_and_patient(world: World) -> None:
    CheckInFactory.create(episode=world.episode)
    response = named_client(world.surgeon, device="Ward tablet").get(checkins_url(world))
    assert response.status_code == 200

    event = AuditEvent.objects.get()
    assert (event.actor, event.actor_role, event.clinic_id) == (world.surgeon, "surgeon", world.clinic.pk)
    assert (event.action, event.method, event.status_code) == ("list", "GET", 200)
    assert event.resource == "api:checkin-list"
    assert event.route == "api/v1/episodes/<uuid:episode_id>/check-ins/"
    assert event.path == checkins_url(world)
    assert (event.address, event.user_agent, event.device) == ("127.0.0.1", "WardBrowser/1.0", "Ward tablet")
    assert records_of(event) == {(world.episode.id, world.patient.id)}


def test_opening_one_checkin_is_a_view(world: World) -> None:
    checkin = CheckInFactory.create(episode=world.episode)
    response = client_for(world.physio).get(f"{checkins_url(world)}{checkin.id}/")
    assert response.status_code == 200
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.resource) == (world.physio, "view", "api:checkin-detail")
    assert records_of(event) == {(world.episode.id, world.patient.id)}


def test_address_behind_a_trusted_proxy_is_the_one_the_proxy_saw(world: World, settings: Any) -> None:
    settings.SECURITY_TRUSTED_PROXIES = 1
    client = client_for(world.surgeon)
    client.get(checkins_url(world), HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9", REMOTE_ADDR="10.0.0.2")
    assert AuditEvent.objects.get().address == "203.0.113.9"


def test_patients_own_reads_and_writes_are_not_recorded(world: World) -> None:
    patient = client_for(world.patient)
    assert patient.get(checkins_url(world)).status_code == 200
    body = {"id": str(uuid.uuid4()), "axial_pain": 3, "limb_pain": 2}
    assert patient.post(checkins_url(world), body, format="json").status_code == 201
    assert patient.get(f"/api/v1/episodes/{world.episode.id}/").status_code == 200
    assert not AuditEvent.objects.exists()


def test_clinic_admin_listing_episodes_records_each_episode_shown(world: World) -> None:
    response = client_for(world.clinic_admin).get("/api/v1/episodes/")
    assert response.status_code == 200
    event = AuditEvent.objects.get()
    assert event.action == "list"
    assert records_of(event) == {
        (world.episode.id, world.patient.id),
        (world.other_episode.id, world.other_patient.id),
    }


def test_a_page_records_only_the_episodes_on_that_page(world: World) -> None:
    response = client_for(world.clinic_admin).get("/api/v1/episodes/?page_size=1")
    shown = {uuid.UUID(row["id"]) for row in response.json()["results"]}
    assert len(shown) == 1
    assert {episode for episode, _ in records_of(AuditEvent.objects.get())} == shown


def test_a_staff_request_touching_no_patient_record_is_not_recorded(world: World) -> None:
    assert client_for(world.surgeon).get("/api/v1/me/").status_code == 200
    assert client_for(world.physio).get("/api/v1/exercises/").status_code == 200
    assert not AuditEvent.objects.exists()


def test_cohort_export_read_as_ids_is_recorded_as_an_export_when_the_stream_ends(world: World) -> None:
    from recovery.protocols.loading import load_shipped_protocols

    load_shipped_protocols()
    response = client_for(world.surgeon).get("/api/v1/cohort/export.csv")
    assert response.status_code == 200
    assert not AuditEvent.objects.exists()  # nothing streamed yet
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert str(world.episode.id).encode() in body
    event = AuditEvent.objects.get()
    assert (event.action, event.resource) == ("export", "api:cohort-export")
    assert records_of(event) == {(world.episode.id, world.patient.id)}


def test_an_episode_enrolled_by_a_surgeon_is_recorded_as_created(world: World) -> None:
    body = {
        "patient": {
            "email": "new.patient@example.org",
            "name": "New Patient",
            "date_of_birth": "1980-02-03",
            "time_zone": "Europe/Madrid",
        },
        "procedure": "lumbar_microdiscectomy",
        "levels": ["L4-L5"],
        "surgery_date": (NOW.date() + timedelta(days=7)).isoformat(),
    }
    response = client_for(world.surgeon).post("/api/v1/episodes/", body, format="json")
    assert response.status_code == 201, response.json()
    event = AuditEvent.objects.get()
    new_patient = User.objects.get(email="new.patient@example.org")
    assert (event.action, event.status_code) == ("create", 201)
    assert records_of(event) == {(uuid.UUID(response.json()["id"]), new_patient.id)}


# --- Writes: in the same transaction ---------------------------------------------------------------


def test_physio_prescribing_commits_the_event_with_the_write(world: World, plain: Exercise) -> None:
    response = client_for(world.physio).post(
        assignments_url(world), {"exercise": str(plain.id)}, format="json"
    )
    assert response.status_code == 201, response.json()
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.method, event.status_code) == (
        world.physio,
        "create",
        "POST",
        201,
    )
    assert event.resource == "api:assignment-list"
    assert records_of(event) == {(world.episode.id, world.patient.id)}
    assert Assignment.objects.filter(episode=world.episode).count() == 1


def test_a_refused_bad_prescription_leaves_no_event(world: World, plain: Exercise) -> None:
    response = client_for(world.physio).post(
        assignments_url(world), {"exercise": str(plain.id), "sets": "three"}, format="json"
    )
    assert response.status_code == 400
    assert not Assignment.objects.exists()
    assert not AuditEvent.objects.exists()
    assert not AuditRecord.objects.exists()


def test_when_the_audit_insert_fails_the_write_rolls_back_with_it(
    world: World, plain: Exercise, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An address longer than its column: the database refuses the audit row itself.
    monkeypatch.setattr("recovery.security.net.client_address", lambda request: "x" * 100)
    client = named_client(world.physio, raise_request_exception=False)
    response = client.post(assignments_url(world), {"exercise": str(plain.id)}, format="json")
    assert response.status_code == 500
    assert not Assignment.objects.exists()
    assert not AuditEvent.objects.exists()


def test_when_the_write_fails_after_writing_its_audit_event_goes_too(
    world: World, plain: Exercise, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api import prescription

    real = prescription.AssignmentSerializer.to_representation

    def crash(self: Any, instance: Any) -> Any:
        real(self, instance)
        raise RuntimeError("serializer bug after the write")

    monkeypatch.setattr(prescription.AssignmentSerializer, "to_representation", crash)
    client = named_client(world.physio, raise_request_exception=False)
    response = client.post(assignments_url(world), {"exercise": str(plain.id)}, format="json")
    assert response.status_code == 500
    assert not Assignment.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_refused_write_on_a_visible_record_is_recorded_as_refused(world: World) -> None:
    body = {"id": str(uuid.uuid4()), "axial_pain": 3, "limb_pain": 2}
    response = client_for(world.surgeon).post(checkins_url(world), body, format="json")
    assert response.status_code == 403
    assert not CheckIn.objects.exists()
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.status_code) == (world.surgeon, "create", 403)
    assert records_of(event) == {(world.episode.id, world.patient.id)}


def test_outsiders_leave_no_rows_about_records_they_cannot_see(world: World) -> None:
    checkin = CheckInFactory.create(episode=world.episode)
    outsider = client_for(world.other_clinic_surgeon)
    assert outsider.get(f"/api/v1/episodes/{world.episode.id}/").status_code == 404
    assert outsider.get(checkins_url(world)).status_code == 404
    assert outsider.get(f"{checkins_url(world)}{checkin.id}/").status_code == 404
    assert (
        outsider.patch(f"{checkins_url(world)}{checkin.id}/", {"note": "x"}, format="json").status_code == 404
    )
    # Same clinic, not on the care team: the check-ins do not exist for the clinic admin either.
    assert client_for(world.clinic_admin).get(checkins_url(world)).status_code == 404
    assert not AuditRecord.objects.filter(episode_id=world.episode.id).exists()
    assert not AuditRecord.objects.filter(patient_id=world.patient.id).exists()


# --- The patient's access log ----------------------------------------------------------------------


def test_patient_sees_who_viewed_their_record(world: World, clock: Any) -> None:
    named_client(world.surgeon, device="Clinic desktop").get(f"/api/v1/episodes/{world.episode.id}/")
    clock.shift(timedelta(minutes=5))
    client_for(world.physio).get(checkins_url(world))

    response = client_for(world.patient).get("/api/v1/me/access-log/")
    assert response.status_code == 200
    entries = response.json()["results"]
    assert [(e["who"]["name"], e["role"], e["action"]) for e in entries] == [
        ("Sam Lee", "physiotherapist", "list"),
        ("Dr Ana Ruiz", "surgeon", "view"),
    ]
    latest, first = entries
    assert first["episodes"] == [str(world.episode.id)]
    assert (first["resource"], first["via"], first["device"]) == (
        "api:episode-detail",
        "app",
        "Clinic desktop",
    )
    assert datetime.fromisoformat(first["at"]) < datetime.fromisoformat(latest["at"])
    # A colleague's network address and browser are for the clinic's admins, not in the patient's log.
    assert "address" not in first and "user_agent" not in first


def test_patient_log_leaves_out_refused_attempts(world: World) -> None:
    body = {"id": str(uuid.uuid4()), "axial_pain": 3, "limb_pain": 2}
    client_for(world.surgeon).post(checkins_url(world), body, format="json")
    assert AuditEvent.objects.filter(status_code=403).exists()
    assert client_for(world.patient).get("/api/v1/me/access-log/").json()["results"] == []


def test_another_patient_cannot_see_it(world: World) -> None:
    client_for(world.surgeon).get(checkins_url(world))
    assert AuditEvent.objects.exists()
    other = client_for(world.other_patient).get("/api/v1/me/access-log/")
    assert other.status_code == 200
    assert other.json()["results"] == []


def test_only_patients_have_an_access_log(world: World) -> None:
    for persona in (world.surgeon, world.physio, world.clinic_admin):
        response = client_for(persona).get("/api/v1/me/access-log/")
        assert response.status_code == 403
        assert set(response.json()) == {"errors"}


def test_access_log_runs_the_same_queries_however_long_it_is(world: World) -> None:
    def count() -> int:
        patient = client_for(world.patient)
        with CaptureQueriesContext(connection) as queries:
            assert patient.get("/api/v1/me/access-log/").status_code == 200
        return len(queries)

    client_for(world.surgeon).get(checkins_url(world))
    few = count()
    for staff in (world.physio, world.surgeon, world.physio):
        client_for(staff).get(f"/api/v1/episodes/{world.episode.id}/")
    assert count() == few


# --- Clinic admins search --------------------------------------------------------------------------


def _search(user: User, query: str = "") -> Any:
    response = client_for(user).get(f"/api/v1/audit/{query}")
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def test_clinic_admin_searches_by_patient_actor_action_and_dates(world: World, clock: Any) -> None:
    client_for(world.surgeon).get(checkins_url(world))
    clock.shift(timedelta(days=2))
    client_for(world.physio).get(f"/api/v1/episodes/{world.episode.id}/")
    other_surgeon = world.other_episode.surgeon
    client_for(other_surgeon).get(f"/api/v1/episodes/{world.other_episode.id}/")

    everything = _search(world.clinic_admin)
    assert len(everything) == 3
    mine = _search(world.clinic_admin, f"?patient={world.patient.id}")
    assert [e["actor"]["email"] for e in mine] == ["physio@river.example", "surgeon@river.example"]
    assert mine[1]["records"] == [
        {
            "episode": str(world.episode.id),
            "patient": {"id": str(world.patient.id), "name": "Pat Doe", "email": "patient@river.example"},
        }
    ]
    assert mine[1]["client"]["address"] == "127.0.0.1"
    assert AuditEvent.objects.count() == 3  # searching the trail is not itself recorded
    by_episode = _search(world.clinic_admin, f"?episode={world.other_episode.id}")
    assert [e["actor"]["id"] for e in by_episode] == [str(other_surgeon.id)]
    assert [e["actor"]["id"] for e in _search(world.clinic_admin, f"?actor={world.surgeon.id}")] == [
        str(world.surgeon.id)
    ]
    assert {e["action"] for e in _search(world.clinic_admin, "?action=list")} == {"list"}
    assert len(_search(world.clinic_admin, "?action=view,list")) == 3
    day_one = NOW.date().isoformat()
    assert [e["actor"]["id"] for e in _search(world.clinic_admin, f"?from={day_one}&to={day_one}")] == [
        str(world.surgeon.id)
    ]
    later = quote((NOW + timedelta(days=1)).isoformat())
    assert len(_search(world.clinic_admin, f"?from={later}")) == 2


def test_clinic_admin_of_another_clinic_cannot_search_it(world: World) -> None:
    client_for(world.surgeon).get(checkins_url(world))
    elsewhere_admin = UserFactory.create(clinic=world.other_clinic_surgeon.clinic, role=Role.CLINIC_ADMIN)
    assert _search(elsewhere_admin) == []
    assert _search(elsewhere_admin, f"?patient={world.patient.id}") == []
    assert len(_search(world.clinic_admin)) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?actor=someone", "actor"),
        ("?patient=1", "patient"),
        ("?episode=x", "episode"),
        ("?action=peek", "action"),
        ("?from=yesterday", "from"),
        ("?to=2026-13-01", "to"),
        ("?from=2026-11-21T10:00", "from"),
        ("?from=2026-11-22&to=2026-11-21", "from"),
        ("?page=0", "page"),
    ],
)
def test_bad_search_is_400_naming_the_parameter(world: World, query: str, field: str) -> None:
    response = client_for(world.clinic_admin).get(f"/api/v1/audit/{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_clinicians_cannot_search_the_trail(world: World) -> None:
    for persona in (world.surgeon, world.physio, world.patient):
        assert client_for(persona).get("/api/v1/audit/").status_code == 403


def test_search_runs_the_same_queries_however_many_events(world: World) -> None:
    def count() -> int:
        admin = client_for(world.clinic_admin)
        with CaptureQueriesContext(connection) as queries:
            assert admin.get("/api/v1/audit/").status_code == 200
        return len(queries)

    client_for(world.surgeon).get(checkins_url(world))
    few = count()
    client_for(world.clinic_admin).get("/api/v1/episodes/")
    client_for(world.physio).get(checkins_url(world))
    assert count() == few


# --- Append-only -----------------------------------------------------------------------------------


@pytest.fixture
def event(world: World) -> AuditEvent:
    client_for(world.surgeon).get(checkins_url(world))
    return AuditEvent.objects.get()


def test_orm_cannot_change_or_delete_an_event(event: AuditEvent) -> None:
    event.status_code = 200
    event.address = "10.9.9.9"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(address="10.9.9.9")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    record = AuditRecord.objects.get(event=event)
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.all().delete()
    assert AuditEvent.objects.get().address == "127.0.0.1"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET address = '10.9.9.9'",
        "DELETE FROM audit_auditevent",
        "UPDATE audit_auditrecord SET patient_id = episode_id",
        "DELETE FROM audit_auditrecord",
    ],
)
def test_postgres_refuses_raw_sql_update_and_delete(event: AuditEvent, sql: str) -> None:
    assert connection.vendor == "postgresql"
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.get().address == "127.0.0.1"
    assert AuditRecord.objects.filter(event=event).count() == 1


# --- The Django admin ------------------------------------------------------------------------------


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_trail_is_read_only_and_searchable_by_patient_email(world: World, event: AuditEvent) -> None:
    admin = admin_client(world.clinic_admin)
    listing = admin.get("/admin/audit/auditevent/?q=patient@river.example")
    assert listing.status_code == 200
    assert str(event.pk) in listing.content.decode()
    assert admin.get("/admin/audit/auditevent/?q=other@river.example").context["cl"].result_count == 0
    assert admin.get(f"/admin/audit/auditevent/?q={world.episode.id}").context["cl"].result_count == 1
    detail = admin.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert detail.status_code == 200
    assert str(world.episode.id) in detail.content.decode()
    assert admin.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    change = admin.post(f"/admin/audit/auditevent/{event.pk}/change/", {"address": "10.9.9.9"})
    assert change.status_code == 403
    assert AuditEvent.objects.get().address == "127.0.0.1"


def test_admin_trail_is_scoped_to_the_clinic_and_closed_to_clinicians(
    world: World, event: AuditEvent
) -> None:
    elsewhere_admin = UserFactory.create(clinic=world.other_clinic_surgeon.clinic, role=Role.CLINIC_ADMIN)
    assert admin_client(elsewhere_admin).get("/admin/audit/auditevent/").context["cl"].result_count == 0
    assert admin_client(world.surgeon).get("/admin/audit/auditevent/").status_code == 403
    assert "/admin/audit/" not in admin_client(world.surgeon).get("/admin/").content.decode()
    assert "/admin/audit/" in admin_client(world.clinic_admin).get("/admin/").content.decode()


def test_staff_reading_patient_records_in_the_admin_is_recorded(world: World) -> None:
    response = admin_client(world.physio).get("/admin/episodes/episode/")
    assert response.status_code == 200
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.resource) == (
        world.physio,
        "list",
        "admin:episodes_episode_changelist",
    )
    assert records_of(event) == {(world.episode.id, world.patient.id)}


# --- Automatic for every endpoint, and what it costs -----------------------------------------------


def test_every_authenticated_api_view_starts_the_trail() -> None:
    """A view that replaced the default permission classes would skip the audit silently."""
    from api import urls as api_urls
    from api.audit_trail import AuditTrail
    from tests.test_access_matrix import PUBLIC

    public = {name for name, _ in PUBLIC}
    for pattern in api_urls.urlpatterns:
        view_class = pattern.callback.view_class  # type: ignore[attr-defined]
        if pattern.name in public:
            continue
        assert AuditTrail in view_class.permission_classes, pattern.name


def test_a_staff_read_costs_one_query(world: World) -> None:
    CheckInFactory.create(episode=world.episode)
    client = named_client(world.surgeon, device="Ward tablet")
    with CaptureQueriesContext(connection) as queries:
        assert client.get(checkins_url(world)).status_code == 200
    audit = [q["sql"] for q in queries if "audit_" in q["sql"] or "security_tokendevice" in q["sql"]]
    assert len(audit) == 1, audit


def test_a_patient_check_in_costs_nothing(world: World) -> None:
    client = client_for(world.patient)
    body = {"id": str(uuid.uuid4()), "axial_pain": 3, "limb_pain": 2}
    with CaptureQueriesContext(connection) as queries:
        assert client.post(checkins_url(world), body, format="json").status_code == 201
    assert not [q["sql"] for q in queries if "audit_" in q["sql"] or "tokendevice" in q["sql"]]
    # No extra transaction either: one savepoint pair from the check-in service's own atomic block.
    assert sum("SAVEPOINT" in q["sql"] and "RELEASE" not in q["sql"] for q in queries) <= 1


def test_a_second_episode_of_another_patient_shows_in_that_patients_log_only(world: World) -> None:
    second = EpisodeFactory.create(patient=world.other_patient, surgeon=world.surgeon, clinic=world.clinic)
    client_for(world.surgeon).get(f"/api/v1/episodes/{second.id}/")
    mine = client_for(world.patient).get("/api/v1/me/access-log/").json()["results"]
    theirs = client_for(world.other_patient).get("/api/v1/me/access-log/").json()["results"]
    assert mine == []
    assert [e["episodes"] for e in theirs] == [[str(second.id)]]


def test_the_one_statement_insert_names_every_column_of_the_event() -> None:
    from recovery.audit.services import _COLUMNS

    assert AuditEvent._meta.db_table == "audit_auditevent"
    assert AuditRecord._meta.db_table == "audit_auditrecord"
    assert TokenDevice._meta.db_table == "security_tokendevice"
    assert {f.attname for f in AuditEvent._meta.concrete_fields} == {*_COLUMNS, "device"}


def test_the_orm_insert_of_other_databases_writes_the_same_rows(world: World) -> None:
    from recovery.audit.services import _COLUMNS, _insert_with_the_orm

    _raw, token = token_issue(user=world.physio)
    TokenDevice.objects.create(token=token, name="Gym laptop")
    row: dict[str, Any] = dict.fromkeys(_COLUMNS, "")
    row.update(
        id=uuid.uuid4(),
        at=NOW,
        actor_id=world.physio.pk,
        actor_role="physiotherapist",
        clinic_id=world.clinic.pk,
        action="view",
        status_code=200,
    )
    lone = PatientFactory.create(clinic=world.clinic)
    _insert_with_the_orm(
        row,
        token.pk,
        {world.episode.id: None, world.other_episode.id: world.other_patient.id},
        {world.patient.id, lone.id},
    )
    event = AuditEvent.objects.get()
    assert event.device == "Gym laptop"
    assert records_of(event) == {
        (world.episode.id, world.patient.id),
        (world.other_episode.id, world.other_patient.id),
        (None, lone.id),
    }


def test_rows_fetched_from_the_policy_scope_are_noted_however_they_are_fetched(world: World) -> None:
    from django.test import RequestFactory

    from recovery.audit import recording
    from recovery.episodes.access import episodes_for

    def noted(fetch: Any, user: User | None = None) -> set[uuid.UUID]:
        user = user or world.clinic_admin
        request = RequestFactory().get("/api/v1/anything/")
        trail = recording.Trail(request)
        reset = recording._current.set(trail)
        try:
            recording.begin(request, user)
            fetch(episodes_for(user))
        finally:
            recording._current.reset(reset)
        return set(trail.episodes)

    both = {world.episode.id, world.other_episode.id}
    assert noted(lambda qs: list(qs)) == both
    assert noted(lambda qs: list(qs.values_list("pk", flat=True))) == both
    assert noted(lambda qs: list(qs.values("id", "status"))) == both
    assert noted(lambda qs: list(qs.values_list("status", "id"))) == both
    assert noted(lambda qs: list(qs.iterator())) == both
    assert noted(lambda qs: qs.filter(pk=world.episode.id).get()) == {world.episode.id}
    # Counting or checking existence reads no record.
    assert noted(lambda qs: (qs.count(), qs.exists())) == set()
    # A patient's own reads are not recorded.
    assert noted(lambda qs: list(qs), user=world.patient) == set()


def test_handling_an_alert_is_an_update_of_the_patients_record(world: World) -> None:
    from tests.test_alerts_api import make_alert

    alert = make_alert(world.episode)
    listing = client_for(world.physio).get("/api/v1/alerts/")
    assert listing.status_code == 200
    response = client_for(world.physio).post(f"/api/v1/alerts/{alert.id}/acknowledge/", {}, format="json")
    assert response.status_code == 200, response.json()
    listed, acknowledged = AuditEvent.objects.order_by("at")
    assert (listed.action, listed.resource) == ("list", "api:alert-list")
    assert (acknowledged.action, acknowledged.status_code) == ("update", 200)
    assert records_of(acknowledged) == records_of(listed) == {(world.episode.id, world.patient.id)}


@pytest.mark.django_db(transaction=True)
def test_a_read_that_cannot_be_recorded_is_not_served(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    CheckInFactory.create(episode=world.episode, note="private words")
    monkeypatch.setattr("recovery.security.net.client_address", lambda request: "x" * 100)
    response = named_client(world.surgeon, raise_request_exception=False).get(checkins_url(world))
    assert response.status_code == 500
    assert b"private words" not in response.content
    assert not AuditEvent.objects.exists()


def test_a_patients_account_read_without_an_episode_is_recorded(world: World) -> None:
    response = admin_client(world.clinic_admin).get(f"/admin/accounts/user/{world.patient.pk}/change/")
    assert response.status_code == 200
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.resource) == (
        world.clinic_admin,
        "view",
        "admin:accounts_user_change",
    )
    assert records_of(event) == {(None, world.patient.id)}
    entries = client_for(world.patient).get("/api/v1/me/access-log/").json()["results"]
    assert [(e["who"]["name"], e["via"], e["episodes"]) for e in entries] == [("Kim Admin", "admin", [])]
    search = _search(world.clinic_admin, f"?patient={world.patient.id}")
    assert search[0]["records"] == [
        {
            "episode": None,
            "patient": {"id": str(world.patient.id), "name": "Pat Doe", "email": "patient@river.example"},
        }
    ]


def test_a_patient_shown_with_their_episode_gets_one_record(world: World) -> None:
    client_for(world.surgeon).get(f"/api/v1/episodes/{world.episode.id}/")
    assert records_of(AuditEvent.objects.get()) == {(world.episode.id, world.patient.id)}
