"""FHIR import: pain and step Observations become check-in data, idempotently by identifier; every
other entry is reported back with the reason; a body that is not a Bundle is a 400 naming the field."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode, Procedure
from recovery.interop import services
from recovery.interop.models import ImportedObservation
from tests.conftest import World, client_for
from tests.factories import EpisodeFactory
from tests.test_fhir_helpers import Filled, fill_episode, validate

LOINC = "http://loinc.org"
SITES = "https://mobilize.example/fhir/CodeSystem/body-site"
SOURCE = "https://wearable.example/observations"


def _url(episode: Episode) -> str:
    return f"/api/v1/episodes/{episode.id}/fhir/"


def _pain(value: Any, site: str, at: datetime, identifier: str | None = None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "72514-3"}]},
        "bodySite": {"coding": [{"system": SITES, "code": site}]},
        "effectiveDateTime": at.isoformat(),
        "valueInteger": value,
        **extra,
    }
    if identifier is not None:
        resource["identifier"] = [{"system": SOURCE, "value": identifier}]
    return resource


def _steps(
    value: int, at: datetime, identifier: str, code: tuple[str, str] = (LOINC, "55423-8")
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [{"system": SOURCE, "value": identifier}],
        "status": "final",
        "code": {"coding": [{"system": code[0], "code": code[1]}]},
        "effectiveDateTime": at.isoformat(),
        "valueQuantity": {"value": value, "unit": "steps"},
    }


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


@pytest.fixture
def target(world: World) -> Episode:
    """A second lumbar episode on the same surgeon's care team, for another patient."""
    return EpisodeFactory.create(
        patient=world.other_patient, surgeon=world.surgeon, physiotherapists=[world.physio]
    )


def _content(checkins: Any) -> set[tuple[Any, ...]]:
    return {(c.recorded_at, c.axial_pain, c.limb_pain, c.walking_minutes, c.steps) for c in checkins}


def test_round_trip_export_of_one_episode_imported_into_another_stores_the_same_values(
    world: World, target: Episode
) -> None:
    filled: Filled = fill_episode(world.episode, world.patient)
    client = client_for(world.surgeon)
    exported = client.get(_url(world.episode)).json()
    response = client.post(_url(target), exported, format="json")
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["imported"] == 6  # 4 pain values, walking minutes, steps
    assert report["already_imported"] == 0
    assert report["not_imported"] == len(exported["entry"]) - 6
    stored = CheckIn.objects.filter(episode=target, deleted_at__isnull=True)
    assert _content(stored) == _content(filled.checkins)
    assert all(c.created_by == world.surgeon for c in stored)
    assert not ImportedObservation.objects.filter(episode=target, checkin__isnull=True).exists()
    reasons = {e["resource_type"]: e["reason"] for e in report["entries"] if e["outcome"] == "not_imported"}
    assert set(reasons) == {
        "Patient",
        "Practitioner",
        "Procedure",
        "CarePlan",
        "Observation",
        "QuestionnaireResponse",
        "Flag",
    }
    assert reasons["Patient"] == "Patient is not imported: only Observations are."
    assert reasons["Observation"].startswith("code not accepted")  # the ODI score
    # The re-exported target carries the same values, and validates.
    again = client.get(_url(target)).json()
    for entry in again["entry"]:
        validate(entry["resource"])


def test_importing_the_same_bundle_twice_stores_once(world: World, target: Episode) -> None:
    fill_episode(world.episode, world.patient)
    client = client_for(world.surgeon)
    exported = client.get(_url(world.episode)).json()
    client.post(_url(target), exported, format="json")
    rows, checkins = ImportedObservation.objects.count(), CheckIn.objects.filter(episode=target).count()
    second = client.post(_url(target), exported, format="json").json()
    assert second["imported"] == 0
    assert second["already_imported"] == 6
    assert (ImportedObservation.objects.count(), CheckIn.objects.filter(episode=target).count()) == (
        rows,
        checkins,
    )
    # Exporting the target and importing that into the source episode recognises the source's own data.
    back = client.post(_url(world.episode), client.get(_url(target)).json(), format="json").json()
    assert back["imported"] == 0
    assert back["already_imported"] == 6
    assert CheckIn.objects.filter(episode=world.episode, deleted_at__isnull=True).count() == 2


