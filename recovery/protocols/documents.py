"""Protocol documents: strict validation, canonical hashing, overrides and parsing into ``types``.

A protocol document is the JSON of one file in ``recovery/protocols/data/``. Validation is strict:
unknown keys are refused, numbers must be JSON numbers (not booleans or strings), and every value
carries a ``source`` whose ``reference`` names the paper and table from the clinical reference, or
says ``clinic default, not evidence``. An interpolated value must say how (``method``).

Overrides are applied to a copy of the document and the result is validated by the same rules, so
a clinic can never store a protocol the loader would refuse (pain 0-10, upper >= center, days >= 0).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from recovery.protocols.types import (
    CLINIC_DEFAULT,
    ExpectedRecovery,
    MilestoneSpec,
    PainPoint,
    PromExpectation,
    PromThreshold,
    Source,
)

TIMEPOINTS: Final = ("baseline", "week_6", "month_3", "month_6", "month_12")
MILESTONE_KEYS: Final = (
    "first_walk",
    "discharge",
    "walking_week_1",
    "walking_week_2",
    "walking_week_4",
    "steps_week_6",
    "formal_physio",
    "desk_work",
    "driving",
)
METRICS: Final = ("walk_any", "steps_ratio", "steps_absolute", "event")
STEPS_METRICS: Final = ("steps_ratio", "steps_absolute")
CONFIDENCES: Final = ("H", "M", "L", "H/M", "L/M")
REGION_INSTRUMENT: Final = {"lumbar": "odi", "cervical": "ndi"}
PAIN_SITES: Final = ("axial", "limb")

_TOP_KEYS: Final = {
    "procedure",
    "version",
    "title",
    "region",
    "instrument",
    "about",
    "band_rule",
    "axial",
    "limb",
    "proms",
    "thresholds",
    "milestones",
}
_SOURCE_KEYS: Final = {"reference", "confidence", "interpolated", "method"}
_PAIN_KEYS: Final = {"post_op_day", "center", "upper", "source"}
_PROM_KEYS: Final = {"timepoint", "post_op_day", "expected_score", "source"}
_THRESHOLD_KEYS: Final = {"kind", "improvement", "label", "source"}
_MILESTONE_KEYS_FIELDS: Final = {
    "key",
    "label",
    "patient_label",
    "expected_by_day",
    "metric",
    "target",
    "window_days",
    "source",
}


class ProtocolFileError(ValueError):
    """A protocol document breaks a rule; ``errors`` maps a path (``axial[2].upper``) to messages."""

    def __init__(self, errors: dict[str, list[str]], *, name: str = "") -> None:
        self.errors = errors
        self.name = name
        lines = [f"{path}: {'; '.join(messages)}" for path, messages in errors.items()]
        prefix = f"{name}: " if name else ""
        super().__init__(prefix + "invalid protocol: " + " | ".join(lines))


class _Errors:
    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.found.setdefault(path, []).append(message)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(errors: _Errors, path: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        errors.add(path, "must be a non-empty string.")


def _keys(
    errors: _Errors, path: str, item: Any, allowed: set[str], optional: frozenset[str] = frozenset()
) -> bool:
    if not isinstance(item, Mapping):
        errors.add(path, "must be an object.")
        return False
    for key in sorted(set(item) - allowed):
        errors.add(f"{path}.{key}" if path else key, "unknown field.")
    for key in sorted(allowed - optional - set(item)):
        errors.add(f"{path}.{key}" if path else key, "is required.")
    return True


def _source(errors: _Errors, path: str, item: Mapping[str, Any]) -> None:
    source = item.get("source")
    if source is None:
        errors.add(f"{path}.source", "every value needs a source (clinical reference paper and table).")
        return
    if not _keys(
        errors, f"{path}.source", source, _SOURCE_KEYS, optional=frozenset({"interpolated", "method"})
    ):
        return
    reference = source.get("reference")
    _text(errors, f"{path}.source.reference", reference)
    confidence = source.get("confidence")
    if reference == CLINIC_DEFAULT:
        if confidence != "":
            errors.add(f"{path}.source.confidence", 'must be "" for a clinic default (there is no evidence).')
    elif confidence not in CONFIDENCES:
        errors.add(
            f"{path}.source.confidence", "must be H, M, L, H/M or L/M, as given in the clinical reference."
        )
    interpolated = source.get("interpolated", False)
    if not isinstance(interpolated, bool):
        errors.add(f"{path}.source.interpolated", "must be a boolean.")
    method = source.get("method", "")
    if not isinstance(method, str):
        errors.add(f"{path}.source.method", "must be a string.")
    elif interpolated is True and not method.strip():
        errors.add(f"{path}.source.method", "an interpolated value must say how it was obtained.")


def _number(errors: _Errors, path: str, value: Any, low: float, high: float) -> bool:
    if not _is_number(value):
        errors.add(path, "must be a number.")
        return False
    if not low <= value <= high:
        errors.add(path, f"must be between {low:g} and {high:g}.")
        return False
    return True


def _day(errors: _Errors, path: str, value: Any) -> bool:
    if not _is_int(value):
        errors.add(path, "must be a whole number of post-op days.")
        return False
    if value < 0:
        errors.add(path, "must be 0 or more (post-op days).")
        return False
    return True


def _list(errors: _Errors, doc: Mapping[str, Any], key: str, *, allow_empty: bool) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        if key in doc:
            errors.add(key, "must be a list.")
        return []
    if not value and not allow_empty:
        errors.add(key, "must not be empty.")
    return value


def _validate_pain(errors: _Errors, site: str, points: list[Any]) -> None:
    previous: int | None = None
    for i, point in enumerate(points):
        path = f"{site}[{i}]"
        if not _keys(errors, path, point, _PAIN_KEYS):
            continue
        _source(errors, path, point)
        day = point.get("post_op_day")
        if _day(errors, f"{path}.post_op_day", day):
            if previous is None and day != 0:
                errors.add(f"{path}.post_op_day", "the first point must be day 0 (the band starts there).")
            if previous is not None and day <= previous:
                errors.add(
                    f"{path}.post_op_day", "points must be in increasing post-op day, without repeats."
                )
            previous = day
        center_ok = _number(errors, f"{path}.center", point.get("center"), 0, 10)
        upper_ok = _number(errors, f"{path}.upper", point.get("upper"), 0, 10)
        if center_ok and upper_ok and point["upper"] < point["center"]:
            errors.add(f"{path}.upper", "must be at least the center value.")


def _validate_proms(errors: _Errors, proms: list[Any]) -> None:
    seen: set[str] = set()
    for i, prom in enumerate(proms):
        path = f"proms[{i}]"
        if not _keys(errors, path, prom, _PROM_KEYS):
            continue
        _source(errors, path, prom)
        timepoint = prom.get("timepoint")
        if timepoint not in TIMEPOINTS:
            errors.add(f"{path}.timepoint", f"must be one of {', '.join(TIMEPOINTS)}.")
        elif timepoint in seen:
            errors.add(f"{path}.timepoint", "appears twice.")
        else:
            seen.add(timepoint)
        _day(errors, f"{path}.post_op_day", prom.get("post_op_day"))
        _number(errors, f"{path}.expected_score", prom.get("expected_score"), 0, 100)


def _validate_thresholds(errors: _Errors, thresholds: list[Any]) -> None:
    seen: set[str] = set()
    for i, threshold in enumerate(thresholds):
        path = f"thresholds[{i}]"
        if not _keys(errors, path, threshold, _THRESHOLD_KEYS):
            continue
        _source(errors, path, threshold)
        kind = threshold.get("kind")
        _text(errors, f"{path}.kind", kind)
        if isinstance(kind, str):
            if kind in seen:
                errors.add(f"{path}.kind", "appears twice.")
            seen.add(kind)
        _text(errors, f"{path}.label", threshold.get("label"))
        improvement = threshold.get("improvement")
        if _number(errors, f"{path}.improvement", improvement, 0, 100) and improvement == 0:
            errors.add(f"{path}.improvement", "must be more than 0.")


def _validate_milestone_target(errors: _Errors, path: str, metric: Any, target: Any, window: Any) -> None:
    if metric in STEPS_METRICS:
        high = 5.0 if metric == "steps_ratio" else 50000.0
        if _number(errors, f"{path}.target", target, 0, high) and target == 0:
            errors.add(f"{path}.target", "must be more than 0.")
        if not _is_int(window) or window < 1:
            errors.add(f"{path}.window_days", "must be a whole number of days, at least 1.")
    elif metric in METRICS:
        if target is not None:
            errors.add(f"{path}.target", f"must be null for the {metric} metric.")
        if window != 1:
            errors.add(f"{path}.window_days", f"must be 1 for the {metric} metric.")


def _validate_milestones(errors: _Errors, milestones: list[Any]) -> None:
    seen: set[str] = set()
    for i, milestone in enumerate(milestones):
        path = f"milestones[{i}]"
        if not _keys(errors, path, milestone, _MILESTONE_KEYS_FIELDS):
            continue
        _source(errors, path, milestone)
        key = milestone.get("key")
        if key not in MILESTONE_KEYS:
            errors.add(f"{path}.key", f"must be one of {', '.join(MILESTONE_KEYS)}.")
        elif key in seen:
            errors.add(f"{path}.key", "appears twice.")
        else:
            seen.add(key)
        _text(errors, f"{path}.label", milestone.get("label"))
        _text(errors, f"{path}.patient_label", milestone.get("patient_label"))
        _day(errors, f"{path}.expected_by_day", milestone.get("expected_by_day"))
        metric = milestone.get("metric")
        if metric not in METRICS:
            errors.add(f"{path}.metric", f"must be one of {', '.join(METRICS)}.")
        _validate_milestone_target(
            errors, path, metric, milestone.get("target"), milestone.get("window_days")
        )


def validate_document(doc: Any, *, name: str = "") -> dict[str, Any]:
    """Check a whole protocol document; raise ``ProtocolFileError`` listing every problem."""
    errors = _Errors()
    if not _keys(errors, "", doc, _TOP_KEYS):
        raise ProtocolFileError(errors.found, name=name)
    for key in ("procedure", "title", "about", "band_rule"):
        _text(errors, key, doc.get(key))
    version = doc.get("version")
    if not _is_int(version) or version < 1:
        errors.add("version", "must be a whole number, at least 1.")
    region = doc.get("region")
    if region not in REGION_INSTRUMENT:
        errors.add("region", "must be lumbar or cervical.")
    elif doc.get("instrument") != REGION_INSTRUMENT[region]:
        errors.add("instrument", f"must be {REGION_INSTRUMENT[region]} for a {region} procedure.")
    for site in PAIN_SITES:
        _validate_pain(errors, site, _list(errors, doc, site, allow_empty=False))
    _validate_proms(errors, _list(errors, doc, "proms", allow_empty=True))
    _validate_thresholds(errors, _list(errors, doc, "thresholds", allow_empty=True))
    _validate_milestones(errors, _list(errors, doc, "milestones", allow_empty=True))
    if errors.found:
        raise ProtocolFileError(errors.found, name=name)
    return dict(doc)


def content_hash(doc: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace): formatting is not content."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- override targets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A resolved override target: where the value lives in the document."""

    path: str
    section: str
    index: int
    field: str
    value: float | None


