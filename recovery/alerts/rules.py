"""The trend rules: pure functions over the per-episode ``signals()`` frame, no ORM, no clock.

Each rule takes the whole frame (one row per episode; columns as in
``recovery.analytics.trajectory.signals``), selects the rows that meet its condition with vectorised
masks, and returns one ``RuleHit`` per matching episode: severity, a reason in plain words a clinician
can act on, and the data that triggered it (JSON-safe). ``all_hits`` runs every rule.

Thresholds: the issue sets them (3 consecutive days above the band, +2 points on the 7-day mean,
3 days without a check-in, adherence under 50 % for a week, a missed questionnaire). The clinical
reference (``REFERENCE.md`` section 7, "Known gaps") found no published automated triage thresholds
for post-operative spine apps, so every threshold and severity here is a clinic default, not evidence.
The expected upper band itself comes from the trajectory analytics (``ExpectedRecovery.band``), with
its own sources.

The red-flag rule is not here: it is raised at once from the check-in (``services.alert_raise_red_flag``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from recovery.alerts.models import AlertRule, Severity

CLINIC_DEFAULT: Final = "clinic default, not evidence"

#: Consecutive local days with the day's mean pain above the expected upper band (clinic default, not evidence).
ABOVE_BAND_DAYS: Final = 3
#: Rise of the 7-day mean pain against the 7-day mean a week earlier, in NRS points (clinic default, not evidence).
PAIN_RISE_POINTS: Final = 2.0
#: Days since the last check-in day (clinic default, not evidence; the same 3 days as the daily digest).
SILENT_DAYS: Final = 3
#: Completed / prescribed exercise sessions over the last 7 local days (clinic default, not evidence).
ADHERENCE_FLOOR: Final = 0.5

SEVERITY: Final[dict[str, str]] = {
    AlertRule.RED_FLAG: Severity.URGENT,
    AlertRule.PAIN_ABOVE_BAND: Severity.HIGH,
    AlertRule.PAIN_RISING: Severity.MODERATE,
    AlertRule.NO_CHECKIN: Severity.MODERATE,
    AlertRule.LOW_ADHERENCE: Severity.LOW,
    AlertRule.MISSED_QUESTIONNAIRE: Severity.LOW,
}

_SITE_WORDS: Final = {"axial": "back or neck pain", "limb": "leg or arm pain"}
_REGION_SITE_WORDS: Final = {
    "lumbar": {"axial": "back pain", "limb": "leg pain"},
    "cervical": {"axial": "neck pain", "limb": "arm pain"},
}
#: Optional columns a richer signals frame may carry; copied into the alert's data when present.
_OPTIONAL_DETAIL: Final = (
    "axial_above_days",
    "limb_above_days",
    "axial_upper",
    "limb_upper",
    "axial_mean_7d",
    "limb_mean_7d",
)


@dataclass(frozen=True)
class RuleHit:
    episode_id: str
    rule: str
    severity: str
    reason: str
    data: dict[str, Any] = field(default_factory=dict)


def json_safe(value: Any) -> Any:
    """numpy / pandas scalars, dates and containers as plain JSON values (NaN and NaT as None)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, pd.Timestamp):
        return json_safe(value.tolist())
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return (
            value.date().isoformat() if value == value.normalize() and value.tz is None else value.isoformat()
        )
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 2)
    if isinstance(value, bool | int | str):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _day(value: Any) -> str | None:
    safe = json_safe(value)
    return safe[:10] if isinstance(safe, str) else None


def _base(row: pd.Series) -> dict[str, Any]:
    return {
        "as_of": _day(row.get("as_of")),
        "post_op_day": json_safe(row.get("post_op_day")),
        "last_checkin_date": _day(row.get("last_checkin_date")),
    }


def _site_words(row: pd.Series, site: str) -> str:
    """ "back pain" for a lumbar episode, "neck pain" for a cervical one, when the frame says which."""
    region = row.get("region")
    return _REGION_SITE_WORDS.get(str(region), _SITE_WORDS).get(site, "pain")


def _int(value: Any) -> int:
    return 0 if value is None or pd.isna(value) else int(value)


