"""FHIR export of one episode: every resource valid R4B, references inside the Bundle, the codes from
the clinical reference, stable ids, and a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from recovery.episodes.models import Procedure
from tests.conftest import World, client_for
from tests.factories import CheckInFactory, EpisodeFactory
from tests.test_fhir_helpers import ODI_ANSWERS, Filled, fill_episode, references, validate

LOINC = "http://loinc.org"
BODY_SITE = "https://mobilize.example/fhir/CodeSystem/body-site"


@pytest.fixture
def filled(world: World) -> Filled:
    return fill_episode(world.episode, world.patient)


def _export(world: World, user: Any = None) -> dict[str, Any]:
    response = client_for(user or world.surgeon).get(f"/api/v1/episodes/{world.episode.id}/fhir/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/fhir+json"
    body: dict[str, Any] = response.json()
    return body


def _by_type(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def _pain(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in observations if o["code"]["coding"][0]["code"] == "72514-3"]


def test_every_exported_resource_is_valid_r4b_and_the_bundle_parses(world: World, filled: Filled) -> None:
    bundle = _export(world)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    for entry in bundle["entry"]:
        validate(entry["resource"])
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
    counts: dict[str, int] = {}
    for entry in bundle["entry"]:
        counts[entry["resource"]["resourceType"]] = counts.get(entry["resource"]["resourceType"], 0) + 1
    # 2 live check-ins: 4 pain values, 1 walking, 1 steps; plus 1 questionnaire score.
    assert counts == {
        "Patient": 1,
        "Practitioner": 2,
        "Procedure": 1,
        "CarePlan": 1,
        "Observation": 7,
        "QuestionnaireResponse": 1,
        "Flag": 1,
    }


def test_every_reference_points_at_an_entry_of_the_bundle(world: World, filled: Filled) -> None:
    bundle = _export(world)
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    found = references(bundle["entry"])
    assert found  # subjects, performer, derivedFrom, contributors...
    assert set(found) <= full_urls
    patient = _by_type(bundle, "Patient")[0]
    for resource_type in ("Procedure", "CarePlan", "Observation", "QuestionnaireResponse", "Flag"):
        for resource in _by_type(bundle, resource_type):
            assert resource["subject"]["reference"] == f"urn:uuid:{patient['id']}"


def test_pain_is_loinc_72514_3_with_back_and_leg_body_sites_for_a_lumbar_episode(
    world: World, filled: Filled
) -> None:
    observations = _by_type(_export(world), "Observation")
    pain = _pain(observations)
    assert len(pain) == 4
    stored = {
        (c.recorded_at, site): value
        for c in filled.checkins
        for site, value in (("back", c.axial_pain), ("leg", c.limb_pain))
    }
    exported = {}
    for observation in pain:
        assert observation["code"]["coding"][0]["system"] == LOINC
        site = observation["bodySite"]["coding"][0]
        assert site["system"] == BODY_SITE
        moment = validate(observation).effectiveDateTime
        exported[(moment, site["code"])] = observation["valueInteger"]
    assert exported == stored
    # The withdrawn check-in's 9/9 is not exported.
    assert 9 not in exported.values()


def test_a_cervical_episode_exports_neck_and_arm_pain(world: World) -> None:
    episode = EpisodeFactory.create(
        patient=world.patient,
        surgeon=world.surgeon,
        procedure=Procedure.objects.get(code="acdf"),
        levels=["C5-C6"],
    )
    CheckInFactory.create(episode=episode, axial_pain=5, limb_pain=1)
    bundle = client_for(world.surgeon).get(f"/api/v1/episodes/{episode.id}/fhir/").json()
    sites = {
        o["bodySite"]["coding"][0]["code"]: o["valueInteger"] for o in _pain(_by_type(bundle, "Observation"))
    }
    assert sites == {"neck": 5, "arm": 1}
    procedure = _by_type(bundle, "Procedure")[0]
    assert procedure["code"]["coding"][0]["code"] == "acdf"
    assert procedure["bodySite"] == [{"text": "Spinal level C5-C6"}]


def test_walking_steps_and_questionnaire_score_are_observations(world: World, filled: Filled) -> None:
    bundle = _export(world)
    observations = _by_type(bundle, "Observation")
    by_code = {o["code"]["coding"][0]["code"]: o for o in observations}
    assert by_code["walking-minutes"]["valueQuantity"]["value"] == 35
    assert by_code["walking-minutes"]["valueQuantity"]["code"] == "min"
    assert by_code["steps"]["valueQuantity"]["value"] == 4200
    score = by_code["97909-6"]  # ODI score, from the instrument data (reference section 6, unverified)
    assert score["code"]["coding"][0]["system"] == LOINC
    assert score["valueQuantity"]["value"] == float(filled.response.percent)
    response = _by_type(bundle, "QuestionnaireResponse")[0]
    assert score["derivedFrom"] == [{"reference": f"urn:uuid:{response['id']}"}]
    answered = {item["linkId"]: item["answer"][0]["valueInteger"] for item in response["item"]}
    assert answered == {key: value for key, value in ODI_ANSWERS.items() if value is not None}
    assert response["questionnaire"].startswith("https://mobilize.example/fhir/Questionnaire/odi|")


def test_careplan_has_one_activity_per_assignment_and_procedure_names_surgery(
    world: World, filled: Filled
) -> None:
    bundle = _export(world)
    careplan = _by_type(bundle, "CarePlan")[0]
    activities = careplan["activity"]
    assert len(activities) == len(filled.assignments) == 2
    running, ended = (a["detail"] for a in activities)
    assert running["code"]["text"] == "Pelvic tilt"
    assert running["status"] == "in-progress"
    assert running["scheduledTiming"]["repeat"]["dayOfWeek"] == ["mon", "wed", "fri"]
    assert running["description"].startswith("3 sets, 10 reps")
    assert ended["status"] == "stopped"
    assert "hold 20 s" in ended["description"]
    procedure = _by_type(bundle, "Procedure")[0]
    assert procedure["performedDateTime"] == world.episode.surgery_date.isoformat()
    assert procedure["code"]["coding"][0]["code"] == "lumbar_microdiscectomy"
    practitioners = {p["name"][0]["text"] for p in _by_type(bundle, "Practitioner")}
    assert practitioners == {world.surgeon.full_name, world.physio.full_name}


def test_one_flag_per_open_alert(world: World, filled: Filled) -> None:
    flags = _by_type(_export(world), "Flag")
    assert [f["code"]["text"] for f in flags] == [filled.open_alert.reason]
    assert flags[0]["code"]["coding"][0]["code"] == "pain_rising"


def test_a_second_export_has_the_same_ids_and_identifiers(world: World, filled: Filled) -> None:
    first = _export(world)
    with time_machine.travel(timezone.now() + timedelta(minutes=7)):
        second = _export(world)
    assert first["timestamp"] != second["timestamp"]

    def keys(bundle: dict[str, Any]) -> list[tuple[str, str, Any]]:
        return [(e["fullUrl"], e["resource"]["id"], e["resource"].get("identifier")) for e in bundle["entry"]]

    assert keys(first) == keys(second)
    assert first["id"] == second["id"]


def test_patient_exports_their_own_record(world: World, filled: Filled) -> None:
    bundle = _export(world, world.patient)
    patient = _by_type(bundle, "Patient")[0]
    assert patient["name"] == [{"text": world.patient.full_name}]
    assert patient["birthDate"] == world.patient.patient_profile.date_of_birth.isoformat()


def test_export_takes_a_fixed_number_of_queries(world: World, filled: Filled) -> None:
    client = client_for(world.surgeon)
    url = f"/api/v1/episodes/{world.episode.id}/fhir/"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for hours in range(10):
        CheckInFactory.create(episode=world.episode, recorded_at=timezone.now() - timedelta(hours=hours + 20))
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(_pain(_by_type(response.json(), "Observation"))) == 24
    assert len(many) == len(few)


def test_fhir_clients_accept_headers_are_served(world: World, filled: Filled) -> None:
    client = client_for(world.surgeon)
    bundle = client.get(f"/api/v1/episodes/{world.episode.id}/fhir/", HTTP_ACCEPT="application/fhir+json")
    assert bundle.status_code == 200
    assert bundle["Content-Type"] == "application/fhir+json"
    stream: Any = client.get("/api/v1/cohort/fhir/?type=Flag", HTTP_ACCEPT="application/fhir+ndjson")
    assert stream.status_code == 200
    assert b"".join(stream.streaming_content).count(b"\n") == 1