_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "axial": ("center", "upper"),
    "limb": ("center", "upper"),
    "proms": ("expected_score",),
    "thresholds": ("improvement",),
    "milestones": ("expected_by_day", "target"),
}
_ID_FIELD: Final = {
    "axial": "post_op_day",
    "limb": "post_op_day",
    "proms": "timepoint",
    "thresholds": "kind",
    "milestones": "key",
}
INTEGER_FIELDS: Final = frozenset({"expected_by_day"})


def resolve_target(doc: Mapping[str, Any], path: str) -> Target | None:
    """``axial.42.upper``, ``proms.month_3.expected_score``, ``thresholds.mcid.improvement``,
    ``milestones.driving.expected_by_day`` ... or None when the document has no such value."""
    parts = path.split(".")
    if len(parts) != 3:
        return None
    section, ident, field = parts
    if section not in _FIELDS or field not in _FIELDS[section]:
        return None
    for index, item in enumerate(doc.get(section, [])):
        if str(item.get(_ID_FIELD[section])) == ident:
            value = item.get(field)
            if section == "milestones" and field == "target" and value is None:
                return None  # walk_any/event milestones have no target to override
            return Target(path, section, index, field, None if value is None else float(value))
    return None


def targets(doc: Mapping[str, Any]) -> list[str]:
    """Every overridable value path of a document, in document order."""
    out: list[str] = []
    for section, fields in _FIELDS.items():
        for item in doc.get(section, []):
            for field in fields:
                path = f"{section}.{item.get(_ID_FIELD[section])}.{field}"
                if resolve_target(doc, path) is not None:
                    out.append(path)
    return out