def pain_above_band(signals: pd.DataFrame) -> list[RuleHit]:
    """Pain (axial or limb) above the expected upper band on ``ABOVE_BAND_DAYS`` consecutive days."""
    axial = signals["axial_above_run"].fillna(0)
    limb = signals["limb_above_run"].fillna(0)
    hits: list[RuleHit] = []
    for _, row in signals[(axial >= ABOVE_BAND_DAYS) | (limb >= ABOVE_BAND_DAYS)].iterrows():
        runs = {"axial": _int(row["axial_above_run"]), "limb": _int(row["limb_above_run"])}
        sites = [site for site, run in runs.items() if run >= ABOVE_BAND_DAYS]
        words = " and ".join(f"{_site_words(row, s)} ({runs[s]} days)" for s in sites)
        last = _day(row.get("last_checkin_date"))
        data = {
            **_base(row),
            "sites": sites,
            "axial_above_run": runs["axial"],
            "limb_above_run": runs["limb"],
            "threshold_days": ABOVE_BAND_DAYS,
            "threshold_source": CLINIC_DEFAULT,
        }
        for column in _OPTIONAL_DETAIL:
            if column in row.index:
                data[column] = json_safe(row[column])
        hits.append(
            RuleHit(
                str(row["episode_id"]),
                AlertRule.PAIN_ABOVE_BAND,
                SEVERITY[AlertRule.PAIN_ABOVE_BAND],
                f"Daily average {words} above the expected range for this stage of recovery, "
                f"on consecutive days up to {last}. Check for a complication or a pain-control problem.",
                data,
            )
        )
    return hits


def pain_rising(signals: pd.DataFrame) -> list[RuleHit]:
    """The 7-day mean pain at least ``PAIN_RISE_POINTS`` above the 7-day mean a week earlier."""
    rise = pd.to_numeric(signals["pain_rise"], errors="coerce")
    hits: list[RuleHit] = []
    for _, row in signals[rise >= PAIN_RISE_POINTS].iterrows():
        site = row.get("pain_rise_site")
        words = _site_words(row, str(site))
        value = float(row["pain_rise"])
        data = {
            **_base(row),
            "site": site if isinstance(site, str) else None,
            "pain_rise": round(value, 2),
            "threshold_points": PAIN_RISE_POINTS,
            "threshold_source": CLINIC_DEFAULT,
        }
        for column in ("axial_mean_7d", "limb_mean_7d"):
            if column in row.index:
                data[column] = json_safe(row[column])
        hits.append(
            RuleHit(
                str(row["episode_id"]),
                AlertRule.PAIN_RISING,
                SEVERITY[AlertRule.PAIN_RISING],
                f"Average {words} over the last 7 days is {value:.1f} points higher than the week before. "
                "Recovery pain usually eases; ask what changed.",
                data,
            )
        )
    return hits


def no_checkin(signals: pd.DataFrame) -> list[RuleHit]:
    """``SILENT_DAYS`` or more since the last check-in day (counted from surgery when there is none),
    once the patient is at least ``SILENT_DAYS`` days after surgery."""
    silent = pd.to_numeric(signals["days_without_checkin"], errors="coerce").fillna(0)
    day = pd.to_numeric(signals["post_op_day"], errors="coerce").fillna(-1)
    hits: list[RuleHit] = []
    for _, row in signals[(silent >= SILENT_DAYS) & (day >= SILENT_DAYS)].iterrows():
        days = _int(row["days_without_checkin"])
        last = _day(row.get("last_checkin_date"))
        since = f"since {last}" if last else "since surgery"
        hits.append(
            RuleHit(
                str(row["episode_id"]),
                AlertRule.NO_CHECKIN,
                SEVERITY[AlertRule.NO_CHECKIN],
                f"No check-in for {days} days ({since}). Contact the patient to see how they are.",
                {
                    **_base(row),
                    "days_without_checkin": days,
                    "threshold_days": SILENT_DAYS,
                    "threshold_source": CLINIC_DEFAULT,
                },
            )
        )
    return hits


