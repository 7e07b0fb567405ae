"""Cohort export in FHIR bulk-data style: a manifest of per-type URLs, each type streamed as NDJSON,
only the clinician's own episodes, a fixed number of queries per chunk of episodes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recovery.interop import selectors
from recovery.interop.fhir.export import RESOURCE_TYPES
from tests.conftest import World, client_for
from tests.factories import CheckInFactory, EpisodeFactory, PatientFactory
from tests.test_fhir_helpers import fill_episode, validate

URL = "/api/v1/cohort/fhir/"


def _lines(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    text = b"".join(response.streaming_content).decode()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_manifest_lists_one_url_per_resource_type(world: World) -> None:
    manifest = client_for(world.surgeon).get(URL).json()
    assert [output["type"] for output in manifest["output"]] == list(RESOURCE_TYPES)
    assert all(
        output["url"] == f"http://testserver{URL}?type={output['type']}" for output in manifest["output"]
    )
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    assert manifest["extension"] == {"episodes": 1}


def test_every_type_streams_valid_resources_of_that_type_only_from_own_episodes(world: World) -> None:
    fill_episode(world.episode, world.patient)
    fill_episode(world.other_episode, world.other_patient)  # another surgeon's: never in our export
    client = client_for(world.surgeon)
    patients = _lines(client.get(URL, {"type": "Patient"}))
    assert [p["name"][0]["text"] for p in patients] == [world.patient.full_name]
    patient_ref = f"Patient/{patients[0]['id']}"
    for resource_type in RESOURCE_TYPES:
        lines = _lines(client.get(URL, {"type": resource_type}))
        assert lines, resource_type
        for resource in lines:
            assert resource["resourceType"] == resource_type
            validate(resource)
            if resource_type not in ("Patient", "Practitioner"):
                assert resource["subject"] == {"reference": patient_ref}


def test_the_episode_bundle_and_the_cohort_hold_the_same_resources(world: World) -> None:
    fill_episode(world.episode, world.patient)
    client = client_for(world.physio)
    bundle = client.get(f"/api/v1/episodes/{world.episode.id}/fhir/").json()
    in_bundle = sorted((e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"])
    in_cohort = sorted(
        (resource["resourceType"], resource["id"])
        for resource_type in RESOURCE_TYPES
        for resource in _lines(client.get(URL, {"type": resource_type}))
    )
    assert in_cohort == in_bundle


def test_a_patient_with_two_episodes_appears_once(world: World) -> None:
    EpisodeFactory.create(patient=world.patient, surgeon=world.surgeon)
    client = client_for(world.surgeon)
    assert len(_lines(client.get(URL, {"type": "Patient"}))) == 1
    assert len(_lines(client.get(URL, {"type": "Procedure"}))) == 2
    assert len(_lines(client.get(URL, {"type": "Practitioner"}))) == 2  # the surgeon and the physio


def test_unknown_type_is_400_naming_type(world: World) -> None:
    response = client_for(world.surgeon).get(URL, {"type": "Encounter"})
    assert response.status_code == 400
    assert "type" in response.json()["errors"]


def test_surgeon_of_another_clinic_gets_an_empty_stream(world: World) -> None:
    fill_episode(world.episode, world.patient)
    assert _lines(client_for(world.other_clinic_surgeon).get(URL, {"type": "Observation"})) == []


def _queries_for_stream(world: World, resource_type: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        lines = list(selectors.cohort_ndjson(user=world.surgeon, resource_type=resource_type, chunk_size=2))
    return len(queries), sum(chunk.count(b"\n") for chunk in lines)


@pytest.mark.parametrize("resource_type", RESOURCE_TYPES)
def test_queries_grow_per_chunk_of_episodes_not_per_record(world: World, resource_type: str) -> None:
    # 1 episode: one chunk, shorter than the chunk size.
    fill_episode(world.episode, world.patient)
    one_chunk, _ = _queries_for_stream(world, resource_type)
    # 5 episodes with many check-ins: three chunks (2, 2, 1).
    for _ in range(4):
        episode = EpisodeFactory.create(
            patient=PatientFactory.create(clinic=world.clinic), surgeon=world.surgeon
        )
        for _ in range(6):
            CheckInFactory.create(episode=episode)
    three_chunks, lines = _queries_for_stream(world, resource_type)
    assert lines > 0
    assert three_chunks == 3 * one_chunk
