"""Per-episode recovery trajectories: pure, vectorised functions over DataFrames (no ORM here).

Every function works on MANY episodes at once (the cohort runs them over thousands of episodes);
there is no Python loop per episode or per day in the numbers. Only the final assembly of reason
texts and lists into Python objects touches rows one by one.

Inputs (column names exact; loaded by ``recovery.trajectories.frames.load_frames``):

- ``checkins``: episode_id, local_date (the patient's calendar day of the check-in, fixed in their
  time zone when it was stored), recorded_at (UTC), axial_pain, limb_pain, walking_minutes, steps,
  took_opioid (1/0/NaN), red_flag_count.
- ``episodes``: episode_id, procedure, surgery_date, today (today in the patient's time zone),
  clinic_id; optionally region ("lumbar"|"cervical") for wording.
- ``adherence``: episode_id, local_date, prescribed, completed (one row per day with something due).
- ``scores``: episode_id, timepoint, instrument, score, answered_at.
- ``bands``: procedure, post_op_day, axial_center, axial_upper, limb_center, limb_upper.
- ``missed``: episode_id, timepoint, closed_on.

Days are calendar days, never 24-hour blocks: a check-in belongs to the ``local_date`` it was stored
with, so a daylight-saving change (a 23- or 25-hour day) or a patient moving to another time zone
never splits or merges days here. When a move east makes a stored check-in day later than the
patient's new "today", the series runs to that last data day instead of dropping the check-in.

Post-op day = local_date - surgery_date in days (day 0 = the day of surgery, negative before).

Daily series: pain mean and max per day over that day's check-ins, walking minutes summed, steps
the day's maximum (a step count is cumulative through the day, so several check-ins report
growing totals), opioid 1 if any check-in that day said yes. A day without check-ins has NaN, never
0. Rolling 7-day means run over the 7 calendar days ending on the row's day (the days with data in
that window; NaN when none has); adherence_7d is completed / prescribed summed over those 7 days.

Status rules (``assess``). The clinical reference gives no threshold for "watch" versus "off track"
(section 7: automated symptom-triage thresholds used by post-op apps were searched and not found),
so every number below is a **clinic default, not evidence**:

| code | watch | off_track |
|---|---|---|
| red_flag | | any red-flag symptom reported in the last 24 hours |
| no_checkins | 3-6 days without a check-in | 7 days or more |
| pain_above_band (axial, limb) | 3-4 consecutive days above the expected upper band | 5 days or more |
| pain_rise (7-day mean now vs 7 days earlier) | rise of 2 points or more (NRS 0-10) | 3 points or more |
| low_adherence | under 50 % of prescribed sessions done in the last 7 days | |
| missed_questionnaire | a questionnaire window closed unanswered | |

The status is the worst level of any rule. ``risk`` orders the cohort (higher = worse): 100 per
off-track reason + 10 per watch reason, plus small tie-breakers (0.1 per day without a check-in,
0.1 per day above the band, 0.5 per point of pain rise, 1 x the share of sessions not done). It is
an ordering, not a probability, and is never shown to patients.

Milestones (``milestone_states``): a milestone is *met* when achieved (on any day; ``late`` says it
came after its expected-by day), *missed* when not achieved and the expected-by day has passed,
*due* when not achieved and the expected-by day is within the next 7 days (clinic default), else
*upcoming*. Data metrics: ``walk_any`` is the first post-op day with walking minutes, steps or a
walk logged; the step metrics take the mean daily steps over the ``window_days`` post-op days ending
on a day, counted only when at least half the window (rounded up) has step data (clinic default),
against ``target`` x the pre-op baseline mean (``steps_ratio``; not evaluable without pre-op steps)
or ``target`` steps (``steps_absolute``). ``event`` milestones are the dates recorded by the patient
or the care team; a recorded date also counts for a data milestone (the earlier date wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from recovery.protocols.types import ExpectedRecovery

DAILY_COLUMNS: Final = (
    "episode_id",
    "local_date",
    "post_op_day",
    "checkins",
    "axial_mean",
    "axial_max",
    "limb_mean",
    "limb_max",
    "walking_minutes",
    "steps",
    "opioid",
    "red_flags",
    "prescribed",
    "completed",
    "adherence",
    "axial_mean_7d",
    "limb_mean_7d",
    "walking_minutes_7d",
    "steps_7d",
    "adherence_7d",
)
BAND_VALUE_COLUMNS: Final = ("axial_center", "axial_upper", "limb_center", "limb_upper")
SIGNAL_COLUMNS: Final = (
    "episode_id",
    "as_of",
    "post_op_day",
    "last_checkin_date",
    "days_without_checkin",
    "axial_above_run",
    "limb_above_run",
    "pain_rise",
    "pain_rise_site",
    "adherence_week",
    "prescribed_week",
    "completed_week",
    "missed_timepoints",
    "red_flags_last_24h",
)
ROLLING_DAYS: Final = 7
DUE_WITHIN_DAYS: Final = 7  # clinic default, not evidence

CLINIC_DEFAULT: Final = "clinic default, not evidence"


@dataclass(frozen=True)
class StatusThresholds:
    """The watch / off-track cut-offs of ``assess``. Every value: clinic default, not evidence."""

    stale_watch_days: int = 3
    stale_off_days: int = 7
    above_watch_days: int = 3
    above_off_days: int = 5
    rise_watch_points: float = 2.0
    rise_off_points: float = 3.0
    adherence_watch_below: float = 0.5


DEFAULT_THRESHOLDS: Final = StatusThresholds()
_NS_PER_DAY: Final = 86_400_000_000_000


# ---------------------------------------------------------------------------------------------
# helpers


def _day(values: Any) -> pd.Series:
    """Calendar days as datetime64[ns] at midnight, whatever resolution or time zone came in."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    if series.dtype == np.dtype("datetime64[ns]"):
        # Already midnights (what the loader gives): nothing to do, and no 1 ms ``normalize``.
        if not (series.to_numpy().view("int64") % _NS_PER_DAY).any():
            return series
        return series.dt.normalize()
    parsed = pd.to_datetime(series)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.astype("datetime64[ns]").dt.normalize()


