"""Access rows for FHIR export and import: the patient and the care team export and import one
episode (clinic admins do not read clinical data: 404 like every clinical read); the cohort export is
for clinicians (a surgeon of another clinic gets an empty manifest, patients and admins 403).

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.test_access_matrix import Row


def _episode(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id}


def _bundle(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": []}


ROWS: list[Row] = [
    Row("episode-fhir", "get", [200, 200, 200, 404, 404, 404, 401], kwargs=_episode),
    Row("episode-fhir", "post", [200, 200, 200, 404, 404, 404, 401], kwargs=_episode, body=_bundle),
    Row("cohort-fhir", "get", [403, 200, 200, 403, 403, 200, 401]),
]
