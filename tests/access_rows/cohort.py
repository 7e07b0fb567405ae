"""Access-matrix rows for the cohort endpoints (clinic-level, like clinic defaults).

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
Surgeons and physiotherapists have a cohort (their own episodes only: the other clinic's surgeon gets
200 with nothing of ours, which tests/test_cohort_api.py checks); patients and clinic admins are
refused (403).
"""

from __future__ import annotations

from typing import Any

from recovery.protocols.loading import load_shipped_protocols
from tests.conftest import World
from tests.test_access_matrix import Row


def _protocols(world: World) -> dict[str, Any]:
    load_shipped_protocols()
    return {}


ROWS: list[Row] = [
    Row("cohort", "get", [403, 200, 200, 403, 403, 200, 401], prepare=_protocols),
    Row("cohort-outcomes", "get", [403, 400, 400, 403, 403, 400, 401], prepare=_protocols),
    Row("cohort-export", "get", [403, 200, 200, 403, 403, 200, 401], prepare=_protocols),
]