def low_adherence(signals: pd.DataFrame) -> list[RuleHit]:
    """Under ``ADHERENCE_FLOOR`` of the prescribed sessions done over the last 7 local days (no alert when
    nothing was due: adherence is then unknown, not zero)."""
    adherence = pd.to_numeric(signals["adherence_week"], errors="coerce")
    hits: list[RuleHit] = []
    for _, row in signals[adherence.notna() & (adherence < ADHERENCE_FLOOR)].iterrows():
        value = float(row["adherence_week"])
        hits.append(
            RuleHit(
                str(row["episode_id"]),
                AlertRule.LOW_ADHERENCE,
                SEVERITY[AlertRule.LOW_ADHERENCE],
                f"Only {value:.0%} of the prescribed exercise sessions done in the last 7 days. "
                "Ask whether the plan is too hard, painful or unclear.",
                {
                    **_base(row),
                    **{c: json_safe(row[c]) for c in ("prescribed_week", "completed_week") if c in row.index},
                    "adherence_week": round(value, 3),
                    "threshold": ADHERENCE_FLOOR,
                    "threshold_source": CLINIC_DEFAULT,
                },
            )
        )
    return hits


def _timepoints(value: Any) -> list[str]:
    if isinstance(value, list | tuple) or hasattr(value, "tolist"):
        return sorted({str(v) for v in (value.tolist() if hasattr(value, "tolist") else value)})
    return []


def missed_reason(timepoints: list[str]) -> str:
    return (
        f"Outcome questionnaire not answered before its window closed: {', '.join(timepoints)}. "
        "Remind the patient or record why it was skipped."
    )


def missed_questionnaire(signals: pd.DataFrame) -> list[RuleHit]:
    """A questionnaire timepoint whose window closed unanswered."""
    missed = signals["missed_timepoints"].map(_timepoints)
    hits: list[RuleHit] = []
    for index in signals.index[missed.map(len) > 0]:
        row = signals.loc[index]
        timepoints = missed.loc[index]
        hits.append(
            RuleHit(
                str(row["episode_id"]),
                AlertRule.MISSED_QUESTIONNAIRE,
                SEVERITY[AlertRule.MISSED_QUESTIONNAIRE],
                missed_reason(timepoints),
                {**_base(row), "timepoints": timepoints, "threshold_source": CLINIC_DEFAULT},
            )
        )
    return hits


def with_band_days(hits: list[RuleHit], banded: pd.DataFrame) -> list[RuleHit]:
    """Each ``pain_above_band`` hit with the days of its run: the day's mean pain and the expected band
    (``<site>_above_days``: ``[{local_date, post_op_day, mean, upper, center}]``), from the banded daily
    frame (``recovery.analytics.trajectory.with_band``). Other hits are returned unchanged."""
    needed = {"episode_id", "local_date", "post_op_day"}
    if banded.empty or not needed <= set(banded.columns):
        return hits
    ids = banded["episode_id"].astype(str)
    days = pd.to_datetime(banded["local_date"])
    out: list[RuleHit] = []
    for hit in hits:
        last = hit.data.get("last_checkin_date")
        if hit.rule != AlertRule.PAIN_ABOVE_BAND or not last:
            out.append(hit)
            continue
        data = dict(hit.data)
        for site in hit.data.get("sites", []):
            columns = [f"{site}_mean", f"{site}_upper", f"{site}_center"]
            if not set(columns) <= set(banded.columns):
                continue
            run = int(hit.data[f"{site}_above_run"])
            end = pd.Timestamp(last)
            window = banded[(ids == hit.episode_id) & (days > end - pd.Timedelta(days=run)) & (days <= end)]
            data[f"{site}_above_days"] = [
                {
                    "local_date": _day(row["local_date"]),
                    "post_op_day": json_safe(row["post_op_day"]),
                    "mean": json_safe(row[columns[0]]),
                    "upper": json_safe(row[columns[1]]),
                    "center": json_safe(row[columns[2]]),
                }
                for _, row in window.sort_values("local_date").iterrows()
            ]
        out.append(RuleHit(hit.episode_id, hit.rule, hit.severity, hit.reason, data))
    return out


#: The trend rules, in evaluation order.
TREND_RULES: Final[dict[str, Callable[[pd.DataFrame], list[RuleHit]]]] = {
    AlertRule.PAIN_ABOVE_BAND: pain_above_band,
    AlertRule.PAIN_RISING: pain_rising,
    AlertRule.NO_CHECKIN: no_checkin,
    AlertRule.LOW_ADHERENCE: low_adherence,
    AlertRule.MISSED_QUESTIONNAIRE: missed_questionnaire,
}


def all_hits(signals: pd.DataFrame) -> list[RuleHit]:
    if signals.empty:
        return []
    return [hit for rule in TREND_RULES.values() for hit in rule(signals)]