@dataclass(frozen=True)
class AppliedOverride:
    target: str
    value: float
    by: str
    at: datetime
    reason: str


def apply_overrides(doc: Mapping[str, Any], overrides: Sequence[AppliedOverride]) -> dict[str, Any]:
    """A deep copy of ``doc`` with each override's value set. Unknown targets are skipped."""
    out = copy.deepcopy(dict(doc))
    for override in overrides:
        target = resolve_target(out, override.target)
        if target is None:
            continue
        value: float | int = override.value
        if target.field in INTEGER_FIELDS:
            value = round(override.value)
        out[target.section][target.index][target.field] = value
    return out


# --- parsing ------------------------------------------------------------------------------------


def _parse_source(
    raw: Mapping[str, Any], changes: Mapping[str, tuple[float | None, AppliedOverride]]
) -> Source:
    if not changes:
        return Source(
            reference=raw["reference"],
            interpolated=bool(raw.get("interpolated", False)),
            method=raw.get("method", ""),
            confidence=raw.get("confidence", ""),
        )
    latest = max((o for _, o in changes.values()), key=lambda o: o.at)
    changed = "; ".join(
        f"{field} set to {o.value:g} by {o.by} on {o.at:%Y-%m-%d} (reason: {o.reason}); shipped {shipped:g}"
        if shipped is not None
        else f"{field} set to {o.value:g} by {o.by} on {o.at:%Y-%m-%d} (reason: {o.reason})"
        for field, (shipped, o) in sorted(changes.items())
    )
    shipped_method = f" [{raw['method']}]" if raw.get("method") else ""
    return Source(
        reference="clinic override, not evidence",
        interpolated=False,
        method=f"{changed}. Shipped source: {raw['reference']}{shipped_method}",
        overridden_by=latest.by,
        overridden_at=latest.at,
        confidence="",
    )


