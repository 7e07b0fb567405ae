"""Access rows for the expected-recovery protocol endpoints (clinic-level, like clinic defaults).

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
Patients are refused (403); every member of clinic staff reads their own clinic's protocols; surgeons
and clinic admins adopt and override. The other clinic's surgeon acts on their own clinic only
(tests/test_protocols_api.py checks that nothing leaks across).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.test_access_matrix import Row


def _procedure(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"procedure": "lumbar_microdiscectomy"}


def _override(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    return {
        "target": "milestones.driving.expected_by_day",
        "value": 35,
        "reason": "Our surgeons prefer 5 weeks.",
    }


ROWS = [
    Row("protocol-list", "get", [403, 200, 200, 200, 403, 200, 401]),
    Row("protocol-detail", "get", [403, 200, 200, 200, 403, 200, 401], kwargs=_procedure),
    Row(
        "protocol-adopt",
        "post",
        [403, 403, 201, 201, 403, 201, 401],
        kwargs=_procedure,
        body=lambda world, persona, made: {"version": 1},
    ),
    Row("protocol-overrides", "get", [403, 200, 200, 200, 403, 200, 401], kwargs=_procedure),
    Row("protocol-overrides", "post", [403, 403, 201, 201, 403, 201, 401], kwargs=_procedure, body=_override),
]