def _ids(values: pd.Series) -> pd.Series:
    """Episode ids as Python strings in an object column (UUIDs and pandas' string dtype included)."""
    out = values.astype(object)
    if pd.api.types.infer_dtype(out, skipna=False) != "string":
        out = out.map(str)
    return out


def _days_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Whole calendar days ``later - earlier`` (float, NaN where either is missing)."""
    return (later - earlier).dt.days.astype("float64")


DAY_DTYPE: Final = "datetime64[ns]"
NO_DAY: Final = np.iinfo("int64").min
LAST_DAY: Final = np.iinfo("int64").max


def _day_numbers(values: Any) -> np.ndarray:
    """Calendar days as whole days since 1970-01-01 (int64); ``NO_DAY`` where missing."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if not (pd.api.types.is_datetime64_dtype(series.dtype) and getattr(series.dtype, "tz", None) is None):
        series = _day(series)
    stamps = series.to_numpy(dtype="datetime64[ns]")
    days = stamps.astype("datetime64[D]").astype("int64")
    days[np.isnat(stamps)] = NO_DAY
    return np.asarray(days)


def _as_dates(days: np.ndarray) -> np.ndarray:
    """Day numbers back to datetime64[ns] (NaT for ``NO_DAY``)."""
    out = days.astype("datetime64[D]").astype("datetime64[ns]")
    out[days == NO_DAY] = np.datetime64("NaT")
    return np.asarray(out)


def _codes(universe: pd.Index, ids: pd.Series) -> np.ndarray:
    """Each id's position in ``universe`` (the episodes frame's order), -1 when unknown.

    Rows usually come in runs of one episode (the loader sorts by episode), so only the first id
    of each run is hashed; the result is the same for any order."""
    values = ids.to_numpy(dtype=object)
    if not len(values):
        return np.zeros(0, dtype="int64")
    heads = np.ones(len(values), dtype=bool)
    heads[1:] = values[1:] != values[:-1]
    starts = np.flatnonzero(heads)
    found = np.asarray(universe.get_indexer(_ids(pd.Series(values[starts]))), dtype="int64")
    return np.asarray(np.repeat(found, np.diff(np.append(starts, len(values)))))


