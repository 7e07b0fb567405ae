"""Builders of FHIR R4 resources (plain dicts) from our records. Pure: no queries, no clock.

Callers hand over records already loaded (``recovery.interop.selectors`` loads a chunk of episodes in
a fixed number of queries) and a ``Referencer`` that decides how resources point at each other: inside
a Bundle by ``urn:uuid:<id>`` (each entry's ``fullUrl``), in bulk NDJSON files by ``Type/<id>``.

Resource ids and identifiers come from ``ids.stable_id``; see ``codes`` for where every code is from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from recovery.interop.fhir import codes
from recovery.interop.fhir.codes import BODY_SITE_DISPLAY, REGION_SITES, BodySite
from recovery.interop.fhir.ids import Kind, stable_id

if TYPE_CHECKING:
    from recovery.accounts.models import User
    from recovery.alerts.selectors import OpenAlert
    from recovery.checkins.models import CheckIn
    from recovery.episodes.models import Episode
    from recovery.interop.models import ImportedObservation
    from recovery.proms.models import QuestionnaireResponse
    from recovery.rehab.models import Assignment

Resource = dict[str, Any]
Referencer = Callable[[str, str], dict[str, str]]

#: Every resource type an export contains, in Bundle order.
RESOURCE_TYPES: Final = (
    "Patient",
    "Practitioner",
    "Procedure",
    "CarePlan",
    "Observation",
    "QuestionnaireResponse",
    "Flag",
)


def bundle_reference(resource_type: str, resource_id: str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource_id}"}


def relative_reference(resource_type: str, resource_id: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id}"}


@dataclass
class EpisodeRecords:
    """What one episode's export is made of, loaded by the caller."""

    episode: Episode
    checkins: Sequence[CheckIn] = ()
    #: Imported rows of this episode: those with a check-in give that check-in's Observations their
    #: original identifiers; those without are exported as measurements of their own.
    imported: Sequence[ImportedObservation] = ()
    responses: Sequence[QuestionnaireResponse] = ()
    assignments: Sequence[Assignment] = ()
    alerts: Sequence[OpenAlert] = ()
    physiotherapists: Sequence[User] = field(default_factory=list)


def instant(moment: datetime) -> str:
    value = moment.astimezone(UTC).isoformat()
    return value[:-6] + "Z" if value.endswith("+00:00") else value


def _identifier(system: str, value: str) -> list[dict[str, str]]:
    return [{"system": system, "value": value}]


def patient_id(user_id: uuid.UUID) -> str:
    return stable_id(Kind.PATIENT, user_id)


def practitioner_id(user_id: uuid.UUID) -> str:
    return stable_id(Kind.PRACTITIONER, user_id)


def patient_resource(patient: User) -> Resource:
    resource_id = patient_id(patient.pk)
    resource: Resource = {
        "resourceType": "Patient",
        "id": resource_id,
        "identifier": _identifier(codes.ID_PATIENT, resource_id),
        "active": patient.is_active,
        "name": [{"text": patient.full_name}],
    }
    profile = getattr(patient, "patient_profile", None)
    if profile is not None:
        resource["birthDate"] = profile.date_of_birth.isoformat()
        resource["communication"] = [
            {
                "language": {"coding": [{"system": codes.BCP47, "code": profile.preferred_language}]},
                "preferred": True,
            }
        ]
    return resource


def practitioner_resource(user: User) -> Resource:
    resource_id = practitioner_id(user.pk)
    return {
        "resourceType": "Practitioner",
        "id": resource_id,
        "identifier": _identifier(codes.ID_PRACTITIONER, resource_id),
        "active": user.is_active,
        "name": [{"text": user.full_name}],
    }


def care_team(records: EpisodeRecords) -> list[User]:
    """The surgeon first, then the physiotherapists by name."""
    team = [records.episode.surgeon]
    team.extend(sorted(records.physiotherapists, key=lambda user: (user.full_name, str(user.pk))))
    return team