def parse(doc: Mapping[str, Any], overrides: Sequence[AppliedOverride] = ()) -> ExpectedRecovery:
    """The ``ExpectedRecovery`` of a validated document with ``overrides`` applied (the caller
    validated the overridden document; see ``services``)."""
    effective = apply_overrides(doc, overrides) if overrides else doc
    by_item: dict[tuple[str, int], dict[str, tuple[float | None, AppliedOverride]]] = {}
    for override in overrides:
        target = resolve_target(doc, override.target)
        if target is not None:
            by_item.setdefault((target.section, target.index), {})[target.field] = (target.value, override)

    def source(section: str, index: int) -> Source:
        item = effective[section][index]
        return _parse_source(item["source"], by_item.get((section, index), {}))

    instrument = effective["instrument"]
    return ExpectedRecovery(
        procedure=effective["procedure"],
        version=effective["version"],
        region=effective["region"],
        instrument=instrument,
        axial=tuple(
            PainPoint(p["post_op_day"], float(p["center"]), float(p["upper"]), source("axial", i))
            for i, p in enumerate(effective["axial"])
        ),
        limb=tuple(
            PainPoint(p["post_op_day"], float(p["center"]), float(p["upper"]), source("limb", i))
            for i, p in enumerate(effective["limb"])
        ),
        proms=tuple(
            PromExpectation(
                p["timepoint"], p["post_op_day"], instrument, float(p["expected_score"]), source("proms", i)
            )
            for i, p in enumerate(effective["proms"])
        ),
        thresholds=tuple(
            PromThreshold(instrument, t["kind"], float(t["improvement"]), t["label"], source("thresholds", i))
            for i, t in enumerate(effective["thresholds"])
        ),
        milestones=tuple(
            MilestoneSpec(
                key=m["key"],
                label=m["label"],
                patient_label=m["patient_label"],
                expected_by_day=int(m["expected_by_day"]),
                metric=m["metric"],
                target=None if m["target"] is None else float(m["target"]),
                window_days=int(m["window_days"]),
                source=source("milestones", i),
            )
            for i, m in enumerate(effective["milestones"])
        ),
    )