def _rolling(
    values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of non-NaN values over the ``window`` rows ending at each row, never reaching
    back before the row's group (groups: ``lengths`` consecutive rows from ``starts``, each one
    episode's consecutive calendar days)."""
    size = len(values)
    present = ~np.isnan(values)
    summed = np.zeros(size + 1)
    np.cumsum(np.where(present, values, 0.0), out=summed[1:])
    counted = np.zeros(size + 1)
    np.cumsum(present, out=counted[1:])
    total = summed[1:].copy()
    count = counted[1:].copy()
    if size > window:
        total[window:] -= summed[1 : size - window + 1]
        count[window:] -= counted[1 : size - window + 1]
    # The first window-1 rows of each group would reach into the previous group: start at their own.
    k = np.arange(window - 1)
    near = (starts[:, None] + k[None, :])[k[None, :] < lengths[:, None]]
    own = np.repeat(starts, np.minimum(lengths, window - 1))
    total[near] = summed[near + 1] - summed[own]
    count[near] = counted[near + 1] - counted[own]
    return total, count


def _episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    out = episodes.copy()
    out["episode_id"] = _ids(out["episode_id"])
    out["surgery_date"] = _day(out["surgery_date"])
    out["today"] = _day(out["today"])
    return out.reset_index(drop=True)


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    return np.asarray(
        pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    )


def _divide(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """top / bottom, NaN where bottom is 0 (nothing to divide by: a gap, not a zero)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.asarray(top / bottom, dtype="float64")
    out[~(bottom > 0)] = np.nan
    return out


# ---------------------------------------------------------------------------------------------
# daily series


def daily_series(checkins: pd.DataFrame, adherence: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per episode per local day, from the first data day (or the surgery date, whichever
    is earlier) to today (or the last data day if a time-zone move put it after today).

    Works on integer episode positions and day numbers: each check-in lands on its row of the
    calendar grid by arithmetic, and the day's aggregates are scattered there in one numpy pass."""
    ep = _episodes(episodes)
    universe = pd.Index(ep["episode_id"], dtype=object)
    surgery = _day_numbers(ep["surgery_date"])
    today = _day_numbers(ep["today"])

    c_code = _codes(universe, checkins["episode_id"]) if len(checkins) else np.zeros(0, dtype="int64")
    c_day = _day_numbers(checkins["local_date"]) if len(checkins) else np.zeros(0, dtype="int64")
    keep = (c_code >= 0) & (c_day != NO_DAY)
    c_code, c_day = c_code[keep], c_day[keep]
    a_code = _codes(universe, adherence["episode_id"]) if len(adherence) else np.zeros(0, dtype="int64")
    a_day = _day_numbers(adherence["local_date"]) if len(adherence) else np.zeros(0, dtype="int64")
    a_keep = (a_code >= 0) & (a_day != NO_DAY)
    a_code, a_day = a_code[a_keep], a_day[a_keep]

    if "since" in ep.columns:
        # Recent frames (``load_frames(recent_days=...)``): rows start at each episode's first
        # loaded day; nothing before it was read.
        since = _day_numbers(ep["since"])
        c_from = c_day >= since[c_code]
        keep[keep] = c_from
        c_code, c_day = c_code[c_from], c_day[c_from]
        a_from = a_day >= since[a_code]
        a_keep[a_keep] = a_from
        a_code, a_day = a_code[a_from], a_day[a_from]
    first = surgery.copy()
    np.minimum.at(first, c_code, c_day)
    np.minimum.at(first, a_code, a_day)
    if "since" in ep.columns:
        first = np.maximum(first, np.where(since == NO_DAY, first, since))
    last = today.copy()
    np.maximum.at(last, c_code, c_day)
    np.maximum.at(last, a_code, a_day)
    n = np.maximum(last - first + 1, 0)
    offsets = np.cumsum(n) - n
    total = int(n.sum())
    row_day = np.repeat(first, n) + (np.arange(total, dtype="int64") - np.repeat(offsets, n))

    c_pos = offsets[c_code] + (c_day - first[c_code])
    a_pos = offsets[a_code] + (a_day - first[a_code])

    # Check-ins grouped by grid row: sorted once (usually already in order), then each day's
    # maximum is one ``fmax.reduceat`` over its run of rows (NaN only when the whole run is NaN).
    order = np.argsort(c_pos, kind="stable") if np.any(c_pos[1:] < c_pos[:-1]) else None
    sorted_pos = c_pos if order is None else c_pos[order]
    run_starts = (
        np.flatnonzero(np.r_[True, sorted_pos[1:] != sorted_pos[:-1]]) if len(sorted_pos) else sorted_pos
    )
    run_rows = sorted_pos[run_starts]

    def scatter_mean_max(column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        values = _floats(checkins, column)[keep] if len(checkins) else np.zeros(0)
        present = ~np.isnan(values)
        count = np.bincount(c_pos[present], minlength=total).astype("float64")
        summed = np.bincount(c_pos[present], weights=values[present], minlength=total)
        largest = np.full(total, np.nan)
        if len(run_starts):
            ordered = values if order is None else values[order]
            largest[run_rows] = np.fmax.reduceat(ordered, run_starts)
        return _divide(summed, count), largest, np.where(count > 0, summed, np.nan)

    axial_mean, axial_max, _ = scatter_mean_max("axial_pain")
    limb_mean, limb_max, _ = scatter_mean_max("limb_pain")
    _, _, walking = scatter_mean_max("walking_minutes")
    _, steps, _ = scatter_mean_max("steps")
    _, opioid, _ = scatter_mean_max("took_opioid")
    flags = _floats(checkins, "red_flag_count")[keep] if len(checkins) else np.zeros(0)
    red_flags = np.bincount(c_pos, weights=np.nan_to_num(flags), minlength=total)

    def scatter_sum(column: str) -> np.ndarray:
        values = _floats(adherence, column)[a_keep] if len(adherence) else np.zeros(0)
        return np.bincount(a_pos, weights=np.nan_to_num(values), minlength=total)

    prescribed = scatter_sum("prescribed")
    completed = np.minimum(scatter_sum("completed"), prescribed)

    columns: dict[str, np.ndarray] = {
        "episode_id": np.repeat(ep["episode_id"].to_numpy(dtype=object), n),
        "local_date": _as_dates(row_day),
        "post_op_day": row_day - np.repeat(surgery, n),
        "checkins": np.bincount(c_pos, minlength=total).astype("int64"),
        "axial_mean": axial_mean,
        "axial_max": axial_max,
        "limb_mean": limb_mean,
        "limb_max": limb_max,
        "walking_minutes": walking,
        "steps": steps,
        "opioid": opioid,
        "red_flags": red_flags.astype("int64"),
        "prescribed": prescribed.astype("int64"),
        "completed": completed.astype("int64"),
        "adherence": _divide(completed, prescribed),
    }
    for column in ("axial_mean", "limb_mean", "walking_minutes", "steps"):
        summed, count = _rolling(columns[column], offsets, n, ROLLING_DAYS)
        columns[f"{column}_7d"] = _divide(summed, count)
    due_7, _ = _rolling(prescribed, offsets, n, ROLLING_DAYS)
    done_7, _ = _rolling(completed, offsets, n, ROLLING_DAYS)
    columns["adherence_7d"] = _divide(done_7, due_7)
    return pd.DataFrame({name: columns[name] for name in DAILY_COLUMNS}, copy=False)


# ---------------------------------------------------------------------------------------------
# expected band


def with_band(daily: pd.DataFrame, episodes: pd.DataFrame, bands: pd.DataFrame) -> pd.DataFrame:
    """The daily series with the expected band of its procedure for each row's post-op day (NaN
    before surgery or past the band) and whether the day's mean pain was above the upper band."""
    ep = _episodes(episodes)[["episode_id", "procedure"]]
    out = daily.merge(ep, on="episode_id", how="left")
    b = bands[["procedure", "post_op_day", *BAND_VALUE_COLUMNS]].copy()
    b["post_op_day"] = b["post_op_day"].astype("int64")
    out = out.merge(b, on=["procedure", "post_op_day"], how="left")
    for column in BAND_VALUE_COLUMNS:
        out[column] = out[column].astype("float64")
    # NaN > x is False: a day without data, or without a band, is never "above".
    out["axial_above_upper"] = (out["axial_mean"] > out["axial_upper"]).astype(bool)
    out["limb_above_upper"] = (out["limb_mean"] > out["limb_upper"]).astype(bool)
    return out


# ---------------------------------------------------------------------------------------------
# signals


def signals(
    banded: pd.DataFrame,
    episodes: pd.DataFrame,
    scores: pd.DataFrame,
    missed: pd.DataFrame,
    *,
    checkins: pd.DataFrame | None = None,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per episode (in the order of ``episodes``): the facts the status and the alert rules
    are decided on.

    ``red_flags_last_24h`` counts red flags in check-ins recorded in the 24 hours before ``now``
    when ``checkins`` and ``now`` are given; otherwise those of the local days today and yesterday.
    A missed timepoint that has an answer in ``scores`` after all is not reported as missed.
    """
    ep = _episodes(episodes)
    universe = pd.Index(ep["episode_id"], dtype=object)
    size = len(ep)
    today = _day_numbers(ep["today"])
    surgery = _day_numbers(ep["surgery_date"])

    code = _codes(universe, banded["episode_id"]) if len(banded) else np.zeros(0, dtype="int64")
    day = _day_numbers(banded["local_date"]) if len(banded) else np.zeros(0, dtype="int64")
    valid = (code >= 0) & (day != NO_DAY)
    safe = np.where(valid, code, 0)
    has = valid & (banded["checkins"].to_numpy() > 0)

    last = np.full(size, NO_DAY, dtype="int64")
    np.maximum.at(last, code[has], day[has])
    has_last = last != NO_DAY
    stale = np.where(has_last, today - np.where(has_last, last, 0), today - surgery).clip(min=0)

    first = np.full(size, LAST_DAY, dtype="int64")
    np.minimum.at(first, code[valid], day[valid])
    upto = valid & has_last[safe] & (day <= last[safe])

    def run(flag: str) -> np.ndarray:
        above = banded[flag].to_numpy(dtype=bool)
        broke = np.full(size, NO_DAY, dtype="int64")
        np.maximum.at(broke, code[upto & ~above], day[upto & ~above])
        runs = np.where(broke != NO_DAY, last - broke, last - first + 1)
        return np.asarray(np.where(has_last, runs, 0).astype("int64"))

    # Row lookup by (episode, day): one sorted key per row, found with searchsorted.
    span = int(day[valid].max() - day[valid].min() + 1) if valid.any() else 1
    base = int(day[valid].min()) if valid.any() else 0
    keys = np.where(valid, code * span + (day - base), -1)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]

    def value_on(column: str, days: np.ndarray) -> np.ndarray:
        out = np.full(size, np.nan)
        if not len(sorted_keys):
            return out
        values = banded[column].to_numpy(dtype="float64")
        offset = np.where(has_last, days, base) - base
        wanted = np.arange(size) * span + offset
        at = np.clip(np.searchsorted(sorted_keys, wanted), 0, len(sorted_keys) - 1)
        found = has_last & (offset >= 0) & (offset < span) & (sorted_keys[at] == wanted)
        out[found] = values[order[at[found]]]
        return out

    shifted = np.where(has_last, last, base) - ROLLING_DAYS
    axial_rise = value_on("axial_mean_7d", last) - value_on("axial_mean_7d", shifted)
    limb_rise = value_on("limb_mean_7d", last) - value_on("limb_mean_7d", shifted)
    rise = np.fmax(axial_rise, limb_rise)
    rise_site = np.full(size, None, dtype=object)
    limb_larger = np.isnan(axial_rise) | (limb_rise > axial_rise)
    rise_site[~np.isnan(rise)] = np.where(limb_larger, "limb", "axial")[~np.isnan(rise)]

    week = valid & (day < today[safe]) & (day >= today[safe] - ROLLING_DAYS)
    prescribed_week = np.bincount(
        code[week], weights=banded["prescribed"].to_numpy(dtype="float64")[week], minlength=size
    ).astype("int64")
    completed_week = np.minimum(
        np.bincount(code[week], weights=banded["completed"].to_numpy(dtype="float64")[week], minlength=size),
        prescribed_week,
    ).astype("int64")

    if checkins is not None and now is not None and len(checkins):
        instant = pd.Timestamp(now)
        instant = instant.tz_convert("UTC") if instant.tzinfo else instant.tz_localize("UTC")
        recorded = pd.to_datetime(checkins["recorded_at"], utc=True)
        recent = checkins[((recorded > instant - pd.Timedelta(hours=24)) & (recorded <= instant)).to_numpy()]
        r_code = _codes(universe, recent["episode_id"])
        known = r_code >= 0
        flags = np.bincount(
            r_code[known], weights=_floats(recent, "red_flag_count")[known], minlength=size
        ).astype("int64")
    elif checkins is not None and now is not None:
        flags = np.zeros(size, dtype="int64")
    else:
        lately = valid & (day >= today[safe] - 1)
        flags = np.bincount(
            code[lately], weights=banded["red_flags"].to_numpy(dtype="float64")[lately], minlength=size
        ).astype("int64")

    m = missed.copy()
    m["episode_id"] = _ids(m["episode_id"])
    if len(scores) and len(m):
        answered = pd.DataFrame({"episode_id": _ids(scores["episode_id"]), "timepoint": scores["timepoint"]})
        m = m.merge(answered.drop_duplicates(), on=["episode_id", "timepoint"], how="left", indicator=True)
        m = m[m["_merge"] == "left_only"]
    listed = (
        m.sort_values(["episode_id", "closed_on", "timepoint"]).groupby("episode_id")["timepoint"].agg(list)
    )
    missed_lists = listed.to_dict()

    return pd.DataFrame(
        {
            "episode_id": ep["episode_id"],
            "as_of": ep["today"],
            "post_op_day": (today - surgery).astype("int64"),
            "last_checkin_date": _as_dates(last),
            "days_without_checkin": stale.astype("int64"),
            "axial_above_run": run("axial_above_upper"),
            "limb_above_run": run("limb_above_upper"),
            "pain_rise": rise,
            "pain_rise_site": rise_site,
            "adherence_week": _divide(completed_week.astype("float64"), prescribed_week.astype("float64")),
            "prescribed_week": prescribed_week,
            "completed_week": completed_week,
            "missed_timepoints": [list(missed_lists.get(e, [])) for e in ep["episode_id"]],
            "red_flags_last_24h": flags,
            "region": ep["region"] if "region" in ep.columns else "",
        }
    )


# ---------------------------------------------------------------------------------------------
# status

_SITE_WORDS: Final[dict[tuple[str, str], tuple[str, str]]] = {
    # (site, region) -> (clinician wording, patient wording)
    ("axial", "lumbar"): ("Back pain", "back pain"),
    ("axial", "cervical"): ("Neck pain", "neck pain"),
    ("limb", "lumbar"): ("Leg pain", "leg pain"),
    ("limb", "cervical"): ("Arm pain", "arm pain"),
    ("axial", ""): ("Axial (back or neck) pain", "back or neck pain"),
    ("limb", ""): ("Limb (leg or arm) pain", "leg or arm pain"),
}

_OFF, _WATCH = 2, 1


def _site_words(site: str, region: Any) -> tuple[str, str]:
    return _SITE_WORDS.get((site, region if isinstance(region, str) else ""), _SITE_WORDS[(site, "")])


def _date_text(value: Any) -> str:
    return "never" if pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _reason(code: str, level: int, clinician: str, patient: str) -> dict[str, Any]:
    return {
        "code": code,
        "level": "off_track" if level == _OFF else "watch",
        "clinician": clinician,
        "patient": patient,
    }


def assess(signals_frame: pd.DataFrame, thresholds: StatusThresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Status, risk and reasons per episode from ``signals()`` (rules in the module docstring).

    Each reason is ``{code, level, clinician, patient}``: the clinician text says what was seen and
    what to consider; the patient text is encouraging, never alarming, and shows no risk score.
    """
    s = signals_frame.reset_index(drop=True)
    t = thresholds
    flags = s["red_flags_last_24h"].to_numpy(dtype="float64")
    stale = s["days_without_checkin"].to_numpy(dtype="float64")
    runs = {site: s[f"{site}_above_run"].to_numpy(dtype="float64") for site in ("axial", "limb")}
    rise = s["pain_rise"].to_numpy(dtype="float64")
    adherence = s["adherence_week"].to_numpy(dtype="float64")
    missed_count = s["missed_timepoints"].map(len).to_numpy(dtype="float64")

    def level(off: np.ndarray, watch: np.ndarray) -> np.ndarray:
        return np.where(off, _OFF, np.where(watch, _WATCH, 0))

    levels = {
        "red_flag": level(flags > 0, np.zeros(len(s), dtype=bool)),
        "no_checkins": level(stale >= t.stale_off_days, stale >= t.stale_watch_days),
        "axial_above_band": level(runs["axial"] >= t.above_off_days, runs["axial"] >= t.above_watch_days),
        "limb_above_band": level(runs["limb"] >= t.above_off_days, runs["limb"] >= t.above_watch_days),
        "pain_rise": level(rise >= t.rise_off_points, rise >= t.rise_watch_points),
        "low_adherence": level(np.zeros(len(s), dtype=bool), adherence < t.adherence_watch_below),
        "missed_questionnaire": level(np.zeros(len(s), dtype=bool), missed_count > 0),
    }
    stacked = np.vstack(list(levels.values())) if len(s) else np.zeros((len(levels), 0))
    worst = stacked.max(axis=0) if len(s) else np.zeros(0)
    risk = (
        100.0 * (stacked == _OFF).sum(axis=0)
        + 10.0 * (stacked == _WATCH).sum(axis=0)
        + 0.1 * np.minimum(stale, 60)
        + 0.1 * (runs["axial"] + runs["limb"])
        + 0.5 * np.nan_to_num(np.maximum(rise, 0))
        + np.nan_to_num(1 - adherence)
    )

    regions = s["region"] if "region" in s.columns else pd.Series([""] * len(s))
    reasons: list[list[dict[str, Any]]] = []
    for i, row in enumerate(s.itertuples(index=False)):
        region = regions.iloc[i]
        found: list[dict[str, Any]] = []
        if levels["red_flag"][i]:
            n = int(flags[i])
            found.append(
                _reason(
                    "red_flag",
                    _OFF,
                    f"{n} red-flag symptom{'s' if n != 1 else ''} reported in the last 24 hours: read the "
                    "check-in and contact the patient today.",
                    "You told us about a symptom that needs a check. Please follow the advice shown when "
                    "you reported it; your care team can see it too.",
                )
            )
        if levels["no_checkins"][i]:
            since = (
                f"since {_date_text(row.last_checkin_date)}"
                if not pd.isna(row.last_checkin_date)
                else "since surgery"
            )
            found.append(
                _reason(
                    "no_checkins",
                    int(levels["no_checkins"][i]),
                    f"No check-in for {int(stale[i])} days ({since}): contact the patient to find out how "
                    "they are doing.",
                    "We have not heard from you for a few days. A quick check-in helps your care team "
                    "follow your recovery.",
                )
            )
        for site in ("axial", "limb"):
            code = f"{site}_above_band"
            if levels[code][i]:
                clinician_site, patient_site = _site_words(site, region)
                found.append(
                    _reason(
                        code,
                        int(levels[code][i]),
                        f"{clinician_site} above the expected upper band for {int(runs[site][i])} days in a "
                        f"row up to {_date_text(row.last_checkin_date)}: review pain relief and examine for "
                        "a cause.",
                        f"Your {patient_site} has been higher than we usually see at this stage. Your care "
                        "team will look at it with you; keep checking in so they can follow it.",
                    )
                )
        if levels["pain_rise"][i]:
            clinician_site, patient_site = _site_words(str(row.pain_rise_site), region)
            found.append(
                _reason(
                    "pain_rise",
                    int(levels["pain_rise"][i]),
                    f"{clinician_site}: 7-day mean rose by {rise[i]:.1f} points (NRS 0-10) over the last "
                    "week: ask about new activity, missed pain relief or new symptoms.",
                    f"Your {patient_site} has gone up a little this week. That can happen during recovery; "
                    "your care team will keep an eye on it.",
                )
            )
        if levels["low_adherence"][i]:
            found.append(
                _reason(
                    "low_adherence",
                    _WATCH,
                    f"{int(row.completed_week)} of {int(row.prescribed_week)} prescribed exercise sessions "
                    f"done in the last 7 days ({adherence[i]:.0%}): ask about barriers and adjust the plan.",
                    "Every exercise session helps your recovery. Try to fit in your next one today.",
                )
            )
        if levels["missed_questionnaire"][i]:
            names = ", ".join(row.missed_timepoints)
            found.append(
                _reason(
                    "missed_questionnaire",
                    _WATCH,
                    f"Questionnaire not answered before its window closed: {names}. Remind the patient "
                    "about the next one.",
                    "A questionnaire was missed. The next one helps your care team see your progress.",
                )
            )
        if not found:
            found.append(
                {
                    "code": "on_track",
                    "level": "on_track",
                    "clinician": "No concerns: pain within the expected band, check-ins up to date.",
                    "patient": "You are on track. Keep going!",
                }
            )
        reasons.append(found)

    status = np.where(worst == _OFF, "off_track", np.where(worst == _WATCH, "watch", "on_track"))
    return pd.DataFrame(
        {"episode_id": s["episode_id"], "status": status, "risk": risk.astype("float64"), "reasons": reasons}
    )


# ---------------------------------------------------------------------------------------------
# protocol data as frames

MILESTONE_SPEC_COLUMNS: Final = ("procedure", "key", "expected_by_day", "metric", "target", "window_days")
THRESHOLD_COLUMNS: Final = ("procedure", "instrument", "kind", "improvement", "label")


def bands_frame(recoveries: Mapping[str, ExpectedRecovery], last_day: int) -> pd.DataFrame:
    """The ``bands`` input for every procedure, post-op days 0..last_day."""
    parts = [r.band(last_day).assign(procedure=code) for code, r in recoveries.items()]
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype="float64") for c in ("procedure", "post_op_day", *BAND_VALUE_COLUMNS)}
        )
    return pd.concat(parts, ignore_index=True)


def milestone_specs_frame(recoveries: Mapping[str, ExpectedRecovery]) -> pd.DataFrame:
    rows = [
        {
            "procedure": code,
            "key": m.key,
            "expected_by_day": m.expected_by_day,
            "metric": m.metric,
            "target": np.nan if m.target is None else float(m.target),
            "window_days": m.window_days,
        }
        for code, r in recoveries.items()
        for m in r.milestones
    ]
    return pd.DataFrame(rows, columns=list(MILESTONE_SPEC_COLUMNS))


def thresholds_frame(recoveries: Mapping[str, ExpectedRecovery]) -> pd.DataFrame:
    rows = [
        {
            "procedure": code,
            "instrument": t.instrument,
            "kind": t.kind,
            "improvement": t.improvement,
            "label": t.label,
        }
        for code, r in recoveries.items()
        for t in r.thresholds
    ]
    return pd.DataFrame(rows, columns=list(THRESHOLD_COLUMNS))


# ---------------------------------------------------------------------------------------------
# milestones

MILESTONE_COLUMNS: Final = (
    "episode_id",
    "key",
    "metric",
    "expected_by_day",
    "expected_by",
    "achieved_on",
    "achieved_day",
    "state",
    "late",
    "evaluable",
    "recorded",
)


def _runs(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal consecutive ids."""
    values = ids.to_numpy(dtype=object)
    if not len(values):
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    heads = np.ones(len(values), dtype=bool)
    heads[1:] = values[1:] != values[:-1]
    starts = np.flatnonzero(heads)
    return starts, np.diff(np.append(starts, len(values)))


def milestone_states(
    daily: pd.DataFrame,
    episodes: pd.DataFrame,
    specs: pd.DataFrame,
    events: pd.DataFrame,
    walks: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per episode and milestone of its protocol (plus any other recorded milestone), with
    its state: met, missed, due or upcoming (rules in the module docstring)."""
    ep = _episodes(episodes)
    rows = ep[["episode_id", "procedure", "surgery_date", "today"]].merge(
        specs[list(MILESTONE_SPEC_COLUMNS)], on="procedure", how="inner"
    )
    ev = pd.DataFrame(
        {
            "episode_id": _ids(events["episode_id"]) if len(events) else pd.Series([], dtype=object),
            "key": events["key"].astype(object) if len(events) else pd.Series([], dtype=object),
            "achieved_on": _day(events["achieved_on"]) if len(events) else pd.Series([], dtype=DAY_DTYPE),
        }
    )
    if len(ev):
        ev = ev.groupby(["episode_id", "key"], as_index=False)["achieved_on"].min()
        known = pd.MultiIndex.from_frame(rows[["episode_id", "key"]])
        extra = ev[~pd.MultiIndex.from_frame(ev[["episode_id", "key"]]).isin(known)][["episode_id", "key"]]
        extra = extra.merge(
            ep[["episode_id", "procedure", "surgery_date", "today"]], on="episode_id", how="inner"
        ).assign(expected_by_day=np.nan, metric="event", target=np.nan, window_days=1)
        rows = pd.concat([rows, extra], ignore_index=True) if len(extra) else rows
    rows["expected_by_day"] = rows["expected_by_day"].astype("float64")

    universe = pd.Index(ep["episode_id"], dtype=object)
    size = len(ep)
    row_code = _codes(universe, rows["episode_id"])
    code = _codes(universe, daily["episode_id"]) if len(daily) else np.zeros(0, dtype="int64")
    day = _day_numbers(daily["local_date"]) if len(daily) else np.zeros(0, dtype="int64")
    pod_rows = daily["post_op_day"].to_numpy(dtype="int64")
    post = (code >= 0) & (pod_rows >= 0)
    walking = daily["walking_minutes"].to_numpy(dtype="float64")
    steps = daily["steps"].to_numpy(dtype="float64")

    first_walk = np.full(size, LAST_DAY, dtype="int64")
    walked = post & ((walking > 0) | (steps > 0))
    np.minimum.at(first_walk, code[walked], day[walked])
    if walks is not None and len(walks):
        w_code = _codes(universe, walks["episode_id"])
        w_day = _day_numbers(walks["local_date"])
        surgery = _day_numbers(ep["surgery_date"])
        logged = (w_code >= 0) & (_floats(walks, "walks") > 0)
        logged &= w_day >= surgery[np.where(w_code >= 0, w_code, 0)]
        np.minimum.at(first_walk, w_code[logged], w_day[logged])

    pre = (code >= 0) & (pod_rows < 0) & ~np.isnan(steps)
    baseline_all = _divide(
        np.bincount(code[pre], weights=steps[pre], minlength=size),
        np.bincount(code[pre], minlength=size).astype("float64"),
    )
    baseline = pd.Series(baseline_all[row_code], index=rows.index)
    is_steps = rows["metric"].isin(["steps_ratio", "steps_absolute"])
    threshold = np.where(rows["metric"] == "steps_ratio", rows["target"] * baseline, rows["target"])
    rows["threshold"] = np.where(is_steps, threshold, np.nan)
    rows["evaluable"] = ~((rows["metric"] == "steps_ratio") & baseline.isna())

    achieved_days = np.full(len(rows), LAST_DAY, dtype="int64")
    is_walk = (rows["metric"] == "walk_any").to_numpy()
    achieved_days[is_walk] = first_walk[row_code[is_walk]]
    steps_post = np.where(post, steps, np.nan)
    run_starts, run_lengths = _runs(daily["episode_id"])
    # One pass per milestone key and window (a handful), each over every episode at once.
    groups = rows[is_steps & rows["threshold"].notna()].groupby(["key", "window_days"]).groups
    for (_, window), index in groups.items():
        summed, count = _rolling(steps_post, run_starts, run_lengths, int(window))
        mean = np.where(count >= -(-int(window) // 2), _divide(summed, count), np.nan)
        wanted = np.full(size, np.nan)
        positions = rows.index.get_indexer(index)
        wanted[row_code[positions]] = rows["threshold"].to_numpy(dtype="float64")[positions]
        safe = np.where(code >= 0, code, 0)
        hit = (code >= 0) & (mean >= wanted[safe])
        first_hit = np.full(size, LAST_DAY, dtype="int64")
        np.minimum.at(first_hit, code[hit], day[hit])
        achieved_days[positions] = first_hit[row_code[positions]]
    achieved_days[achieved_days == LAST_DAY] = NO_DAY
    stepped_or_walked = pd.Series(_as_dates(achieved_days), index=rows.index)

    data_date = stepped_or_walked
    if len(ev):
        at = pd.MultiIndex.from_frame(ev[["episode_id", "key"]]).get_indexer(
            pd.MultiIndex.from_frame(rows[["episode_id", "key"]])
        )
        dates = ev["achieved_on"].to_numpy(dtype="datetime64[ns]")
        recorded = pd.Series(
            np.where(at >= 0, dates[np.maximum(at, 0)], np.datetime64("NaT")), index=rows.index
        )
    else:
        recorded = pd.Series(pd.NaT, index=rows.index, dtype=DAY_DTYPE)
    achieved = data_date.where(recorded.isna() | (data_date.notna() & (data_date <= recorded)), recorded)

    pod = _days_between(rows["today"], rows["surgery_date"])
    expected_by = rows["surgery_date"] + pd.to_timedelta(rows["expected_by_day"], unit="D")
    achieved_day = _days_between(achieved, rows["surgery_date"])
    state = np.where(
        achieved.notna(),
        "met",
        np.where(
            pod > rows["expected_by_day"],
            "missed",
            np.where(pod >= rows["expected_by_day"] - DUE_WITHIN_DAYS, "due", "upcoming"),
        ),
    )
    # A hand-recorded milestone outside the protocol has no expected-by day: met or nothing.
    out = rows.assign(
        expected_by=expected_by,
        achieved_on=achieved,
        achieved_day=achieved_day,
        state=state,
        late=(achieved_day > rows["expected_by_day"]).fillna(False).astype(bool),
        recorded=recorded.notna(),
    )
    return (
        out[list(MILESTONE_COLUMNS)]
        .sort_values(["episode_id", "expected_by_day", "key"], na_position="last")
        .reset_index(drop=True)
    )


# ---------------------------------------------------------------------------------------------
# questionnaires

PROM_COLUMNS: Final = (
    "episode_id",
    "timepoint",
    "instrument",
    "score",
    "answered_at",
    "baseline",
    "change",
    "reached",
)
REACHED_COLUMNS: Final = (
    "episode_id",
    "timepoint",
    "instrument",
    "kind",
    "label",
    "improvement",
    "change",
    "reached",
)


def prom_changes(
    scores: pd.DataFrame, episodes: pd.DataFrame, thresholds: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Questionnaire scores with the baseline and the change from it (baseline - score: positive
    means less disability; ODI and NDI are lower-is-better), and, per threshold of the episode's
    procedure and instrument, whether the change reached it. Returns (per score, per threshold)."""
    if not len(scores) or not len(episodes):
        return pd.DataFrame(columns=list(PROM_COLUMNS)), pd.DataFrame(columns=list(REACHED_COLUMNS))
    ep = pd.DataFrame({"episode_id": _ids(episodes["episode_id"]), "procedure": episodes["procedure"]})
    sc = scores.copy()
    sc["episode_id"] = _ids(sc["episode_id"])
    sc = sc.merge(ep, on="episode_id", how="inner")
    base = (
        sc[sc["timepoint"] == "baseline"]
        .groupby(["episode_id", "instrument"])["score"]
        .first()
        .rename("baseline")
    )
    sc = sc.merge(base.reset_index(), on=["episode_id", "instrument"], how="left")
    sc["change"] = np.where(sc["timepoint"] == "baseline", np.nan, sc["baseline"] - sc["score"])
    long = sc.merge(thresholds[list(THRESHOLD_COLUMNS)], on=["procedure", "instrument"], how="inner")
    long = long[long["timepoint"] != "baseline"]
    long = long.assign(reached=(long["change"] >= long["improvement"]).where(long["change"].notna(), None))
    hit = long[long["reached"] == True].groupby(["episode_id", "timepoint"])["kind"].agg(list)  # noqa: E712
    listed = sc[["episode_id", "timepoint"]].merge(
        hit.reset_index(), on=["episode_id", "timepoint"], how="left"
    )
    sc["reached"] = [kinds if isinstance(kinds, list) else [] for kinds in listed["kind"]]
    per_score = sc[list(PROM_COLUMNS)].reset_index(drop=True)
    return per_score, long[list(REACHED_COLUMNS)].reset_index(drop=True)