def procedure_resource(records: EpisodeRecords, ref: Referencer) -> Resource:
    episode = records.episode
    resource_id = stable_id(Kind.PROCEDURE, episode.pk)
    # A planned episode's surgery has not happened yet (FHIR "preparation"); otherwise it is done.
    status = "preparation" if episode.status == "planned" else "completed"
    return {
        "resourceType": "Procedure",
        "id": resource_id,
        "identifier": _identifier(codes.ID_PROCEDURE, resource_id),
        "status": status,
        # Local code: the clinical reference found no reliable SNOMED CT codes for these procedures
        # (section 6); its CPT codes are for US billing mapping only and are not used here.
        "code": {
            "coding": [
                {
                    "system": codes.PROCEDURE_CODES,
                    "code": episode.procedure.code,
                    "display": episode.procedure.name,
                }
            ],
            "text": episode.procedure.name,
        },
        "subject": ref("Patient", patient_id(episode.patient_id)),
        "performedDateTime": episode.surgery_date.isoformat(),
        "performer": [{"actor": ref("Practitioner", practitioner_id(episode.surgeon_id))}],
        "bodySite": [{"text": f"Spinal level {level}"} for level in episode.levels],
    }


def _dose(assignment: Assignment) -> str:
    parts = [f"{assignment.sets} set{'s' if assignment.sets != 1 else ''}"]
    if assignment.reps is not None:
        parts.append(f"{assignment.reps} reps")
    if assignment.hold_seconds is not None:
        parts.append(f"hold {assignment.hold_seconds} s")
    if assignment.load_kg is not None:
        parts.append(f"{assignment.load_kg} kg")
    per_day = assignment.sessions_per_day
    text = ", ".join(parts) + f"; {per_day} session{'s' if per_day != 1 else ''} a day"
    window = f"post-op day {assignment.start_day}"
    window += f" to {assignment.end_day}" if assignment.end_day is not None else " onwards"
    text += f"; {window}"
    if assignment.notes:
        text += f". {assignment.notes}"
    return text


def _activity_status(assignment: Assignment, post_op_day: int) -> str:
    if assignment.ended_on is not None:
        return "stopped"
    if assignment.start_day > post_op_day:
        return "scheduled"
    if assignment.end_day is not None and assignment.end_day < post_op_day:
        return "completed"
    return "in-progress"


def _day(surgery_date: date, post_op_day: int) -> str:
    return (surgery_date + timedelta(days=post_op_day)).isoformat()


def careplan_resource(records: EpisodeRecords, ref: Referencer, *, post_op_day: int) -> Resource:
    episode = records.episode
    resource_id = stable_id(Kind.CAREPLAN, episode.pk)
    activities = []
    for assignment in records.assignments:
        bounds: dict[str, str] = {"start": _day(episode.surgery_date, assignment.start_day)}
        if assignment.end_day is not None:
            bounds["end"] = _day(episode.surgery_date, assignment.end_day)
        repeat: dict[str, Any] = {
            "boundsPeriod": bounds,
            "frequency": assignment.sessions_per_day,
            "period": 1,
            "periodUnit": "d",
        }
        if assignment.days_of_week:
            repeat["dayOfWeek"] = list(assignment.days_of_week)
        exercise = assignment.exercise
        activities.append(
            {
                "detail": {
                    "code": {
                        "coding": [
                            {
                                "system": codes.EXERCISE_CODES,
                                "code": str(exercise.pk),
                                "display": exercise.name,
                            }
                        ],
                        "text": exercise.name,
                    },
                    "status": _activity_status(assignment, post_op_day),
                    "doNotPerform": False,
                    "scheduledTiming": {"repeat": repeat},
                    "description": _dose(assignment),
                }
            }
        )
    resource: Resource = {
        "resourceType": "CarePlan",
        "id": resource_id,
        "identifier": _identifier(codes.ID_CAREPLAN, resource_id),
        "status": "completed" if episode.status == "completed" else "active",
        "intent": "plan",
        "title": "Rehabilitation exercises after spine surgery",
        "subject": ref("Patient", patient_id(episode.patient_id)),
        "period": {"start": episode.surgery_date.isoformat()},
        "contributor": [ref("Practitioner", practitioner_id(user.pk)) for user in care_team(records)],
        "supportingInfo": [ref("Procedure", stable_id(Kind.PROCEDURE, episode.pk))],
    }
    if activities:
        resource["activity"] = activities
    return resource


def _pain_site(region: str, axial: bool) -> BodySite:
    axial_site, limb_site = REGION_SITES[region]
    return axial_site if axial else limb_site


def body_site(site: BodySite) -> dict[str, Any]:
    display = BODY_SITE_DISPLAY[site]
    return {"coding": [{"system": codes.BODY_SITE, "code": site.value, "display": display}], "text": display}


@dataclass(frozen=True)
class Measurement:
    """One Observation's worth of check-in data."""

    kind: str  # MeasurementKind value
    value: int
    effective_at: datetime


_KIND_ID: Final = {
    "axial_pain": Kind.AXIAL_PAIN,
    "limb_pain": Kind.LIMB_PAIN,
    "walking_minutes": Kind.WALKING_MINUTES,
    "steps": Kind.STEPS,
}


