"""Access rows for the audit trail.

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
Only clinic admins search the trail (of their own clinic: tests/test_audit.py); only patients have an
access log (their own); an episode's access log is its care team's (the patient and the clinic admin
see the episode but not this log: 403; tests/test_audit_episode_log.py).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.test_access_matrix import Row


def _episode(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id}


ROWS: list[Row] = [
    Row("audit-list", "get", [403, 403, 403, 200, 403, 403, 401]),
    Row("me-access-log", "get", [200, 403, 403, 403, 200, 403, 401]),
    Row("episode-access-log", "get", [403, 200, 200, 403, 404, 404, 401], kwargs=_episode),
]
