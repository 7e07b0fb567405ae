"""Access rows for the audit trail.

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
Only clinic admins search the trail (of their own clinic: tests/test_audit.py); only patients have an
access log (their own).
"""

from __future__ import annotations

from tests.test_access_matrix import Row

ROWS: list[Row] = [
    Row("audit-list", "get", [403, 403, 403, 200, 403, 403, 401]),
    Row("me-access-log", "get", [200, 403, 403, 403, 200, 403, 401]),
]