def measurement_observation(
    *,
    resource_id: str,
    identifier: tuple[str, str],
    measurement: Measurement,
    region: str,
    subject: dict[str, str],
) -> Resource:
    kind = measurement.kind
    resource: Resource = {
        "resourceType": "Observation",
        "id": resource_id,
        "identifier": _identifier(*identifier),
        "status": "final",
        "subject": subject,
        "effectiveDateTime": instant(measurement.effective_at),
    }
    if kind in ("axial_pain", "limb_pain"):
        resource["category"] = [codes.category(*codes.SURVEY)]
        resource["code"] = {"coding": [codes.PAIN.coding()], "text": "Pain 0-10"}
        resource["bodySite"] = body_site(_pain_site(region, axial=kind == "axial_pain"))
        resource["valueInteger"] = measurement.value
    elif kind == "walking_minutes":
        resource["category"] = [codes.category(*codes.ACTIVITY)]
        resource["code"] = {"coding": [codes.WALKING_MINUTES.coding()], "text": "Minutes walked"}
        resource["valueQuantity"] = {
            "value": measurement.value,
            "unit": "min",
            "system": codes.UCUM,
            "code": "min",
        }
    else:
        resource["category"] = [codes.category(*codes.ACTIVITY)]
        resource["code"] = {"coding": [codes.STEPS.coding()], "text": "Steps"}
        resource["valueQuantity"] = {
            "value": measurement.value,
            "unit": "steps",
            "system": codes.UCUM,
            "code": "{steps}",
        }
    return resource


def checkin_measurements(checkin: CheckIn) -> list[Measurement]:
    found = [
        Measurement("axial_pain", checkin.axial_pain, checkin.recorded_at),
        Measurement("limb_pain", checkin.limb_pain, checkin.recorded_at),
    ]
    if checkin.walking_minutes is not None:
        found.append(Measurement("walking_minutes", checkin.walking_minutes, checkin.recorded_at))
    if checkin.steps is not None:
        found.append(Measurement("steps", checkin.steps, checkin.recorded_at))
    return found


def own_identifier_values(checkin_id: uuid.UUID) -> set[str]:
    """The identifier values our export gives a check-in's Observations (for spotting a re-import)."""
    return {stable_id(kind, checkin_id) for kind in _KIND_ID.values()}


def observations(records: EpisodeRecords, ref: Referencer) -> Iterator[Resource]:
    episode = records.episode
    region = episode.procedure.region
    subject = ref("Patient", patient_id(episode.patient_id))
    sources: dict[tuple[uuid.UUID, str], tuple[str, str]] = {}
    for row in records.imported:
        if row.checkin_id is not None:
            sources[(row.checkin_id, row.kind)] = (row.identifier_system, row.identifier_value)
    for checkin in records.checkins:
        for measurement in checkin_measurements(checkin):
            resource_id = stable_id(_KIND_ID[measurement.kind], checkin.pk)
            # An imported check-in keeps the identifiers it came with: importing this export again,
            # here or where it came from, is then recognised as already imported.
            identifier = sources.get((checkin.pk, measurement.kind), (codes.ID_OBSERVATION, resource_id))
            yield measurement_observation(
                resource_id=resource_id,
                identifier=identifier,
                measurement=measurement,
                region=region,
                subject=subject,
            )
    for row in records.imported:
        if row.checkin_id is None:
            yield measurement_observation(
                resource_id=stable_id(Kind.IMPORTED_OBSERVATION, row.pk),
                identifier=(row.identifier_system, row.identifier_value),
                measurement=Measurement(row.kind, row.value, row.effective_at),
                region=region,
                subject=subject,
            )
    for response in records.responses:
        yield prom_score_observation(response, ref=ref, subject=subject)


