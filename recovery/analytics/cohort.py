"""Cohort analytics: pure, vectorised functions over the frames of ``recovery.analytics.trajectory``.

- ``cohort_table``: one row per episode with its status, risk, latest pains and adherence, most at
  risk first (risk descending, then post-op day descending).
- ``pain_by_day``: per post-op day (0 onwards), the median and interquartile range (25th and 75th
  percentiles, linear interpolation between order statistics, pandas' default) of the episodes' daily
  mean pain, with how many episodes contributed, next to the expected center and upper band. An
  episode without a check-in that day does not count (a gap is not a zero).
- ``milestone_attainment``: per milestone, met / (met + missed) over the episodes where it can be
  judged (``evaluable``); due and upcoming ones are counted as pending, not in the rate.
- ``threshold_share``: per questionnaire threshold, the share of episodes reaching it at a
  timepoint (3 months by default) among those with both a baseline and that timepoint's score.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from recovery.analytics.trajectory import BAND_VALUE_COLUMNS

COHORT_COLUMNS: Final = (
    "episode_id",
    "post_op_day",
    "status",
    "risk",
    "reasons",
    "latest_date",
    "latest_axial",
    "latest_limb",
    "latest_axial_7d",
    "latest_limb_7d",
    "days_without_checkin",
    "adherence_week",
)
PAIN_COLUMNS: Final = (
    "post_op_day",
    "n",
    *(f"{site}_{stat}" for site in ("axial", "limb") for stat in ("median", "q1", "q3", "n")),
    *BAND_VALUE_COLUMNS,
)
ATTAINMENT_COLUMNS: Final = ("key", "met", "missed", "pending", "rate")
SHARE_COLUMNS: Final = ("instrument", "kind", "label", "improvement", "eligible", "reached", "share")


def cohort_table(banded: pd.DataFrame, signals: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """``signals`` and ``status`` are one row per episode in the same order (as ``signals()`` and
    ``assess()`` return them); the latest check-in day's values are picked from ``banded``."""
    universe = pd.Index(signals["episode_id"].astype(object), dtype=object)
    code = np.asarray(universe.get_indexer(banded["episode_id"].astype(object)))
    rows = np.arange(len(banded))
    with_data = (code >= 0) & (banded["checkins"].to_numpy() > 0)
    latest = np.full(len(universe), -1, dtype="int64")
    np.maximum.at(latest, code[with_data], rows[with_data])  # rows run in date order per episode
    found = latest >= 0

    def pick(column: str) -> np.ndarray:
        values = banded[column].to_numpy()
        out = np.full(len(universe), np.nan, dtype="float64" if values.dtype.kind == "f" else values.dtype)
        out[found] = values[latest[found]]
        return out

    table = pd.DataFrame(
        {
            "episode_id": signals["episode_id"].to_numpy(dtype=object),
            "post_op_day": signals["post_op_day"].to_numpy(),
            "status": status["status"].to_numpy(dtype=object),
            "risk": status["risk"].to_numpy(dtype="float64"),
            "reasons": status["reasons"].to_numpy(dtype=object),
            "latest_date": pick("local_date"),
            "latest_axial": pick("axial_mean"),
            "latest_limb": pick("limb_mean"),
            "latest_axial_7d": pick("axial_mean_7d"),
            "latest_limb_7d": pick("limb_mean_7d"),
            "days_without_checkin": signals["days_without_checkin"].to_numpy(),
            "adherence_week": signals["adherence_week"].to_numpy(dtype="float64"),
        }
    )
    order = np.lexsort(
        (table["episode_id"].to_numpy(dtype=str), -table["post_op_day"].to_numpy(), -table["risk"].to_numpy())
    )
    return table.iloc[order][list(COHORT_COLUMNS)].reset_index(drop=True)


def pain_by_day(banded: pd.DataFrame) -> pd.DataFrame:
    days = banded[(banded["post_op_day"] >= 0) & (banded["checkins"] > 0)]
    g = days.groupby("post_op_day")
    parts = {"n": g["episode_id"].nunique()}
    for site in ("axial", "limb"):
        column = g[f"{site}_mean"]
        parts[f"{site}_median"] = column.median()
        parts[f"{site}_q1"] = column.quantile(0.25)
        parts[f"{site}_q3"] = column.quantile(0.75)
        parts[f"{site}_n"] = column.count()
    for name in BAND_VALUE_COLUMNS:
        parts[name] = g[name].first()
    out = pd.DataFrame(parts).reset_index()
    if out.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in PAIN_COLUMNS})
    return out[list(PAIN_COLUMNS)].sort_values("post_op_day").reset_index(drop=True)


def milestone_attainment(milestones: pd.DataFrame) -> pd.DataFrame:
    judged = milestones[milestones["evaluable"]]
    counts = pd.crosstab(judged["key"], judged["state"])
    for state in ("met", "missed", "due", "upcoming"):
        if state not in counts.columns:
            counts[state] = 0
    order = judged.groupby("key")["expected_by_day"].min().sort_values(na_position="last")
    counts = counts.reindex(order.index)
    met, missed = counts["met"].astype("int64"), counts["missed"].astype("int64")
    decided = (met + missed).to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(decided > 0, met.to_numpy(dtype="float64") / decided, np.nan)
    out = pd.DataFrame(
        {
            "key": counts.index.to_numpy(dtype=object),
            "met": met.to_numpy(),
            "missed": missed.to_numpy(),
            "pending": (counts["due"] + counts["upcoming"]).astype("int64").to_numpy(),
            "rate": rate,
        }
    )
    return out[list(ATTAINMENT_COLUMNS)]


def threshold_share(
    reached: pd.DataFrame, thresholds: pd.DataFrame, *, timepoint: str = "month_3"
) -> pd.DataFrame:
    """``reached``: the per-threshold frame of ``prom_changes``; ``thresholds``: the thresholds frame
    (every threshold is listed, with 0 eligible when nobody has both scores yet)."""
    kinds = thresholds[["instrument", "kind", "label", "improvement"]].drop_duplicates(["instrument", "kind"])
    at = reached[(reached["timepoint"] == timepoint) & reached["change"].notna()]
    at = at.drop_duplicates(["episode_id", "instrument", "kind"])
    g = at.assign(hit=at["reached"].astype(bool)).groupby(["instrument", "kind"])
    counts = pd.DataFrame({"eligible": g["episode_id"].nunique(), "reached": g["hit"].sum()}).reset_index()
    out = kinds.merge(counts, on=["instrument", "kind"], how="left")
    out["eligible"] = out["eligible"].fillna(0).astype("int64")
    out["reached"] = out["reached"].fillna(0).astype("int64")
    eligible = out["eligible"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share"] = np.where(eligible > 0, out["reached"].to_numpy(dtype="float64") / eligible, np.nan)
    return out[list(SHARE_COLUMNS)].reset_index(drop=True)
