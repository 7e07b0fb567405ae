"""Parsing an incoming FHIR Bundle into accepted measurements and per-entry rejections. Pure: no
database, no clock. ``recovery.interop.services.fhir_import`` applies the episode's own rules (time
window, identifiers already imported) and stores.

Accepted, entry by entry (anything else is reported back with the reason, never silently dropped):

- ``resourceType`` Observation, ``status`` final, amended or corrected;
- an ``identifier`` with ``system`` and ``value`` (the first such one is used): imports are idempotent
  on it, so an Observation without one is refused;
- ``code``: LOINC 72514-3 (pain 0-10, clinical reference section 6) with a ``bodySite`` of back or neck
  (our axial pain) or leg or arm (limb pain), matching the episode's region; or a step count (our local
  ``steps`` code, or LOINC 55423-8, which is NOT from the clinical reference and unverified); or
  walking minutes (our local ``walking-minutes`` code);
- a whole-number ``valueInteger`` or ``valueQuantity.value`` in range (pain 0-10, steps 0-100000,
  walking 0-1440 minutes, the same limits as a check-in); walking minutes in UCUM ``min`` if a unit
  code is given. Answer-coded pain (LOINC LA codes) is refused: the reference notes one of those codes
  is ambiguous ("LA6113-0 displays '2 or more' ... check");
- ``effectiveDateTime`` or ``effectiveInstant`` with a UTC offset (periods are refused: one instant is
  what a check-in stores).

``subject`` and ``performer`` are not read: the URL names the episode the data belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from django.utils.dateparse import parse_datetime

from recovery.core.errors import ValidationFailed
from recovery.interop.fhir import codes
from recovery.interop.fhir.codes import REGION_SITES, BodySite

MAX_ENTRIES: Final = 1000
MAX_IDENTIFIER_LENGTH: Final = 500
ACCEPTED_STATUSES: Final = frozenset({"final", "amended", "corrected"})
RANGES: Final[dict[str, tuple[int, int]]] = {
    "axial_pain": (0, 10),
    "limb_pain": (0, 10),
    "steps": (0, 100000),
    "walking_minutes": (0, 1440),
}
_BODY_SITE_WORDS: Final = {site.value: site for site in BodySite}
_ACCEPTED_CODES = (
    "LOINC 72514-3 (pain 0-10 with bodySite), a step count (LOINC 55423-8 or "
    f"{codes.STEPS.system}|steps) or walking minutes ({codes.WALKING_MINUTES.system}|walking-minutes)"
)


@dataclass(frozen=True)
class Accepted:
    index: int
    identifier_system: str
    identifier_value: str
    kind: str
    value: int
    effective_at: datetime
    resource: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    index: int
    resource_type: str | None
    identifier: str | None
    reason: str


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _entries(bundle: object) -> list[Any]:
    if not isinstance(bundle, Mapping):
        raise ValidationFailed(
            {"resourceType": ['Expected a FHIR Bundle: a JSON object with "resourceType": "Bundle".']}
        )
    if bundle.get("resourceType") != "Bundle":
        raise ValidationFailed({"resourceType": ['Must be "Bundle".']})
    if "type" in bundle and not isinstance(bundle["type"], str):
        raise ValidationFailed({"type": ["Must be a string."]})
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise ValidationFailed({"entry": ["Must be a list of entries."]})
    if len(entries) > MAX_ENTRIES:
        raise ValidationFailed(
            {"entry": [f"At most {MAX_ENTRIES} entries per Bundle; send several Bundles."]}
        )
    return entries


def _identifier(resource: Mapping[str, Any]) -> tuple[str, str] | None:
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return None
    for identifier in identifiers:
        if not isinstance(identifier, Mapping):
            continue
        system, value = identifier.get("system"), identifier.get("value")
        if isinstance(system, str) and isinstance(value, str) and system.strip() and value.strip():
            return system, value
    return None


def _codings(concept: object) -> list[tuple[str, str]]:
    if not isinstance(concept, Mapping) or not isinstance(concept.get("coding"), list):
        return []
    return [
        (str(coding.get("system")), str(coding.get("code")))
        for coding in concept["coding"]
        if isinstance(coding, Mapping)
    ]


def _measure(resource: Mapping[str, Any], region: str) -> str:
    found = set(_codings(resource.get("code")))
    if (codes.PAIN.system, codes.PAIN.code) in found:
        return _pain_kind(resource, region)
    if {(codes.STEPS.system, codes.STEPS.code), (codes.LOINC, codes.STEPS_LOINC_UNVERIFIED.code)} & found:
        return "steps"
    if (codes.WALKING_MINUTES.system, codes.WALKING_MINUTES.code) in found:
        return "walking_minutes"
    raise _Refused(f"code not accepted: only {_ACCEPTED_CODES} are imported.")


def _pain_kind(resource: Mapping[str, Any], region: str) -> str:
    site_concept = resource.get("bodySite")
    sites = {
        _BODY_SITE_WORDS[code]
        for system, code in _codings(site_concept)
        if system == codes.BODY_SITE and code in _BODY_SITE_WORDS
    }
    if not sites and isinstance(site_concept, Mapping) and isinstance(site_concept.get("text"), str):
        word = site_concept["text"].strip().lower()
        if word in _BODY_SITE_WORDS:
            sites = {_BODY_SITE_WORDS[word]}
    if len(sites) != 1:
        raise _Refused(
            "bodySite required for pain: exactly one of back, neck (axial pain) or leg, arm (limb pain), "
            f"as a {codes.BODY_SITE} code or as bodySite.text."
        )
    site = sites.pop()
    axial, limb = REGION_SITES[region]
    if site is axial:
        return "axial_pain"
    if site is limb:
        return "limb_pain"
    raise _Refused(
        f"bodySite {site.value} does not fit this {region} episode (its pain sites are {axial.value} and {limb.value})."
    )


def _whole(number: object) -> int | None:
    if isinstance(number, bool):
        return None
    if isinstance(number, int):
        return number
    if isinstance(number, float | Decimal) and number == int(number):
        return int(number)
    return None


def _value(resource: Mapping[str, Any], kind: str) -> int:
    if "valueInteger" in resource:
        value = _whole(resource["valueInteger"])
        if value is None or isinstance(resource["valueInteger"], float):
            raise _Refused("valueInteger must be a JSON integer.")
    elif "valueQuantity" in resource:
        quantity = resource["valueQuantity"]
        if not isinstance(quantity, Mapping):
            raise _Refused("valueQuantity must be an object.")
        value = _whole(quantity.get("value"))
        if value is None:
            raise _Refused("valueQuantity.value must be a whole number.")
        unit_code = quantity.get("code")
        if kind == "walking_minutes" and unit_code is not None and unit_code != "min":
            raise _Refused('walking minutes must be in UCUM "min".')
    elif "valueCodeableConcept" in resource:
        raise _Refused("answer-coded values are not imported: send valueInteger (0-10) or valueQuantity.")
    else:
        raise _Refused("value required: valueInteger or valueQuantity with a whole number.")
    low, high = RANGES[kind]
    if not low <= value <= high:
        raise _Refused(f"value {value} is out of range {low}-{high} for {kind.replace('_', ' ')}.")
    return value


def _effective(resource: Mapping[str, Any]) -> datetime:
    raw = resource.get("effectiveDateTime", resource.get("effectiveInstant"))
    if raw is None:
        if "effectivePeriod" in resource:
            raise _Refused("effectivePeriod is not imported: send effectiveDateTime (one instant).")
        raise _Refused("effectiveDateTime required.")
    parsed = None
    if isinstance(raw, str):
        try:
            parsed = parse_datetime(raw)
        except ValueError:
            parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise _Refused(
            "effectiveDateTime must be a date-time with a UTC offset, e.g. 2026-05-01T08:30:00+02:00."
        )
    return parsed


def parse_bundle(bundle: object, *, region: str) -> list[Accepted | Rejected]:
    """Every entry's outcome, in Bundle order. Raises ``ValidationFailed`` (a 400 naming the field) when
    the body is not a Bundle at all; problems inside one entry are that entry's ``Rejected``."""
    outcomes: list[Accepted | Rejected] = []
    seen: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(_entries(bundle)):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            outcomes.append(Rejected(index, None, None, "entry has no resource object."))
            continue
        resource_type = resource.get("resourceType")
        type_name = resource_type if isinstance(resource_type, str) else None
        if type_name != "Observation":
            outcomes.append(
                Rejected(
                    index,
                    type_name,
                    None,
                    f"{type_name or 'a resource without resourceType'} is not imported: only Observations are.",
                )
            )
            continue
        identifier = _identifier(resource)
        label = f"{identifier[0]}|{identifier[1]}" if identifier else None
        try:
            if identifier is None:
                raise _Refused("identifier required for idempotent import")
            if max(len(identifier[0]), len(identifier[1])) > MAX_IDENTIFIER_LENGTH:
                raise _Refused(
                    f"identifier system and value may have at most {MAX_IDENTIFIER_LENGTH} characters."
                )
            if identifier in seen:
                raise _Refused(f"same identifier as entry {seen[identifier]} of this Bundle.")
            status = resource.get("status")
            if status not in ACCEPTED_STATUSES:
                raise _Refused(f"status {status!r} is not imported: only final, amended or corrected.")
            kind = _measure(resource, region)
            value = _value(resource, kind)
            effective_at = _effective(resource)
        except _Refused as refused:
            outcomes.append(Rejected(index, "Observation", label, refused.reason))
            continue
        seen[identifier] = index
        outcomes.append(
            Accepted(index, identifier[0], identifier[1], kind, value, effective_at, dict(resource))
        )
    return outcomes
