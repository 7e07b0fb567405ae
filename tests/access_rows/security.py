"""Access rows for security: one's own tokens (someone else's token is 404), staff-only two-factor
enrolment (patients 403), and the clinic's security policy (its admins only).

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
"""

from __future__ import annotations

from typing import Any

from recovery.accounts.services import token_issue
from tests.conftest import World
from tests.test_access_matrix import Row

SIGNED_IN = [200, 200, 200, 200, 200, 200, 401]
STAFF_ONLY = [403, 201, 201, 201, 403, 201, 401]
CLINIC_ADMIN_ONLY = [403, 403, 403, 200, 403, 403, 401]


def _patient_token(world: World) -> dict[str, Any]:
    _, token = token_issue(user=world.patient, client="row")
    return {"token": token}


ROWS: list[Row] = [
    Row("token-list", "get", SIGNED_IN),
    Row("token-list", "delete", [204, 204, 204, 204, 204, 204, 401]),
    Row(
        "token-detail",
        "delete",
        [204, 404, 404, 404, 404, 404, 401],
        kwargs=lambda world, made: {"token_id": made["token"].id},
        prepare=_patient_token,
    ),
    Row("totp", "get", SIGNED_IN),
    Row("totp", "post", STAFF_ONLY),
    # Nobody has an authenticator yet: nothing to remove.
    Row("totp", "delete", [404, 404, 404, 404, 404, 404, 401], body=lambda w, p, m: {"otp": "000000"}),
    # Patients may not enrol; staff who never started enrolment are told to start it.
    Row("totp-confirm", "post", [403, 400, 400, 400, 403, 400, 401], body=lambda w, p, m: {"otp": "000000"}),
    Row("clinic-security", "get", CLINIC_ADMIN_ONLY),
    Row("clinic-security", "put", CLINIC_ADMIN_ONLY, body=lambda w, p, m: {"totp_required": False}),
]
