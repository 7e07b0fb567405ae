"""Shared helpers for the FHIR tests (no tests here): a richly filled episode, validation of every
resource with the ``fhir.resources`` R4B models, and reference collection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.apps import apps as django_apps
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from recovery.accounts.models import User
from recovery.alerts.models import Alert, AlertRule, AlertState, Severity
from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode
from recovery.proms.loading import load_shipped
from recovery.proms.models import QuestionnaireResponse
from recovery.proms.services import ResponseData, questionnaire_response_record
from recovery.rehab.models import Assignment
from tests.factories import AssignmentFactory, CheckInFactory, ExerciseFactory

ODI_ANSWERS: dict[str, int | None] = {
    "pain_intensity": 3,
    "personal_care": 1,
    "lifting": 4,
    "walking": 2,
    "sitting": 2,
    "standing": 3,
    "sleeping": 1,
    "sex_life": None,
    "social_life": 2,
    "travelling": 2,
}


#: Required bindings that the R4B models do not enforce (they check structure and primitive formats,
#: not code values): the status-like codes of the resources we export, from the R4 value sets.
REQUIRED_CODES: dict[tuple[str, str], frozenset[str]] = {
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Procedure", "status"): frozenset(
        {
            "preparation",
            "in-progress",
            "not-done",
            "on-hold",
            "stopped",
            "completed",
            "entered-in-error",
            "unknown",
        }
    ),
    ("CarePlan", "status"): frozenset(
        {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
    ),
    ("CarePlan", "intent"): frozenset({"proposal", "plan", "order", "option"}),
    ("QuestionnaireResponse", "status"): frozenset(
        {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
    ),
    ("Flag", "status"): frozenset({"active", "inactive", "entered-in-error"}),
}
ACTIVITY_STATUS = frozenset(
    {
        "not-started",
        "scheduled",
        "in-progress",
        "on-hold",
        "completed",
        "cancelled",
        "stopped",
        "unknown",
        "entered-in-error",
    }
)
DAYS = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})


def validate(resource: dict[str, Any]) -> Any:
    """Parse with the R4B model of the resource's type (raises on anything invalid), and check the
    required code bindings the models leave unchecked."""
    resource_type = resource["resourceType"]
    model = get_fhir_model_class(resource_type).model_validate(resource)
    for (of_type, name), allowed in REQUIRED_CODES.items():
        if of_type == resource_type:
            assert resource[name] in allowed, (resource_type, name, resource[name])
    for activity in resource.get("activity", []) if resource_type == "CarePlan" else []:
        detail = activity["detail"]
        assert detail["status"] in ACTIVITY_STATUS
        repeat = detail["scheduledTiming"]["repeat"]
        assert set(repeat.get("dayOfWeek", [])) <= DAYS
        assert repeat["periodUnit"] in {"s", "min", "h", "d", "wk", "mo", "a"}
    return model


def references(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                found.append(item)
            else:
                found.extend(references(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(references(item))
    return found


@dataclass
class Filled:
    episode: Episode
    checkins: list[CheckIn]
    deleted: CheckIn
    assignments: list[Assignment]
    response: QuestionnaireResponse
    open_alert: Alert
    resolved_alert: Alert


def fill_episode(episode: Episode, patient: User) -> Filled:
    """Two live check-ins (one with walking and steps), one withdrawn, two assignments (one ended),
    a baseline ODI response, an open and a resolved alert."""
    now = timezone.now()
    first = CheckInFactory.create(
        episode=episode, recorded_at=now - timedelta(days=2, hours=3), axial_pain=6, limb_pain=7
    )
    second = CheckInFactory.create(
        episode=episode,
        recorded_at=now - timedelta(hours=5),
        axial_pain=4,
        limb_pain=2,
        walking_minutes=35,
        steps=4200,
    )
    deleted = CheckInFactory.create(
        episode=episode, recorded_at=now - timedelta(days=1), axial_pain=9, limb_pain=9, deleted_at=now
    )
    exercise = ExerciseFactory.create(name="Pelvic tilt")
    running = AssignmentFactory.create(
        episode=episode,
        exercise=exercise,
        sets=3,
        reps=10,
        days_of_week=["mon", "wed", "fri"],
        notes="Slowly.",
    )
    ended = AssignmentFactory.create(
        episode=episode,
        exercise=ExerciseFactory.create(name="Bridge"),
        sets=2,
        reps=None,
        hold_seconds=20,
        start_day=0,
        end_day=30,
        ended_on=episode.surgery_date + timedelta(days=5),
    )
    load_shipped(django_apps)
    day_before = episode.surgery_date - timedelta(days=1)
    response, _ = questionnaire_response_record(
        actor=patient,
        episode=episode,
        data=ResponseData(
            instrument="odi",
            answers=ODI_ANSWERS,
            submitted_at=datetime.combine(day_before, time(12), tzinfo=episode.patient_time_zone),
        ),
    )
    open_alert = Alert.objects.create(
        episode=episode,
        rule=AlertRule.PAIN_RISING,
        severity=Severity.MODERATE,
        reason="Leg pain rising over 3 days.",
        data={},
        raised_at=now - timedelta(hours=1),
    )
    resolved = Alert.objects.create(
        episode=episode,
        rule=AlertRule.NO_CHECKIN,
        severity=Severity.MODERATE,
        reason="No check-in for 3 days.",
        data={},
        raised_at=now - timedelta(days=3),
        state=AlertState.RESOLVED,
        resolved_at=now,
    )
    return Filled(episode, [first, second], deleted, [running, ended], response, open_alert, resolved)
