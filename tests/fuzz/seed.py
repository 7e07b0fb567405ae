"""Real records for the fuzzer to reach: without them every path id is a random UUID and every answer
a 404, so the views behind the guard would never see fuzzed input.

``seed_world`` adds to the ``world`` personas one of each object a path names (an alert, an exercise
assignment, a check-in, a reminder, a clinic exercise, a token per persona, the other patient's
erasure request) and returns the bearer header of each persona and, per path parameter name, the real
values the fuzzer may put there. Values of the other episode are included on purpose: the fuzzer then
also probes the 404/403 side of the access policy with well-formed ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps as django_apps
from django.utils import timezone

from recovery.accounts.services import token_issue
from recovery.alerts.models import Alert, AlertRule, Severity
from recovery.privacy.services import erasure_request
from recovery.proms.loading import load_shipped
from recovery.protocols.loading import load_shipped_protocols
from recovery.reminders.models import DeliveryState, ReminderDelivery, ReminderKind, ReminderSchedule
from tests.conftest import World
from tests.factories import AssignmentFactory, CheckInFactory, ExerciseFactory, load_shipped_rehab

#: Who the fuzzer signs in as (``None``: anonymous). The other patient of the same clinic adds
#: nothing the other-clinic surgeon and the anonymous caller do not already probe.
PERSONAS: tuple[str, ...] = (
    "patient",
    "physio",
    "surgeon",
    "clinic_admin",
    "other_clinic_surgeon",
    "anonymous",
)


@dataclass(frozen=True)
class Seeded:
    headers: dict[str, dict[str, str]]
    path_values: dict[str, list[str]]
    #: Ids a JSON body names at its top level (an exercise log's ``assignment``, an assignment's
    #: ``exercise``, an enrolment's ``surgeon``): a random UUID there only ever meets a 400.
    body_values: dict[str, list[str]]
    #: Query parameters that name a record (``?procedure=``, ``?episode=``): the same idea.
    query_values: dict[str, list[str]]


def _alert(episode: Any) -> Alert:
    return Alert.objects.create(
        episode=episode,
        rule=AlertRule.NO_CHECKIN,
        severity=Severity.MODERATE,
        reason="No check-in for 3 days.",
        data={"days_without_checkin": 3},
        raised_at=timezone.now(),
    )


def _reminder(world: World) -> ReminderDelivery:
    schedule = ReminderSchedule.objects.create(
        episode=world.episode, kind=ReminderKind.WALK, recipient=world.patient, next_due_at=None, active=False
    )
    return ReminderDelivery.objects.create(
        schedule=schedule,
        slot=timezone.now(),
        state=DeliveryState.SENT,
        payload={"title": "Walk", "body": "Time for a walk", "url": "/reminders/", "tag": "walk"},
    )


def seed_world(world: World) -> Seeded:
    # The data migrations' rows are flushed by transactional tests elsewhere; every loader is idempotent.
    load_shipped_protocols()
    load_shipped(django_apps)
    load_shipped_rehab()
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    token_ids: list[str] = []
    for persona in PERSONAS:
        if persona == "anonymous":
            continue
        raw, token = token_issue(user=getattr(world, persona), client="fuzz")
        headers[persona] = {"Authorization": f"Bearer {raw}"}
        token_ids.append(str(token.id))
    clinic_exercise = ExerciseFactory.create(clinic=world.clinic)
    assignment = AssignmentFactory.create(episode=world.episode, prescribed_by=world.physio)
    path_values = {
        "episode_id": [str(world.episode.id), str(world.other_episode.id)],
        "alert_id": [str(_alert(world.episode).id), str(_alert(world.other_episode).id)],
        "assignment_id": [str(assignment.id)],
        "checkin_id": [str(CheckInFactory.create(episode=world.episode).id)],
        "reminder_id": [str(_reminder(world).id)],
        "exercise_id": [str(clinic_exercise.id), str(assignment.exercise.id)],
        "token_id": token_ids,
        # Procedure codes and questionnaire instruments share the name ``code`` in the paths.
        "code": ["mis_tlif", "acdf", "odi", "ndi"],
        "procedure": ["lumbar_microdiscectomy", "acdf"],
        "key": ["discharge", "first_walk", "driving"],
        "request_id": [str(erasure_request(patient=world.other_patient)[0].id)],
    }
    body_values = {
        "assignment": path_values["assignment_id"],
        "exercise": path_values["exercise_id"],
        "surgeon": [str(world.surgeon.id)],
    }
    query_values = {
        "procedure": path_values["procedure"],
        "episode": path_values["episode_id"],
        "patient": [str(world.patient.id)],
    }
    return Seeded(
        headers=headers, path_values=path_values, body_values=body_values, query_values=query_values
    )
