"""Access-matrix rows for the per-episode trajectory and recorded milestones.

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
The patient and the care team read the trajectory and record milestones; a clinic admin does not
read clinical data (404, like check-ins); everyone else is outside the episode (404).
"""

from __future__ import annotations

from typing import Any

from recovery.protocols.loading import load_shipped_protocols
from tests.conftest import World
from tests.test_access_matrix import Row


def _protocols(world: World) -> dict[str, Any]:
    # Idempotent: the rows survive only until a transactional test flushes the tables.
    load_shipped_protocols()
    return {}


def _episode(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id}


def _milestone(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id, "key": "discharge"}


def _achieved(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    return {"achieved_on": world.episode.surgery_date.isoformat()}


ROWS: list[Row] = [
    Row(
        "episode-trajectory",
        "get",
        [200, 200, 200, 404, 404, 404, 401],
        kwargs=_episode,
        prepare=_protocols,
    ),
    Row(
        "episode-milestone",
        "put",
        [201, 201, 201, 404, 404, 404, 401],
        kwargs=_milestone,
        body=_achieved,
        prepare=_protocols,
    ),
    Row(
        "episode-milestone",
        "delete",
        [204, 204, 204, 404, 404, 404, 401],
        kwargs=_milestone,
        prepare=_protocols,
    ),
]
