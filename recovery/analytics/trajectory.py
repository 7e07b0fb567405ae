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
_NS: Final = np.dtype("datetime64[ns]")


# ---------------------------------------------------------------------------------------------
# helpers
#
# The functions below run for one episode on every trajectory view (a year of days) as well as
# for thousands at once, so they stay with numpy index arithmetic: episode positions from
# ``_codes``, joins from ``_join`` and one DataFrame built at the end. A pandas merge, groupby or
# MultiIndex costs about a millisecond whatever the size, several times the work itself for one
# episode.


def _array(frame: pd.DataFrame, name: str, dtype: Any = None) -> np.ndarray:
    """``frame[name].to_numpy(dtype=dtype)`` without the Series (a column read through a Series
    costs about 8 us; a trajectory reads some 150 columns): what the column stores, converted as
    ``Series.to_numpy`` converts it, read-only unless it is a copy."""
    at = frame.columns.get_loc(name)
    if type(at) is not int:  # a name listed twice: pandas decides
        return np.asarray(frame[name].to_numpy(dtype=dtype))
    values = frame._get_column_array(at)
    if not isinstance(values.dtype, np.dtype):
        return np.asarray(values.to_numpy(dtype))  # an extension array converts itself
    out = np.asarray(values, dtype=dtype)
    if not isinstance(values, np.ndarray) or np.may_share_memory(out, values):
        out = out.view()
        out.flags.writeable = False  # the frame's own memory, as ``Series.to_numpy`` gives it
    return out


#: For callers shaping the analytics' output (``recovery.trajectories.selectors``).
column_array = _array


def _stored(frame: pd.DataFrame, name: str) -> Any:
    """``frame[name].array`` without the Series."""
    at = frame.columns.get_loc(name)
    if type(at) is not int:
        return frame[name].array
    values = frame._get_column_array(at)
    return pd.arrays.NumpyExtensionArray(values) if isinstance(values, np.ndarray) else values


def _dtype(frame: pd.DataFrame, name: str) -> Any:
    """``frame[name].dtype`` without the Series."""
    at = frame.columns.get_loc(name)
    return frame._get_column_array(at).dtype if type(at) is int else frame[name].dtype


def _days_of(frame: pd.DataFrame, name: str) -> np.ndarray:
    """``_day_numbers(frame[name])``."""
    at = frame.columns.get_loc(name)
    if type(at) is int:
        values = frame._get_column_array(at)
        if values.dtype == _NS:  # naive nanoseconds, as the loader gives them: read as they are
            return _day_numbers(np.asarray(values))
    return _day_numbers(frame[name])


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


def _id_column(values: pd.Series | np.ndarray) -> tuple[np.ndarray, Any]:
    """Episode ids as Python strings in an object array (UUIDs and pandas' string dtype included),
    and the dtype of a column of them: object when they came as strings, else what ``map(str)``
    gives (``str``)."""
    out = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    if pd.api.types.infer_dtype(out, skipna=False) == "string":
        return out, np.dtype(object)
    mapped = pd.Series(out, dtype=object).map(str)
    return mapped.to_numpy(dtype=object), mapped.dtype


def _id_values(values: pd.Series | np.ndarray) -> np.ndarray:
    return _id_column(values)[0]


DAY_DTYPE: Final = "datetime64[ns]"
NO_DAY: Final = np.iinfo("int64").min
LAST_DAY: Final = np.iinfo("int64").max


def _day_numbers(values: Any) -> np.ndarray:
    """Calendar days as whole days since 1970-01-01 (int64); ``NO_DAY`` where missing."""
    if isinstance(values, np.ndarray) and values.dtype == np.dtype("datetime64[ns]"):
        stamps = values  # what the loader gives: no Series, no dtype checks
    else:
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


def _codes(ep: _Episodes, ids: pd.Series | np.ndarray) -> np.ndarray:
    """Each id's position in ``ep`` (the episodes frame's order), -1 when unknown.

    Rows usually come in runs of one episode (the loader sorts by episode), so only the first id
    of each run is hashed; the result is the same for any order."""
    values = np.asarray(ids, dtype=object) if isinstance(ids, np.ndarray) else ids.to_numpy(dtype=object)
    if not len(values):
        return np.zeros(0, dtype="int64")
    heads = np.ones(len(values), dtype=bool)
    heads[1:] = values[1:] != values[:-1]
    starts = np.flatnonzero(heads)
    found = ep.positions(_id_values(values[starts]))
    if len(starts) == 1:  # one episode's rows (a trajectory view)
        return np.full(len(values), found[0], dtype="int64")
    return np.asarray(np.repeat(found, np.diff(np.append(starts, len(values)))))


#: Up to this many episodes, ids are looked up in a dict: a pandas index costs tens of
#: microseconds to build and query, for one episode as for fifty.
_FEW_EPISODES: Final = 64