def prom_score_observation(
    response: QuestionnaireResponse, *, ref: Referencer, subject: dict[str, str]
) -> Resource:
    resource_id = stable_id(Kind.PROM_SCORE, response.pk)
    instrument = response.instrument
    # The score code comes with the instrument data, which cites the clinical reference section 6
    # (ODI 97909-6 and NDI 82237-9, both confidence M: "verify at loinc.org").
    score = instrument.loinc.get("score") if isinstance(instrument.loinc, dict) else None
    coding: list[dict[str, str]] = []
    if isinstance(score, dict) and score.get("code"):
        coding.append(
            {"system": codes.LOINC, "code": str(score["code"]), "display": str(score.get("display", ""))}
        )
    coding.append(
        {
            "system": codes.OBSERVATION_CODES,
            "code": f"{instrument.code}-score-percent",
            "display": f"{instrument.code.upper()} score, percent (0-100)",
        }
    )
    percent = response.percent if isinstance(response.percent, Decimal) else Decimal(str(response.percent))
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "identifier": _identifier(codes.ID_OBSERVATION, resource_id),
        "status": "final",
        "category": [codes.category(*codes.SURVEY)],
        "code": {"coding": coding, "text": f"{instrument.code.upper()} score"},
        "subject": subject,
        "effectiveDateTime": instant(response.submitted_at),
        "valueQuantity": {"value": float(percent), "unit": "%", "system": codes.UCUM, "code": "%"},
        "derivedFrom": [ref("QuestionnaireResponse", stable_id(Kind.QUESTIONNAIRE_RESPONSE, response.pk))],
    }


def questionnaire_response_resource(
    response: QuestionnaireResponse, ref: Referencer, subject: dict[str, str]
) -> Resource:
    resource_id = stable_id(Kind.QUESTIONNAIRE_RESPONSE, response.pk)
    instrument = response.instrument
    answers = response.answers if isinstance(response.answers, dict) else {}
    try:
        order = list(instrument.definition.item_keys)
    except ValueError:
        order = []
    keys = [key for key in order if key in answers] + sorted(key for key in answers if key not in order)
    items = []
    for key in keys:
        value = answers[key]
        # A skipped item has no answer; FHIR has no "null" answer, so it is left out.
        if isinstance(value, int) and not isinstance(value, bool):
            items.append({"linkId": key, "answer": [{"valueInteger": value}]})
    resource: Resource = {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id,
        "identifier": {"system": codes.ID_QUESTIONNAIRE_RESPONSE, "value": resource_id},
        "questionnaire": f"{codes.QUESTIONNAIRE_BASE}/{instrument.code}|{response.instrument_version}",
        "status": "completed",
        "subject": subject,
        "authored": instant(response.submitted_at),
    }
    if items:
        resource["item"] = items
    return resource


def flag_resource(alert: OpenAlert, ref: Referencer, subject: dict[str, str]) -> Resource:
    resource_id = stable_id(Kind.FLAG, alert.id)
    return {
        "resourceType": "Flag",
        "id": resource_id,
        "identifier": _identifier(codes.ID_FLAG, resource_id),
        "status": "active",
        "category": [
            {"coding": [{"system": codes.FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]},
            {"coding": [{"system": codes.ALERT_SEVERITY, "code": alert.severity}], "text": alert.severity},
        ],
        "code": {"coding": [{"system": codes.ALERT_RULE, "code": alert.rule}], "text": alert.reason},
        "subject": subject,
        "period": {"start": instant(alert.raised_at)},
    }


def episode_resources(
    records: EpisodeRecords,
    ref: Referencer,
    *,
    post_op_day: int,
    types: Iterable[str] = RESOURCE_TYPES,
) -> Iterator[Resource]:
    """The episode's resources of the requested types, in ``RESOURCE_TYPES`` order. Patient and
    Practitioners are included per episode; callers exporting several episodes de-duplicate them."""
    wanted = set(types)
    episode = records.episode
    subject = ref("Patient", patient_id(episode.patient_id))
    if "Patient" in wanted:
        yield patient_resource(episode.patient)
    if "Practitioner" in wanted:
        for user in care_team(records):
            yield practitioner_resource(user)
    if "Procedure" in wanted:
        yield procedure_resource(records, ref)
    if "CarePlan" in wanted:
        yield careplan_resource(records, ref, post_op_day=post_op_day)
    if "Observation" in wanted:
        yield from observations(records, ref)
    if "QuestionnaireResponse" in wanted:
        for response in records.responses:
            yield questionnaire_response_resource(response, ref, subject)
    if "Flag" in wanted:
        for alert in records.alerts:
            yield flag_resource(alert, ref, subject)


def collection_bundle(records: EpisodeRecords, *, now: datetime, post_op_day: int) -> Resource:
    """One episode as a FHIR Bundle of type ``collection``; every reference is a ``urn:uuid:`` fullUrl
    of another entry."""
    entries = [
        {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
        for resource in episode_resources(records, bundle_reference, post_op_day=post_op_day)
    ]
    return {
        "resourceType": "Bundle",
        "id": stable_id(Kind.BUNDLE, records.episode.pk),
        "type": "collection",
        "timestamp": instant(now),
        "entry": entries,
    }
