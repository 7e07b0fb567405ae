"""Scoring of ODI/NDI-style questionnaires and change from baseline. Pure functions, no database.

Rules (each instrument's JSON carries the rule text with its source and confidence):

- every item scores ``item_min``..``item_max`` (0-5); ``None`` is a skipped item;
- percentage = (sum - item_min x answered) / ((item_max - item_min) x answered) x 100, which for
  0-5 items is the standard ``sum / (5 x answered) x 100`` (Fairbank & Pynsent 2000 for the ODI);
- more than ``max_missing`` skipped items (1 for both shipped instruments) means no score: the
  answers are rejected, so a stored response always has a score;
- change from baseline is measured on the scale its thresholds were published on (ODI percent,
  NDI 0-50 points = percentage / 2): ``improvement = baseline - follow-up`` (lower is better).

Rounding: percentages and comparison values are shown to one decimal, half up. Whether a change
reaches the MCID or SCB is decided on those displayed values (``improvement >= threshold``), so the
flag never contradicts the number a clinician reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from recovery.core.errors import ValidationFailed
from recovery.proms.definitions import InstrumentDefinition, Threshold

ONE_DECIMAL = Decimal("0.1")


def one_decimal(value: Fraction) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Score:
    raw: int
    max_raw: int
    answered: int
    missing: int
    percent_exact: Fraction

    @property
    def percent(self) -> Decimal:
        return one_decimal(self.percent_exact)


@dataclass(frozen=True)
class Change:
    baseline_value: Decimal
    follow_up_value: Decimal
    #: baseline - follow-up on the comparison scale; positive = better.
    improvement: Decimal
    scale: str


@dataclass(frozen=True)
class ThresholdResult:
    threshold: Threshold
    #: None when there is no baseline to compare with.
    met: bool | None


@dataclass(frozen=True)
class Evaluation:
    change: Change | None
    mcid: ThresholdResult | None
    scb: ThresholdResult | None


def clean_answers(definition: InstrumentDefinition, answers: Mapping[str, Any]) -> dict[str, int | None]:
    """Check one answer per item (an integer in range, or None for a skipped item).

    Errors name ``answers`` for the wrong set of items and ``answers.<item key>`` for a bad value.
    """
    rule = definition.scoring
    keys = definition.item_keys
    errors: dict[str, list[str]] = {}
    unknown = [key for key in answers if key not in keys]
    for key in unknown:
        errors[f"answers.{key}"] = ["Unknown item for this questionnaire."]
    absent = [key for key in keys if key not in answers]
    if absent:
        errors["answers"] = [
            f"Answer all {len(keys)} items, using null for a skipped one. Missing: {', '.join(absent)}."
        ]
    bad_value = f"Must be a whole number from {rule.item_min} to {rule.item_max}, or null for a skipped item."
    cleaned: dict[str, int | None] = {}
    for key in keys:
        if key not in answers:
            continue
        value = answers[key]
        if value is None:
            cleaned[key] = None
        elif (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not rule.item_min <= value <= rule.item_max
        ):
            errors[f"answers.{key}"] = [bad_value]
        else:
            cleaned[key] = value
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def score_answers(definition: InstrumentDefinition, answers: Mapping[str, int | None]) -> Score:
    """Score cleaned answers; too many skipped items is a ``ValidationFailed`` naming ``answers``."""
    rule = definition.scoring
    values = [answers.get(key) for key in definition.item_keys]
    given = [value for value in values if value is not None]
    missing = len(values) - len(given)
    if missing > rule.max_missing:
        allowed = "no item" if rule.max_missing == 0 else f"at most {rule.max_missing}"
        raise ValidationFailed(
            {
                "answers": [
                    f"{missing} items were skipped; {allowed} may be skipped for a score to be calculated."
                ]
            }
        )
    return score_from_totals(definition, raw=sum(given), answered=len(given))


def score_from_totals(definition: InstrumentDefinition, *, raw: int, answered: int) -> Score:
    rule = definition.scoring
    span = rule.item_max - rule.item_min
    return Score(
        raw=raw,
        max_raw=rule.item_max * answered,
        answered=answered,
        missing=len(definition.items) - answered,
        percent_exact=Fraction(raw - rule.item_min * answered, span * answered) * 100,
    )


def comparison_value(definition: InstrumentDefinition, score: Score) -> Decimal:
    """The score on the scale its thresholds use (ODI percent; NDI 0-50 points, prorated)."""
    factor = Fraction(definition.scoring.comparison_factor)
    return one_decimal(score.percent_exact * factor)


def evaluate(
    definition: InstrumentDefinition, *, score: Score, baseline: Score | None, is_baseline: bool
) -> Evaluation:
    """Change from baseline and the MCID/SCB flags for one response (none for the baseline itself)."""
    if is_baseline:
        return Evaluation(change=None, mcid=None, scb=None)
    change: Change | None = None
    if baseline is not None:
        before = comparison_value(definition, baseline)
        after = comparison_value(definition, score)
        change = Change(
            baseline_value=before,
            follow_up_value=after,
            improvement=before - after,
            scale=definition.scoring.comparison_scale,
        )

    def result(kind: str) -> ThresholdResult | None:
        threshold = definition.thresholds.get(kind)
        if threshold is None:
            return None
        met = None if change is None else change.improvement >= threshold.value
        return ThresholdResult(threshold=threshold, met=met)

    return Evaluation(change=change, mcid=result("mcid"), scb=result("scb"))
