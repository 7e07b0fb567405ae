"""Access rows for alerts: the worklist and each alert are the care team's. Patients and clinic
admins (who do not read clinical data) are refused the worklist (403) and do not see any alert (404);
a surgeon of another clinic gets an empty worklist and 404 for the alert.

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from recovery.alerts.models import Alert, AlertRule, Severity
from tests.conftest import World
from tests.test_access_matrix import Row

CARE_TEAM_ONLY = [404, 200, 200, 404, 404, 404, 401]


def _alert(world: World) -> dict[str, Any]:
    alert = Alert.objects.create(
        episode=world.episode,
        rule=AlertRule.NO_CHECKIN,
        severity=Severity.MODERATE,
        reason="No check-in for 3 days.",
        data={"days_without_checkin": 3},
        raised_at=timezone.now(),
    )
    return {"alert": alert}


def _kwargs(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"alert_id": made["alert"].id}


ROWS: list[Row] = [
    Row("alert-list", "get", [403, 200, 200, 403, 403, 200, 401], prepare=_alert),
    Row("alert-detail", "get", CARE_TEAM_ONLY, kwargs=_kwargs, prepare=_alert),
    Row("alert-acknowledge", "post", CARE_TEAM_ONLY, kwargs=_kwargs, prepare=_alert),
    Row(
        "alert-resolve",
        "post",
        CARE_TEAM_ONLY,
        kwargs=_kwargs,
        prepare=_alert,
        body=lambda w, p, m: {"note": "Called the patient; all well."},
    ),
]