def test_reimporting_an_episodes_own_export_creates_nothing(world: World) -> None:
    fill_episode(world.episode, world.patient)
    client = client_for(world.patient)
    report = client.post(_url(world.episode), client.get(_url(world.episode)).json(), format="json").json()
    assert report["imported"] == 0
    assert report["already_imported"] == 6
    assert not ImportedObservation.objects.exists()
    assert CheckIn.objects.filter(episode=world.episode).count() == 3  # two live, one withdrawn


def test_observation_without_identifier_is_not_imported(world: World) -> None:
    at = timezone.now() - timedelta(hours=1)
    report = (
        client_for(world.patient)
        .post(_url(world.episode), _bundle(_pain(4, "back", at), _pain(2, "leg", at, "x-2")), format="json")
        .json()
    )
    first, second = report["entries"]
    assert first["outcome"] == "not_imported"
    assert first["reason"] == "identifier required for idempotent import"
    assert second["outcome"] == "imported"
    assert second["stored_as"] == "measurement"
    assert not CheckIn.objects.filter(episode=world.episode).exists()


def test_a_single_pain_value_is_kept_as_a_measurement_until_its_partner_arrives(world: World) -> None:
    at = timezone.now() - timedelta(hours=2)
    client = client_for(world.patient)
    first = client.post(_url(world.episode), _bundle(_pain(5, "back", at, "a-1")), format="json").json()
    assert first["entries"][0]["stored_as"] == "measurement"
    assert not CheckIn.objects.filter(episode=world.episode).exists()
    # Exported as its own Observation, with the identifier it came with.
    exported = client.get(_url(world.episode)).json()
    observations = [
        e["resource"] for e in exported["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    assert [(o["identifier"][0]["value"], o["valueInteger"]) for o in observations] == [("a-1", 5)]
    second = client.post(
        _url(world.episode), _bundle(_pain(3, "leg", at, "a-2"), _steps(800, at, "a-3")), format="json"
    ).json()
    assert {e["stored_as"] for e in second["entries"]} == {"checkin"}
    checkin = CheckIn.objects.get(episode=world.episode)
    assert (checkin.axial_pain, checkin.limb_pain, checkin.steps, checkin.walking_minutes) == (
        5,
        3,
        800,
        None,
    )
    assert checkin.recorded_at == at
    assert set(ImportedObservation.objects.values_list("checkin_id", flat=True)) == {checkin.id}


def test_steps_only_observation_is_stored_without_inventing_pain(world: World) -> None:
    at = timezone.now() - timedelta(hours=3)
    report = (
        client_for(world.patient)
        .post(
            _url(world.episode),
            _bundle(
                _steps(5123, at, "s-1"),
                _steps(
                    77,
                    at + timedelta(minutes=1),
                    "s-2",
                    ("https://mobilize.example/fhir/CodeSystem/observation", "steps"),
                ),
            ),
            format="json",
        )
        .json()
    )
    assert [e["outcome"] for e in report["entries"]] == ["imported", "imported"]
    assert not CheckIn.objects.exists()
    assert sorted(ImportedObservation.objects.values_list("kind", "value")) == [
        ("steps", 77),
        ("steps", 5123),
    ]


def test_same_identifier_with_another_value_is_refused_and_the_stored_value_kept(world: World) -> None:
    at = timezone.now() - timedelta(hours=1)
    client = client_for(world.patient)
    client.post(_url(world.episode), _bundle(_pain(4, "back", at, "v-1")), format="json")
    report = client.post(_url(world.episode), _bundle(_pain(8, "back", at, "v-1")), format="json").json()
    assert report["entries"][0]["outcome"] == "not_imported"
    assert "different value" in report["entries"][0]["reason"]
    assert ImportedObservation.objects.get().value == 4


def _at(offset: timedelta = timedelta(0)) -> datetime:
    return timezone.now() + offset


# Resources are built inside the test (not at collection) so that MOBILIZE_TEST_NOW moves them too.
REFUSALS: list[tuple[Any, str]] = [
    (lambda: _pain(4, "neck", _at(), "r-1"), "bodySite neck does not fit this lumbar episode"),
    (lambda: _pain(4, "knee", _at(), "r-2"), "bodySite required for pain"),
    (lambda: _pain(11, "back", _at(), "r-3"), "value 11 is out of range 0-10"),
    (lambda: _pain(4.5, "back", _at(), "r-4"), "valueInteger must be a JSON integer"),
    (lambda: _pain(True, "back", _at(), "r-5"), "valueInteger must be a JSON integer"),
    (lambda: _pain(4, "back", _at(), "r-6", status="preliminary"), "status 'preliminary' is not imported"),
    (
        lambda: {**_pain(4, "back", _at(), "r-7"), "effectiveDateTime": "2026-05-01"},
        "effectiveDateTime must be",
    ),
    (
        lambda: {**_pain(4, "back", _at(), "r-8"), "effectiveDateTime": "2026-05-01T10:00:00"},
        "effectiveDateTime must be",
    ),
    (
        lambda: (
            {
                key: value
                for key, value in _pain(4, "back", _at(), "r-9").items()
                if key != "effectiveDateTime"
            }
            | {"effectivePeriod": {"start": _at().isoformat()}}
        ),
        "effectivePeriod is not imported",
    ),
    (lambda: _pain(4, "back", _at(timedelta(days=2)), "r-10"), "more than 5 minutes in the future"),
    (lambda: _pain(4, "back", _at(timedelta(days=-80)), "r-11"), "more than 30 days before surgery"),
    (
        lambda: {
            **_pain(4, "back", _at(), "r-12"),
            "code": {"coding": [{"system": LOINC, "code": "97909-6"}]},
        },
        "code not accepted",
    ),
    (lambda: {**_steps(100001, _at(), "r-13")}, "value 100001 is out of range 0-100000"),
]


@pytest.mark.parametrize(("build", "reason"), REFUSALS, ids=[reason for _, reason in REFUSALS])
def test_entries_that_do_not_fit_are_reported_with_the_reason(world: World, build: Any, reason: str) -> None:
    report = client_for(world.patient).post(_url(world.episode), _bundle(build()), format="json")
    assert report.status_code == 200
    entry = report.json()["entries"][0]
    assert entry["outcome"] == "not_imported"
    assert reason in entry["reason"]
    assert not ImportedObservation.objects.exists()


def test_answer_coded_pain_is_refused(world: World) -> None:
    resource = _pain(4, "back", timezone.now(), "c-1")
    del resource["valueInteger"]
    resource["valueCodeableConcept"] = {"coding": [{"system": LOINC, "code": "LA6114-8"}]}
    entry = (
        client_for(world.patient)
        .post(_url(world.episode), _bundle(resource), format="json")
        .json()["entries"][0]
    )
    assert entry["outcome"] == "not_imported"
    assert entry["reason"].startswith("answer-coded values are not imported")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([{"resourceType": "Observation"}], "resourceType"),
        ({"resourceType": "Patient"}, "resourceType"),
        ({"entry": []}, "resourceType"),
        ({"resourceType": "Bundle", "entry": {"resource": {}}}, "entry"),
        ({"resourceType": "Bundle", "type": 3, "entry": []}, "type"),
        ({"resourceType": "Bundle", "entry": [{}] * 1001}, "entry"),
    ],
)
def test_a_body_that_is_not_a_bundle_is_400_naming_the_field(world: World, body: Any, field: str) -> None:
    response = client_for(world.patient).post(_url(world.episode), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ImportedObservation.objects.exists()


def test_malformed_json_is_400_and_fhir_json_content_type_is_accepted(world: World) -> None:
    client = client_for(world.patient)
    bad = client.post(_url(world.episode), data="{not json", content_type="application/fhir+json")
    assert bad.status_code == 400
    assert set(bad.json()) == {"errors"}
    at = timezone.now() - timedelta(minutes=30)
    body = json.dumps(_bundle(_pain(2, "back", at, "f-1"), _pain(1, "leg", at, "f-2")))
    good = client.post(_url(world.episode), data=body, content_type="application/fhir+json")
    assert good.status_code == 200, good.content
    assert good.json()["imported"] == 2
    assert (
        CheckIn.objects.get(episode=world.episode).local_date
        == timezone.localtime(at, world.episode.patient_time_zone).date()
    )


def test_duplicate_identifier_inside_one_bundle_is_reported(world: World) -> None:
    at = timezone.now() - timedelta(hours=1)
    report = (
        client_for(world.patient)
        .post(
            _url(world.episode),
            _bundle(_pain(2, "back", at, "d-1"), _pain(2, "back", at, "d-1")),
            format="json",
        )
        .json()
    )
    assert [e["outcome"] for e in report["entries"]] == ["imported", "not_imported"]
    assert report["entries"][1]["reason"] == "same identifier as entry 0 of this Bundle."


def test_cervical_episode_takes_neck_and_arm_pain(world: World) -> None:
    episode = EpisodeFactory.create(
        patient=world.patient,
        surgeon=world.surgeon,
        procedure=Procedure.objects.get(code="acdf"),
        levels=["C5-C6"],
    )
    at = timezone.now() - timedelta(hours=1)
    neck = _pain(6, "neck", at, "n-1")
    arm = {**_pain(3, "arm", at, "n-2"), "bodySite": {"text": "Arm"}}
    report = client_for(world.patient).post(_url(episode), _bundle(neck, arm), format="json").json()
    assert report["imported"] == 2
    checkin = CheckIn.objects.get(episode=episode)
    assert (checkin.axial_pain, checkin.limb_pain) == (6, 3)


def test_ids_of_imported_checkins_are_stable_and_unique_per_pair(world: World, target: Episode) -> None:
    at = timezone.now() - timedelta(hours=1)
    client = client_for(world.surgeon)
    client.post(_url(target), _bundle(_pain(2, "back", at, "u-1"), _pain(1, "leg", at, "u-2")), format="json")
    checkin = CheckIn.objects.get(episode=target)
    axial = ImportedObservation.objects.get(identifier_value="u-1")
    assert checkin.id == uuid.uuid5(
        uuid.UUID("0a367970-b783-443a-b052-602004e9fff1"), f"checkin/imported/{axial.id}"
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_of_one_bundle_store_it_once(world: World) -> None:
    at = timezone.now() - timedelta(hours=1)
    bundle = _bundle(_pain(2, "back", at, "t-1"), _pain(1, "leg", at, "t-2"), _steps(300, at, "t-3"))
    episode = Episode.objects.select_related("patient__patient_profile", "procedure").get(pk=world.episode.pk)
    barrier = threading.Barrier(3)
    imported: list[int] = []

    def run() -> None:
        try:
            barrier.wait()
            imported.append(
                services.fhir_import(actor=world.patient, episode=episode, bundle=bundle).count("imported")
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(imported) == [0, 0, 3]
    assert ImportedObservation.objects.count() == 3
    checkin = CheckIn.objects.get(episode=world.episode)
    assert (checkin.axial_pain, checkin.limb_pain, checkin.steps) == (2, 1, 300)


def test_admin_lists_imported_rows_only_of_the_staff_members_episodes(world: World) -> None:
    at = timezone.now() - timedelta(hours=1)
    client_for(world.patient).post(_url(world.episode), _bundle(_pain(4, "back", at, "adm-1")), format="json")
    seen = {}
    for persona in ("physio", "other_clinic_surgeon"):
        client = Client()
        client.force_login(getattr(world, persona))
        page = client.get("/admin/interop/importedobservation/")
        assert page.status_code == 200
        seen[persona] = "adm-1" in page.content.decode()
    assert seen == {"physio": True, "other_clinic_surgeon": False}