class _Episodes:
    """The episodes frame as arrays: ids (Python strings; ``id_dtype``: the dtype of their column)
    and the surgery date and today as day numbers; ``positions`` finds ids among them."""

    def __init__(self, episodes: pd.DataFrame) -> None:
        self.ids, self.id_dtype = _id_column(_array(episodes, "episode_id", object))
        self.surgery = _days_of(episodes, "surgery_date")
        self.today = _days_of(episodes, "today")
        self._lookup: dict[str, int] | None = None
        if len(self.ids) <= _FEW_EPISODES:
            lookup = {key: at for at, key in enumerate(self.ids.tolist())}
            # An id listed twice: left to pandas' index, which refuses it, as it always has.
            self._lookup = lookup if len(lookup) == len(self.ids) else None
        self._universe: pd.Index | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def universe(self) -> pd.Index:
        if self._universe is None:
            self._universe = pd.Index(self.ids, dtype=object)
        return self._universe

    @property
    def unique(self) -> bool:
        return self._lookup is not None or bool(self.universe.is_unique)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Each id's position (``Index.get_indexer``), -1 when unknown."""
        if self._lookup is not None:
            lookup = self._lookup
            return np.fromiter((lookup.get(key, -1) for key in ids.tolist()), dtype="int64", count=len(ids))
        # The ids as an object Index, so that pandas does not first infer a string dtype for them.
        return np.asarray(self.universe.get_indexer(pd.Index(ids, dtype=object)), dtype="int64")


def _factorized(*parts: np.ndarray, na_matches: bool = True) -> tuple[list[np.ndarray], int]:
    """Integer codes (0..n-1) of the values of ``parts`` over their common set of values, and n.
    ``na_matches``: NaN is a value like any other (a pandas merge joins NaN keys); otherwise NaN
    gets -1 (a groupby drops it)."""
    joined = np.concatenate(parts)
    codes, uniques = pd.factorize(joined, use_na_sentinel=not na_matches)
    codes = np.asarray(codes, dtype="int64")
    return np.split(codes, np.cumsum([len(part) for part in parts[:-1]])), len(uniques)


