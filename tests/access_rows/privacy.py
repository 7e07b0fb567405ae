"""Access rows for privacy: a person's own export, terms consent and erasure request; the clinic
admin's erasure requests and retention.

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
Staff export their own account (no patient records: tests/test_privacy.py); only patients have a
FHIR record and ask for erasure; only clinic admins carry erasure out and set retention.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from recovery.privacy.models import ErasureRequest
from tests.conftest import World
from tests.test_access_matrix import Row

_PATIENTS_ONLY = [200, 403, 403, 403, 200, 403, 401]
_ADMINS_ONLY = [403, 403, 403, 200, 403, 403, 401]
_SIGNED_IN = [200, 200, 200, 200, 200, 200, 401]


def _pending_request(world: World) -> dict[str, Any]:
    row = ErasureRequest.objects.create(
        patient=world.other_patient,
        clinic=world.clinic,
        requested_by=world.other_patient,
        requested_at=timezone.now(),
    )
    return {"request": row}


ROWS: list[Row] = [
    Row("me-export", "get", _SIGNED_IN),
    Row("me-export-fhir", "get", _PATIENTS_ONLY),
    Row("me-erasure", "get", _PATIENTS_ONLY),
    Row(
        "me-erasure",
        "post",
        [201, 403, 403, 403, 201, 403, 401],
        body=lambda world, persona, made: {"confirm": True},
    ),
    Row("me-terms-consent", "get", _SIGNED_IN),
    Row(
        "me-terms-consent",
        "post",
        [201, 201, 201, 201, 201, 201, 401],
        body=lambda world, persona, made: {"version": "2026-05", "accepted": True},
    ),
    Row("clinic-privacy", "get", _ADMINS_ONLY),
    Row("clinic-privacy", "put", _ADMINS_ONLY, body=lambda world, persona, made: {"retention_days": 365}),
    Row("erasure-request-list", "get", _ADMINS_ONLY),
    Row(
        "erasure-request-carry-out",
        "post",
        _ADMINS_ONLY,
        prepare=_pending_request,
        kwargs=lambda world, made: {"request_id": made["request"].id},
    ),
]
