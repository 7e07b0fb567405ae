"""A check-in insert with no framework: the baseline the full stack is measured against.

The view does the same validated write as ``POST /api/v1/episodes/{id}/check-ins/`` minus DRF:
``json.loads``, the same fields and ranges checked by hand (strict types, unknown fields refused),
the episode looked up, one ``CheckIn.objects.create`` with ``local_date`` computed in the patient's
time zone, and the same response fields as JSON.

It does NOT authenticate and does not consult the access policy: it records the check-in as the
episode's patient for whoever calls. Nor does it replay a reused ``id`` (that is a failed insert,
500; the benchmark sends a fresh one every time). Authentication, the policy, DRF's request and
response machinery, and the service's idempotency read and transaction are exactly what the
benchmark prices, so they are left out on purpose.

Because it is an unauthenticated write, it is routed only when ``MOBILIZE_BENCH`` is on
(``settings.BENCH_ENABLED``), and ``bench.urls`` refuses to load in production.
"""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from recovery.checkins.models import CheckIn
from recovery.checkins.services import BEFORE_SURGERY_LIMIT, EDIT_WINDOW, FUTURE_TOLERANCE
from recovery.checkins.vocabulary import RED_FLAGS
from recovery.episodes.models import Episode

Errors = dict[str, list[str]]

# The same bounds as api.checkins.CheckInInputSerializer (and the model's check constraints).
_RANGES: dict[str, tuple[int, int]] = {
    "axial_pain": (0, 10),
    "limb_pain": (0, 10),
    "walking_minutes": (0, 1440),
    "steps": (0, 100000),
    "sleep_quality": (0, 10),
}
_REQUIRED = frozenset({"axial_pain", "limb_pain"})
_FIELDS = frozenset({"id", "recorded_at", "took_opioid", "red_flags", "note", *_RANGES})
_FLAG_ORDER = tuple(flag.code for flag in RED_FLAGS)
_FLAG_CODES = frozenset(_FLAG_ORDER)
_MAX_FLAGS = len(_FLAG_ORDER) * 2
_MAX_NOTE = 2000


def _validate_numbers(body: dict[str, Any], values: dict[str, Any], errors: Errors) -> None:
    for name, (low, high) in _RANGES.items():
        if name not in body:
            if name in _REQUIRED:
                errors[name] = ["This field is required."]
            continue
        value = body[name]
        if value is None and name not in _REQUIRED:
            values[name] = None
        elif isinstance(value, bool) or not isinstance(value, int):
            errors[name] = ["Must be a whole number."]
        elif not low <= value <= high:
            errors[name] = [f"Must be between {low} and {high}."]
        else:
            values[name] = value


def _validate_recorded_at(raw: Any, values: dict[str, Any], errors: Errors) -> None:
    parsed: datetime | None = None
    if isinstance(raw, str):
        try:
            parsed = parse_datetime(raw)
        except ValueError:
            parsed = None
    if parsed is None or parsed.utcoffset() is None:
        errors["recorded_at"] = ["Must be an ISO 8601 date-time with a UTC offset."]
    else:
        values["recorded_at"] = parsed


def validate(body: Any) -> tuple[dict[str, Any], Errors]:
    """The check-in fields of a decoded JSON body, or the errors, field by field."""
    if not isinstance(body, dict):
        return {}, {"non_field_errors": ["Send a JSON object."]}
    errors: Errors = {str(name): ["Unknown field."] for name in body if name not in _FIELDS}
    values: dict[str, Any] = {}
    _validate_numbers(body, values, errors)
    if "id" in body:
        try:
            values["id"] = UUID(body["id"])
        except (TypeError, ValueError, AttributeError):
            errors["id"] = ["Must be a valid UUID."]
    if "recorded_at" in body:
        _validate_recorded_at(body["recorded_at"], values, errors)
    took_opioid = body.get("took_opioid")
    if took_opioid is not None and not isinstance(took_opioid, bool):
        errors["took_opioid"] = ["Must be true or false."]
    elif "took_opioid" in body:
        values["took_opioid"] = took_opioid
    flags = body.get("red_flags", [])
    if not isinstance(flags, list) or len(flags) > _MAX_FLAGS:
        errors["red_flags"] = [f"Must be a list of at most {_MAX_FLAGS} red-flag codes."]
    elif not all(isinstance(code, str) and code in _FLAG_CODES for code in flags):
        errors["red_flags"] = ["Unknown red-flag code."]
    else:
        present = set(flags)
        values["red_flags"] = [code for code in _FLAG_ORDER if code in present]
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > _MAX_NOTE:
        errors["note"] = [f"Must be a string of at most {_MAX_NOTE} characters."]
    else:
        values["note"] = note
    return values, errors


def _window_error(episode: Episode, recorded_at: datetime, now: datetime) -> str | None:
    if recorded_at > now + FUTURE_TOLERANCE:
        return "Cannot be more than 5 minutes in the future."
    earliest_day = episode.surgery_date - BEFORE_SURGERY_LIMIT
    if recorded_at < datetime.combine(earliest_day, time.min, tzinfo=episode.patient_time_zone):
        return "Cannot be more than 30 days before surgery."
    return None


def _representation(checkin: CheckIn) -> dict[str, Any]:
    return {
        "id": checkin.id,
        "episode": checkin.episode_id,
        "recorded_at": checkin.recorded_at,
        "local_date": checkin.local_date,
        "axial_pain": checkin.axial_pain,
        "limb_pain": checkin.limb_pain,
        "walking_minutes": checkin.walking_minutes,
        "steps": checkin.steps,
        "sleep_quality": checkin.sleep_quality,
        "took_opioid": checkin.took_opioid,
        "red_flags": checkin.red_flags,
        "note": checkin.note,
        "created_at": checkin.created_at,
        "updated_at": checkin.updated_at,
        "editable_until": checkin.created_at + EDIT_WINDOW,
    }


def _errors(status: int, errors: Errors) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


@csrf_exempt
@require_POST
def checkin_create(request: HttpRequest, episode_id: UUID) -> HttpResponse:
    try:
        body = json.loads(request.body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return _errors(400, {"non_field_errors": ["Malformed JSON."]})
    values, errors = validate(body)
    if errors:
        return _errors(400, errors)
    episode = Episode.objects.select_related("patient__patient_profile").filter(pk=episode_id).first()
    if episode is None:
        return _errors(404, {"non_field_errors": ["Episode not found."]})
    now = timezone.now()
    recorded_at = values.pop("recorded_at", None) or now
    window_error = _window_error(episode, recorded_at, now)
    if window_error is not None:
        return _errors(400, {"recorded_at": [window_error]})
    checkin = CheckIn.objects.create(
        episode=episode,
        created_by_id=episode.patient_id,
        recorded_at=recorded_at,
        local_date=timezone.localtime(recorded_at, episode.patient_time_zone).date(),
        **values,
    )
    return JsonResponse(_representation(checkin), status=201)