def _join(
    left: np.ndarray, right: np.ndarray, size: int, *, keep_left: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (left row, right row) of a join on integer codes (0..size-1; -1 matches nothing),
    in a pandas merge's order: left rows in their order, each with its right rows in theirs.
    ``keep_left``: a left row without a match comes once, with right row -1 (``how="left"``)."""
    known = np.flatnonzero(right >= 0)
    order = known[np.argsort(right[known], kind="stable")]
    counts = np.bincount(right[order], minlength=size)
    starts = np.cumsum(counts) - counts
    has = left >= 0
    matches = np.zeros(len(left), dtype="int64")
    first = np.zeros(len(left), dtype="int64")
    if size:
        matches[has] = counts[left[has]]
        first[has] = starts[left[has]]
    per_row = np.maximum(matches, 1) if keep_left else matches
    left_rows = np.repeat(np.arange(len(left), dtype="int64"), per_row)
    within = np.arange(len(left_rows), dtype="int64") - np.repeat(np.cumsum(per_row) - per_row, per_row)
    right_rows = np.full(len(left_rows), -1, dtype="int64")
    matched = within < np.repeat(matches, per_row)
    right_rows[matched] = order[(np.repeat(first, per_row) + within)[matched]]
    return left_rows, right_rows


def _take(column: pd.Series, rows: np.ndarray) -> Any:
    """``column``'s values at ``rows`` (-1: missing, filled as a merge fills it), same dtype."""
    return column.array.take(rows, allow_fill=True)


def _pick(frame: pd.DataFrame, name: str, rows: np.ndarray) -> Any:
    """``frame[name].array.take(rows, allow_fill=True)`` for rows that all exist (no -1): a numpy
    column is indexed directly (an object one comes back as an object ``NumpyExtensionArray``,
    which ``_frame`` keeps object)."""
    values = _stored(frame, name)
    if type(values) is not pd.arrays.NumpyExtensionArray:
        return values.take(rows, allow_fill=True)
    picked = values.to_numpy()[rows]
    return pd.arrays.NumpyExtensionArray(picked) if picked.dtype.kind == "O" else picked


def _typed(values: np.ndarray, dtype: Any) -> Any:
    """``pd.array(values, dtype=dtype)`` for a new array of ours (not copied when object)."""
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return pd.arrays.NumpyExtensionArray(np.asarray(values, dtype=object))
    return pd.array(values, dtype=dtype)


def _frame(columns: Mapping[str, Any], size: int) -> pd.DataFrame:
    """One DataFrame from arrays (not copied) on a new RangeIndex. An object ``NumpyExtensionArray``
    (``_take`` of an object column, ``pd.array(..., dtype=object)``) stays object; an object
    ndarray of strings becomes ``str``, as pandas infers it."""
    index = pd.RangeIndex(size)
    data = {
        # A Series on the frame's own index: no alignment, and no dtype inference.
        name: pd.Series(values.to_numpy(), index=index, dtype=object, copy=False)
        if type(values) is pd.arrays.NumpyExtensionArray and values.dtype.kind == "O"
        else values
        for name, values in columns.items()
    }
    return pd.DataFrame(data, index=index, copy=False)


def _rolling(
    values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of non-NaN values over the ``window`` rows ending at each row, never reaching
    back before the row's group (groups: ``lengths`` consecutive rows from ``starts``, each one
    episode's consecutive calendar days). ``values``: one series, or several as the rows of a 2-D
    array (one pass for all; each row's sums are the ones it gets on its own)."""
    size = values.shape[-1]
    present = ~np.isnan(values)
    summed = np.zeros((*values.shape[:-1], size + 1))
    np.cumsum(np.where(present, values, 0.0), axis=-1, out=summed[..., 1:])
    counted = np.zeros((*values.shape[:-1], size + 1))
    np.cumsum(present, axis=-1, out=counted[..., 1:])
    total = summed[..., 1:].copy()
    count = counted[..., 1:].copy()
    if size > window:
        total[..., window:] -= summed[..., 1 : size - window + 1]
        count[..., window:] -= counted[..., 1 : size - window + 1]
    # The first window-1 rows of each group would reach into the previous group: start at their own.
    k = np.arange(window - 1)
    near = (starts[:, None] + k[None, :])[k[None, :] < lengths[:, None]]
    own = np.repeat(starts, np.minimum(lengths, window - 1))
    total[..., near] = summed[..., near + 1] - summed[..., own]
    count[..., near] = counted[..., near + 1] - counted[..., own]
    return total, count


#: Up to this many rows, the rolling sums of the daily series run as one 2-D pass (numpy's
#: per-call cost dominates); above it, one column at a time (a sixth of the memory).
_BATCH_ROWS: Final = 50_000


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    dtype = _dtype(frame, column)
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return _array(frame, column, "float64")  # already numbers: no ``to_numeric``
    values = frame[column]
    return np.asarray(pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))


def _floats_of(column: pd.Series) -> np.ndarray:
    """``column.astype("float64")`` as an array (without a Series when it already holds numbers)."""
    if _numeric(column):
        return np.asarray(column.to_numpy(dtype="float64"))
    return np.asarray(column.astype("float64").to_numpy(), dtype="float64")


def _ints_of(frame: pd.DataFrame, column: str) -> np.ndarray:
    """``frame[column].astype("int64")`` as an array (it refuses a missing value, as a merge key
    must)."""
    if _dtype(frame, column) == np.dtype("int64"):
        return _array(frame, column)
    return np.asarray(frame[column].astype("int64").to_numpy())


def _numeric(column: pd.Series) -> bool:
    return isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiub"


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
    ep = _Episodes(episodes)
    surgery, today = ep.surgery, ep.today

    c_code = (
        _codes(ep, _array(checkins, "episode_id", object)) if len(checkins) else np.zeros(0, dtype="int64")
    )
    c_day = _days_of(checkins, "local_date") if len(checkins) else np.zeros(0, dtype="int64")
    keep = (c_code >= 0) & (c_day != NO_DAY)
    c_code, c_day = c_code[keep], c_day[keep]
    a_code = (
        _codes(ep, _array(adherence, "episode_id", object)) if len(adherence) else np.zeros(0, dtype="int64")
    )
    a_day = _days_of(adherence, "local_date") if len(adherence) else np.zeros(0, dtype="int64")
    a_keep = (a_code >= 0) & (a_day != NO_DAY)
    a_code, a_day = a_code[a_keep], a_day[a_keep]

    recent = "since" in episodes.columns
    if recent:
        # Recent frames (``load_frames(recent_days=...)``): rows start at each episode's first
        # loaded day; nothing before it was read.
        since = _days_of(episodes, "since")
        c_from = c_day >= since[c_code]
        keep[keep] = c_from
        c_code, c_day = c_code[c_from], c_day[c_from]
        a_from = a_day >= since[a_code]
        a_keep[a_keep] = a_from
        a_code, a_day = a_code[a_from], a_day[a_from]
    first = surgery.copy()
    np.minimum.at(first, c_code, c_day)
    np.minimum.at(first, a_code, a_day)
    if recent:
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
        "episode_id": np.repeat(ep.ids, n),
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
    rolled = ("axial_mean", "limb_mean", "walking_minutes", "steps")
    if total <= _BATCH_ROWS:
        summed, count = _rolling(
            np.vstack([*(columns[c] for c in rolled), prescribed, completed]), offsets, n, ROLLING_DAYS
        )
        means = _divide(summed[:4], count[:4])
        for at, column in enumerate(rolled):
            columns[f"{column}_7d"] = means[at]
        due_7, done_7 = summed[4], summed[5]
    else:
        for column in rolled:
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
    before surgery or past the band) and whether the day's mean pain was above the upper band.

    The same rows and columns as merging ``daily`` with the episodes' procedure and then with
    ``bands`` on (procedure, post_op_day), both left joins; the joins run on integer codes."""
    procedure_dtype, band_procedure_dtype = _dtype(episodes, "procedure"), _dtype(bands, "procedure")
    if not (_is_text(procedure_dtype) and _is_text(band_procedure_dtype)):
        return _with_band_merged(daily, episodes, bands)  # e.g. no band at all: pandas' own checks
    ep = _Episodes(episodes)
    daily_ids = _array(daily, "episode_id", object)
    one_each = ep.unique
    if one_each:
        rows = np.arange(len(daily), dtype="int64")
        episode_rows = _codes(ep, daily_ids)
    else:  # an episode listed twice: its days come twice, as a merge gives them
        (daily_codes, episode_codes), id_count = _factorized(daily_ids, ep.ids)
        rows, episode_rows = _join(daily_codes, episode_codes, id_count, keep_left=True)

    # Procedure codes per episode; the last one (NaN) for a day whose episode is not listed.
    (episode_procedures, band_procedures), procedure_count = _factorized(
        np.append(_array(episodes, "procedure", object), np.nan), _array(bands, "procedure", object)
    )
    (row_days, band_days), day_count = _small_codes(
        _array(daily, "post_op_day", "int64")[rows], _ints_of(bands, "post_op_day")
    )
    matched, band_rows = _join(
        episode_procedures[episode_rows] * day_count + row_days,
        band_procedures * day_count + band_days,
        procedure_count * day_count,
        keep_left=True,
    )
    if len(matched) != len(rows):  # a procedure's day listed twice in ``bands``
        one_each, rows, episode_rows = False, rows[matched], episode_rows[matched]
    out = daily.reset_index(drop=True) if one_each else daily.take(rows).reset_index(drop=True)

    # The key columns' dtypes, as the two merges leave them.
    id_dtype = _merged_key_dtype(_dtype(daily, "episode_id"), ep.id_dtype, len(daily), len(episodes))
    if _dtype(out, "episode_id") != id_dtype:
        out["episode_id"] = pd.Series(_array(out, "episode_id", object), dtype=id_dtype)
    procedure = _stored(episodes, "procedure").take(episode_rows, allow_fill=True)
    procedure_dtype = _merged_key_dtype(procedure.dtype, band_procedure_dtype, len(rows), len(bands))
    added: dict[str, Any] = {"procedure": pd.array(procedure, dtype=procedure_dtype)}
    for column in BAND_VALUE_COLUMNS:
        added[column] = _take_floats(bands, column, band_rows)
    # NaN > x is False: a day without data, or without a band, is never "above".
    added["axial_above_upper"] = _array(out, "axial_mean", "float64") > added["axial_upper"]
    added["limb_above_upper"] = _array(out, "limb_mean", "float64") > added["limb_upper"]
    return pd.concat([out, _frame(added, len(out))], axis=1)


def _small_codes(*parts: np.ndarray) -> tuple[list[np.ndarray], int]:
    """``_factorized`` for integers in a short range (days): codes by subtraction, no hashing."""
    joined = np.concatenate(parts)
    if not len(joined):
        return [np.zeros(0, dtype="int64") for _ in parts], 0
    low, high = int(joined.min()), int(joined.max())
    if high - low > 4 * len(joined) + 1024:
        return _factorized(*parts)
    return [part - low for part in parts], high - low + 1


def _take_floats(frame: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
    """float64 values of ``frame[column]`` at ``rows``, NaN where the row is -1."""
    dtype = _dtype(frame, column)
    numeric = isinstance(dtype, np.dtype) and dtype.kind in "fiub"
    values = _array(frame, column, "float64") if numeric else _floats_of(frame[column])
    out = np.full(len(rows), np.nan)
    found = rows >= 0
    out[found] = values[rows[found]]
    return out


def _is_text(dtype: Any) -> bool:
    return bool(pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype))


def _with_band_merged(daily: pd.DataFrame, episodes: pd.DataFrame, bands: pd.DataFrame) -> pd.DataFrame:
    """``with_band`` as pandas merges, for key columns that are not text (pandas decides whether
    they can be joined at all)."""
    ids, id_dtype = _id_column(episodes["episode_id"])
    ep = pd.DataFrame(
        {
            "episode_id": pd.Series(ids, dtype=id_dtype),
            "procedure": episodes["procedure"].reset_index(drop=True),
        }
    )
    out = daily.merge(ep, on="episode_id", how="left")
    b = bands[["procedure", "post_op_day", *BAND_VALUE_COLUMNS]].copy()
    b["post_op_day"] = b["post_op_day"].astype("int64")
    out = out.merge(b, on=["procedure", "post_op_day"], how="left")
    for column in BAND_VALUE_COLUMNS:
        out[column] = out[column].astype("float64")
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
    ep = _Episodes(episodes)
    today, surgery = ep.today, ep.surgery
    size = len(ep)

    code = _codes(ep, _array(banded, "episode_id", object)) if len(banded) else np.zeros(0, dtype="int64")
    day = _days_of(banded, "local_date") if len(banded) else np.zeros(0, dtype="int64")
    valid = (code >= 0) & (day != NO_DAY)
    safe = np.where(valid, code, 0)
    has = valid & (_array(banded, "checkins") > 0)

    last = np.full(size, NO_DAY, dtype="int64")
    np.maximum.at(last, code[has], day[has])
    has_last = last != NO_DAY
    stale = np.where(has_last, today - np.where(has_last, last, 0), today - surgery).clip(min=0)

    first = np.full(size, LAST_DAY, dtype="int64")
    np.minimum.at(first, code[valid], day[valid])
    upto = valid & has_last[safe] & (day <= last[safe])

    def run(flag: str) -> np.ndarray:
        above = _array(banded, flag, bool)
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

    def value_on(values: np.ndarray, days: np.ndarray) -> np.ndarray:
        out = np.full(size, np.nan)
        if not len(sorted_keys):
            return out
        offset = np.where(has_last, days, base) - base
        wanted = np.arange(size) * span + offset
        at = np.clip(np.searchsorted(sorted_keys, wanted), 0, len(sorted_keys) - 1)
        found = has_last & (offset >= 0) & (offset < span) & (sorted_keys[at] == wanted)
        out[found] = values[order[at[found]]]
        return out

    shifted = np.where(has_last, last, base) - ROLLING_DAYS
    axial_7d = _array(banded, "axial_mean_7d", "float64")
    limb_7d = _array(banded, "limb_mean_7d", "float64")
    axial_rise = value_on(axial_7d, last) - value_on(axial_7d, shifted)
    limb_rise = value_on(limb_7d, last) - value_on(limb_7d, shifted)
    rise = np.fmax(axial_rise, limb_rise)
    rise_site = np.full(size, None, dtype=object)
    limb_larger = np.isnan(axial_rise) | (limb_rise > axial_rise)
    rise_site[~np.isnan(rise)] = np.where(limb_larger, "limb", "axial")[~np.isnan(rise)]

    week = valid & (day < today[safe]) & (day >= today[safe] - ROLLING_DAYS)
    prescribed_week = np.bincount(
        code[week], weights=_array(banded, "prescribed", "float64")[week], minlength=size
    ).astype("int64")
    completed_week = np.minimum(
        np.bincount(code[week], weights=_array(banded, "completed", "float64")[week], minlength=size),
        prescribed_week,
    ).astype("int64")

    if checkins is not None and now is not None and len(checkins):
        instant = pd.Timestamp(now)
        instant = instant.tz_convert("UTC") if instant.tzinfo else instant.tz_localize("UTC")
        recorded = _stored(checkins, "recorded_at")
        if not isinstance(recorded, pd.arrays.DatetimeArray):  # naive or aware: already instants
            recorded = pd.to_datetime(checkins["recorded_at"], utc=True).array
        # Instants as nanoseconds since the epoch, UTC (NaT is the smallest integer: never recent).
        stamps = np.asarray(recorded.as_unit("ns").asi8)
        until = instant.as_unit("ns")
        recent = (stamps > (until - pd.Timedelta(hours=24)).value) & (stamps <= until.value)
        r_code = _codes(ep, _array(checkins, "episode_id", object))
        known = recent & (r_code >= 0)
        flags = np.bincount(
            r_code[known], weights=_floats(checkins, "red_flag_count")[known], minlength=size
        ).astype("int64")
    elif checkins is not None and now is not None:
        flags = np.zeros(size, dtype="int64")
    else:
        lately = valid & (day >= today[safe] - 1)
        flags = np.bincount(
            code[lately], weights=_array(banded, "red_flags", "float64")[lately], minlength=size
        ).astype("int64")

    region: Any = _pick(episodes, "region", np.arange(size)) if "region" in episodes.columns else ""
    missed_lists = _missed_lists(ep, missed, scores)
    return _frame(
        {
            "episode_id": _typed(ep.ids.copy(), ep.id_dtype),
            "as_of": _as_dates(today),
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
            "missed_timepoints": _list_column(missed_lists),
            "red_flags_last_24h": flags,
            "region": region,
        },
        size,
    )


def _missed_lists(ep: _Episodes, missed: pd.DataFrame, scores: pd.DataFrame) -> list[list[Any]]:
    """Per episode, the timepoints in ``missed`` without an answer in ``scores`` (the same episode
    and timepoint), ordered by closing day then timepoint."""
    lists: list[list[Any]] = [[] for _ in range(len(ep))]
    if not len(missed):
        return lists
    ids = _id_values(_array(missed, "episode_id", object))
    timepoints = _array(missed, "timepoint", object)
    wanted = np.ones(len(missed), dtype=bool)
    if len(scores):
        (missed_ids, answered_ids), _ = _factorized(ids, _id_values(_array(scores, "episode_id", object)))
        (missed_points, answered_points), point_count = _factorized(
            timepoints, _array(scores, "timepoint", object)
        )
        answered = np.unique(answered_ids * point_count + answered_points)
        wanted = ~np.isin(missed_ids * point_count + missed_points, answered)
    code = ep.positions(ids)
    rows = np.flatnonzero(wanted & (code >= 0))
    if not len(rows):
        return lists
    closed = _days_of(missed, "closed_on")[rows]
    point_codes, point_values = pd.factorize(timepoints[rows])
    point_rank = np.empty(len(point_values) + 1, dtype="int64")
    point_rank[np.argsort(np.asarray(point_values, dtype=object), kind="stable")] = np.arange(
        len(point_values)
    )
    point_rank[-1] = len(point_values)  # a missing timepoint sorts last
    closed_missing = closed == NO_DAY
    order = np.lexsort(
        (point_rank[point_codes], np.where(closed_missing, 0, closed), closed_missing, code[rows])
    )
    for at, point in zip(code[rows][order].tolist(), timepoints[rows][order].tolist(), strict=True):
        lists[at].append(point)
    return lists


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
    index = signals_frame.index
    plain = type(index) is pd.RangeIndex and index.start == 0 and index.step == 1 and index.name is None
    s = signals_frame if plain else signals_frame.reset_index(drop=True)  # already 0..n-1: no copy
    t = thresholds
    flags = _array(s, "red_flags_last_24h", "float64")
    stale = _array(s, "days_without_checkin", "float64")
    runs = {site: _array(s, f"{site}_above_run", "float64") for site in ("axial", "limb")}
    rise = _array(s, "pain_rise", "float64")
    adherence = _array(s, "adherence_week", "float64")
    missed = _array(s, "missed_timepoints", object)
    missed_count = np.fromiter((len(listed) for listed in missed), dtype="float64", count=len(missed))

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

    regions = _array(s, "region", object) if "region" in s.columns else np.full(len(s), "", dtype=object)
    # Columns, not ``itertuples``: only the few values a reason's text needs are read.
    last_dates = _array(s, "last_checkin_date")
    rise_sites = _array(s, "pain_rise_site", object)
    completed_week = _array(s, "completed_week")
    prescribed_week = _array(s, "prescribed_week")
    reasons: list[list[dict[str, Any]]] = []
    for i in range(len(s)):
        region = regions[i]
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
            since = f"since {_date_text(last_dates[i])}" if not pd.isna(last_dates[i]) else "since surgery"
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
                        f"row up to {_date_text(last_dates[i])}: review pain relief and examine for "
                        "a cause.",
                        f"Your {patient_site} has been higher than we usually see at this stage. Your care "
                        "team will look at it with you; keep checking in so they can follow it.",
                    )
                )
        if levels["pain_rise"][i]:
            clinician_site, patient_site = _site_words(str(rise_sites[i]), region)
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
                    f"{int(completed_week[i])} of {int(prescribed_week[i])} prescribed exercise sessions "
                    f"done in the last 7 days ({adherence[i]:.0%}): ask about barriers and adjust the plan.",
                    "Every exercise session helps your recovery. Try to fit in your next one today.",
                )
            )
        if levels["missed_questionnaire"][i]:
            names = ", ".join(missed[i])
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
        # No protocol at all (a procedure a clinic added without one): no band, same columns.
        return pd.DataFrame(
            {
                "procedure": pd.Series(dtype=object),
                "post_op_day": pd.Series(dtype="int64"),
                **{c: pd.Series(dtype="float64") for c in BAND_VALUE_COLUMNS},
            }
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


def _runs(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal consecutive ids."""
    values = np.asarray(ids, dtype=object)
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
    its state: met, missed, due or upcoming (rules in the module docstring).

    Rows are ordered by episode id, expected-by day (recorded milestones outside the protocol
    last) and key."""
    ep = _Episodes(episodes)
    size = len(ep)
    # Each episode's protocol milestones (episodes x specs on the procedure, in a merge's order),
    # then the recorded ones outside its protocol.
    (episode_procedures, spec_procedures), procedure_count = _factorized(
        _array(episodes, "procedure", object), _array(specs, "procedure", object)
    )
    row_code, spec_rows = _join(episode_procedures, spec_procedures, procedure_count)
    keys = _array(specs, "key", object)[spec_rows]
    metrics = _array(specs, "metric", object)[spec_rows]
    expected_by_day = _array(specs, "expected_by_day", "float64")[spec_rows]
    target = _floats(specs, "target")[spec_rows]
    window_days = _array(specs, "window_days")[spec_rows]
    key_dtype, metric_dtype = _dtype(specs, "key"), _dtype(specs, "metric")

    recorded_days = np.full(len(row_code), NO_DAY, dtype="int64")
    if len(events):
        # The earliest recorded date per (episode, key); a key without any date still counts as
        # recorded (a row), with no date.
        e_code = _codes(ep, _array(events, "episode_id", object))
        e_keys = _array(events, "key", object)
        (row_keys, e_key_codes), key_count = _factorized(keys, e_keys, na_matches=False)
        usable = np.flatnonzero((e_code >= 0) & (e_key_codes >= 0))
        pairs = e_code[usable] * key_count + e_key_codes[usable]
        unique_pairs, first_event, which = np.unique(pairs, return_index=True, return_inverse=True)
        e_days = _days_of(events, "achieved_on")[usable]
        earliest = np.full(len(unique_pairs), LAST_DAY, dtype="int64")
        dated = e_days != NO_DAY
        np.minimum.at(earliest, which[dated], e_days[dated])
        earliest[earliest == LAST_DAY] = NO_DAY
        if len(unique_pairs):
            row_pairs = np.where(row_keys >= 0, row_code * key_count + row_keys, -1)
            at = np.minimum(np.searchsorted(unique_pairs, row_pairs), len(unique_pairs) - 1)
            found = (row_pairs >= 0) & (unique_pairs[at] == row_pairs)
            recorded_days[found] = earliest[at[found]]
            listed = np.zeros(len(unique_pairs), dtype=bool)  # recorded keys of the protocol
            listed[at[found]] = True
            extra = np.flatnonzero(~listed)
            if len(extra):
                extra_keys = e_keys[usable[first_event[extra]]]
                # The dtypes of concatenating the protocol rows with those of a groupby result.
                key_dtype = _concat_dtype(key_dtype, pd.Series(extra_keys).dtype)
                metric_dtype = _concat_dtype(metric_dtype, pd.Series(["event"]).dtype)
                row_code = np.concatenate([row_code, unique_pairs[extra] // key_count])
                keys = np.concatenate([keys, extra_keys])
                metrics = np.concatenate([metrics, np.full(len(extra), "event", dtype=object)])
                expected_by_day = np.concatenate([expected_by_day, np.full(len(extra), np.nan)])
                target = np.concatenate([target, np.full(len(extra), np.nan)])
                window_days = np.concatenate([window_days, np.ones(len(extra), dtype=window_days.dtype)])
                recorded_days = np.concatenate([recorded_days, earliest[extra]])

    daily_ids = _array(daily, "episode_id", object)
    code = _codes(ep, daily_ids) if len(daily) else np.zeros(0, dtype="int64")
    day = _days_of(daily, "local_date") if len(daily) else np.zeros(0, dtype="int64")
    pod_rows = _array(daily, "post_op_day", "int64")
    post = (code >= 0) & (pod_rows >= 0)
    walking = _array(daily, "walking_minutes", "float64")
    steps = _array(daily, "steps", "float64")

    first_walk = np.full(size, LAST_DAY, dtype="int64")
    walked = post & ((walking > 0) | (steps > 0))
    np.minimum.at(first_walk, code[walked], day[walked])
    if walks is not None and len(walks):
        w_code = _codes(ep, _array(walks, "episode_id", object))
        w_day = _days_of(walks, "local_date")
        logged = (w_code >= 0) & (_floats(walks, "walks") > 0)
        logged &= w_day >= ep.surgery[np.where(w_code >= 0, w_code, 0)]
        np.minimum.at(first_walk, w_code[logged], w_day[logged])

    pre = (code >= 0) & (pod_rows < 0) & ~np.isnan(steps)
    baseline_all = _divide(
        np.bincount(code[pre], weights=steps[pre], minlength=size),
        np.bincount(code[pre], minlength=size).astype("float64"),
    )
    baseline = baseline_all[row_code]
    is_ratio = metrics == "steps_ratio"
    is_steps = is_ratio | (metrics == "steps_absolute")
    threshold = np.where(is_steps, np.where(is_ratio, target * baseline, target), np.nan)
    evaluable = ~(is_ratio & np.isnan(baseline))

    achieved_days = np.full(len(row_code), LAST_DAY, dtype="int64")
    is_walk = metrics == "walk_any"
    achieved_days[is_walk] = first_walk[row_code[is_walk]]
    key_codes, key_values = pd.factorize(keys)
    stepped = np.flatnonzero(is_steps & ~np.isnan(threshold) & (key_codes >= 0) & ~pd.isna(window_days))
    if len(stepped):
        steps_post = np.where(post, steps, np.nan)
        run_starts, run_lengths = _runs(daily_ids)
        safe = np.where(code >= 0, code, 0)
        window_codes, windows = pd.factorize(window_days[stepped])
        groups, group_of = np.unique(key_codes[stepped] * len(windows) + window_codes, return_inverse=True)
        means: dict[int, np.ndarray] = {}
        # One pass per milestone key and window (a handful), each over every episode at once.
        for group in range(len(groups)):
            positions = stepped[group_of == group]
            window = int(windows[window_codes[group_of == group][0]])
            if window not in means:
                summed, count = _rolling(steps_post, run_starts, run_lengths, window)
                means[window] = np.where(count >= -(-window // 2), _divide(summed, count), np.nan)
            mean = means[window]
            wanted = np.full(size, np.nan)
            wanted[row_code[positions]] = threshold[positions]
            hit = (code >= 0) & (mean >= wanted[safe])
            first_hit = np.full(size, LAST_DAY, dtype="int64")
            np.minimum.at(first_hit, code[hit], day[hit])
            achieved_days[positions] = first_hit[row_code[positions]]
    achieved_days[achieved_days == LAST_DAY] = NO_DAY
    # A recorded date also counts for a data milestone: the earlier date wins.
    both = (achieved_days != NO_DAY) & (recorded_days != NO_DAY)
    achieved = np.where(achieved_days == NO_DAY, recorded_days, achieved_days)
    achieved[both] = np.minimum(achieved_days[both], recorded_days[both])

    surgery, today = ep.surgery[row_code], ep.today[row_code]
    no_surgery = surgery == NO_DAY
    pod = np.where(no_surgery | (today == NO_DAY), np.nan, (today - surgery).astype("float64"))
    achieved_day = np.where(no_surgery | (achieved == NO_DAY), np.nan, (achieved - surgery).astype("float64"))
    whole = np.isnan(expected_by_day) | (expected_by_day == np.round(expected_by_day))
    if bool(whole.all()):
        expected_by = _as_dates(
            np.where(
                no_surgery | np.isnan(expected_by_day),
                NO_DAY,
                surgery + np.nan_to_num(expected_by_day).astype("int64"),
            )
        )
    else:
        expected_by = _as_dates(surgery) + pd.to_timedelta(expected_by_day, unit="D").to_numpy()
    # A hand-recorded milestone outside the protocol has no expected-by day: met or nothing.
    state = np.where(
        achieved != NO_DAY,
        "met",
        np.where(
            pod > expected_by_day,
            "missed",
            np.where(pod >= expected_by_day - DUE_WITHIN_DAYS, "due", "upcoming"),
        ),
    )

    episode_rank = np.empty(size, dtype="int64")
    episode_rank[np.argsort(ep.ids, kind="stable")] = np.arange(size)
    key_rank = np.empty(len(key_values) + 1, dtype="int64")
    key_rank[np.argsort(np.asarray(key_values, dtype=object), kind="stable")] = np.arange(len(key_values))
    key_rank[-1] = len(key_values)  # a missing key sorts last
    no_day = np.isnan(expected_by_day)
    order = np.lexsort(
        (key_rank[key_codes], np.where(no_day, 0.0, expected_by_day), no_day, episode_rank[row_code])
    )
    return _frame(
        {
            "episode_id": _typed(ep.ids[row_code[order]], ep.id_dtype),
            "key": _typed(keys[order], key_dtype),
            "metric": _typed(metrics[order], metric_dtype),
            "expected_by_day": expected_by_day[order],
            "expected_by": expected_by[order],
            "achieved_on": _as_dates(achieved[order]),
            "achieved_day": achieved_day[order],
            "state": state[order],
            "late": (achieved_day > expected_by_day)[order],
            "evaluable": evaluable[order],
            "recorded": (recorded_days != NO_DAY)[order],
        },
        len(order),
    )


def _concat_dtype(first: Any, second: Any) -> Any:
    return pd.concat([pd.Series([], dtype=first), pd.Series([], dtype=second)]).dtype


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
    procedure and instrument, whether the change reached it. Returns (per score, per threshold).

    The baseline is the first baseline score given for the episode and instrument. Rows keep the
    order of ``scores`` (per threshold: each score's thresholds in the order of ``thresholds``)."""
    if not len(scores) or not len(episodes):
        return pd.DataFrame(columns=list(PROM_COLUMNS)), pd.DataFrame(columns=list(REACHED_COLUMNS))
    ids, id_dtype = _id_column(_array(scores, "episode_id", object))
    episode_ids_as_text, episode_id_dtype = _id_column(_array(episodes, "episode_id", object))
    (score_ids, episode_ids), id_count = _factorized(ids, episode_ids_as_text)
    rows, episode_rows = _join(score_ids, episode_ids, id_count)  # scores of known episodes
    timepoints = _array(scores, "timepoint", object)[rows]
    instruments = _array(scores, "instrument", object)[rows]
    score_values = _stored(scores, "score")
    numbers = _array(scores, "score")[rows]
    is_baseline = timepoints == "baseline"

    # Baseline: the first non-missing baseline score per (episode, instrument).
    instrument_codes, instrument_values = pd.factorize(instruments)
    group = score_ids[rows] * len(instrument_values) + instrument_codes
    candidates = np.flatnonzero(is_baseline & ~pd.isna(numbers) & (instrument_codes >= 0))
    groups, first = np.unique(group[candidates], return_index=True)
    base_rows = np.full(len(rows), -1, dtype="int64")
    if len(groups):
        at = np.minimum(np.searchsorted(groups, group), len(groups) - 1)
        found = (instrument_codes >= 0) & (groups[at] == group)
        base_rows[found] = rows[candidates[first[at[found]]]]
    baseline = score_values.take(base_rows, allow_fill=True)
    change = np.where(is_baseline, np.nan, baseline.to_numpy() - numbers)

    # Per threshold: scores x thresholds on (procedure, instrument), baselines left out.
    (row_procedures, threshold_procedures), procedure_count = _factorized(
        _array(episodes, "procedure", object)[episode_rows],
        _array(thresholds, "procedure", object),
    )
    (row_instruments, threshold_instruments), instrument_count = _factorized(
        instruments, _array(thresholds, "instrument", object)
    )
    paired, threshold_rows = _join(
        row_procedures * instrument_count + row_instruments,
        threshold_procedures * instrument_count + threshold_instruments,
        procedure_count * instrument_count,
    )
    kept = ~is_baseline[paired]
    paired, threshold_rows = paired[kept], threshold_rows[kept]
    improvement = _stored(thresholds, "improvement").take(threshold_rows, allow_fill=True)
    paired_change = change[paired]
    with np.errstate(invalid="ignore"):
        above = np.asarray(paired_change >= improvement.to_numpy(dtype="float64"), dtype=bool)
    unknown = np.isnan(paired_change)
    if unknown.any():  # no baseline: neither reached nor missed
        reached = above.astype(object)
        reached[unknown] = None
        reached_column: Any = pd.arrays.NumpyExtensionArray(reached)  # stays object
    else:
        reached_column = above

    # Per score: the kinds reached at its episode and timepoint (any instrument), in row order.
    timepoint_codes, timepoint_values = pd.factorize(timepoints)
    moment = np.where(timepoint_codes >= 0, score_ids[rows] * len(timepoint_values) + timepoint_codes, -1)
    kinds = _array(thresholds, "kind", object)
    reached_at: dict[int, list[Any]] = {}
    hits = above & ~unknown
    for at_moment, kind in zip(
        moment[paired[hits]].tolist(), kinds[threshold_rows[hits]].tolist(), strict=True
    ):
        if at_moment >= 0:
            reached_at.setdefault(at_moment, []).append(kind)
    reached_lists = [reached_at.get(m, []) for m in moment.tolist()]

    # The key columns' dtypes, as the merges leave them.
    id_dtype = _merged_key_dtype(id_dtype, episode_id_dtype, len(scores), len(episodes))
    instrument_dtype = _merged_key_dtype(
        _dtype(scores, "instrument"), _dtype(thresholds, "instrument"), len(rows), len(thresholds)
    )
    per_score = _frame(
        {
            "episode_id": _typed(ids[rows], id_dtype),
            "timepoint": _pick(scores, "timepoint", rows),
            "instrument": _pick(scores, "instrument", rows),
            "score": _pick(scores, "score", rows),
            "answered_at": _pick(scores, "answered_at", rows),
            "baseline": baseline,
            "change": change,
            "reached": _list_column(reached_lists),
        },
        len(rows),
    )
    per_threshold = _frame(
        {
            "episode_id": _typed(ids[rows[paired]], id_dtype),
            "timepoint": _pick(scores, "timepoint", rows[paired]),
            "instrument": _typed(instruments[paired], instrument_dtype),
            "kind": _pick(thresholds, "kind", threshold_rows),
            "label": _pick(thresholds, "label", threshold_rows),
            "improvement": improvement,
            "change": paired_change,
            "reached": reached_column,
        },
        len(paired),
    )
    return per_score, per_threshold


def _list_column(lists: list[list[Any]]) -> Any:
    """A column holding the lists themselves (``np.array`` would make a 2-D array of them); no
    rows at all make a float64 column, as pandas makes of an empty list."""
    if not lists:
        return np.zeros(0)
    out = np.empty(len(lists), dtype=object)
    for at, listed in enumerate(lists):
        out[at] = listed
    return pd.arrays.NumpyExtensionArray(out)


def _merged_key_dtype(left: Any, right: Any, left_rows: int, right_rows: int) -> Any:
    """The dtype of a pandas (3.x) merge's key column joining ``left`` and ``right`` dtypes: the
    same dtype when they agree, else object, except that ``str`` against object stays ``str``
    when exactly one of the two frames is empty."""
    if left == right:
        return left
    text_left = pd.api.types.is_string_dtype(left) and not pd.api.types.is_object_dtype(left)
    if text_left and pd.api.types.is_object_dtype(right) and (left_rows == 0) != (right_rows == 0):
        return left
    return np.dtype(object)
