"""Expected recovery after a procedure, as plain values (no Django here).

Every number carries a ``Source``: the paper and table in the clinical reference
(``/work/shared/clinical/REFERENCE.md``), or "clinic default, not evidence", and whether it was
interpolated or derived, with the method. ``ExpectedRecovery.band`` turns the listed pain points into
one row per post-op day: linear between listed points, held flat after the last one (the protocol
files state that rule at top level as ``band_rule``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]

BAND_COLUMNS: tuple[str, ...] = ("axial_center", "axial_upper", "limb_center", "limb_upper")
CLINIC_DEFAULT = "clinic default, not evidence"


@dataclass(frozen=True)
class Source:
    reference: str
    interpolated: bool = False
    method: str = ""
    overridden_by: str = ""
    overridden_at: datetime | None = None
    confidence: str = ""


@dataclass(frozen=True)
class PainPoint:
    """Expected pain (NRS 0-10) on one post-op day: central curve and upper band."""

    post_op_day: int
    center: float
    upper: float
    source: Source


@dataclass(frozen=True)
class PromExpectation:
    """Expected ODI/NDI score (0-100) at a questionnaire timepoint (keys as in
    ``recovery/proms/default_schedule.json``)."""

    timepoint: str
    post_op_day: int
    instrument: str
    expected_score: float
    source: Source


@dataclass(frozen=True)
class PromThreshold:
    """A change from baseline that counts as meaningful; ``improvement`` is points of decrease."""

    instrument: str
    kind: str
    improvement: float
    label: str
    source: Source


@dataclass(frozen=True)
class MilestoneSpec:
    key: str
    label: str
    patient_label: str
    expected_by_day: int
    metric: str
    target: float | None
    window_days: int
    source: Source


def _curve(points: tuple[PainPoint, ...], days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not points:
        nan = np.full(days.shape, np.nan, dtype="float64")
        return nan, nan.copy()
    ordered = sorted(points, key=lambda p: p.post_op_day)
    xs = np.array([p.post_op_day for p in ordered], dtype="float64")
    # np.interp holds the end values flat outside the listed range: flat after the last point
    # (the documented band rule) and flat before the first (protocols list day 0, so unused).
    center = np.interp(days, xs, np.array([p.center for p in ordered], dtype="float64"))
    upper = np.interp(days, xs, np.array([p.upper for p in ordered], dtype="float64"))
    return center, upper


@dataclass(frozen=True)
class ExpectedRecovery:
    procedure: str
    version: int
    region: str
    instrument: str
    axial: tuple[PainPoint, ...]
    limb: tuple[PainPoint, ...]
    proms: tuple[PromExpectation, ...]
    thresholds: tuple[PromThreshold, ...]
    milestones: tuple[MilestoneSpec, ...]

    def band(self, last_day: int) -> pd.DataFrame:
        """One row per post-op day 0..last_day: post_op_day (int64), axial_center, axial_upper,
        limb_center, limb_upper (float64). Linear between listed points, flat after the last."""
        days = np.arange(0, max(last_day, -1) + 1, dtype="int64")
        x = days.astype("float64")
        axial_center, axial_upper = _curve(self.axial, x)
        limb_center, limb_upper = _curve(self.limb, x)
        return pd.DataFrame(
            {
                "post_op_day": pd.Series(days, dtype="int64"),
                "axial_center": pd.Series(axial_center, dtype="float64"),
                "axial_upper": pd.Series(axial_upper, dtype="float64"),
                "limb_center": pd.Series(limb_center, dtype="float64"),
                "limb_upper": pd.Series(limb_upper, dtype="float64"),
            }
        )

    def milestone(self, key: str) -> MilestoneSpec | None:
        return next((m for m in self.milestones if m.key == key), None)
