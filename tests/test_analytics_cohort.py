"""Pure DataFrame tests for ``recovery.analytics.cohort``."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest

from recovery.analytics import cohort
from recovery.analytics import trajectory as tr
from tests.test_analytics_trajectory import (
    NO_ADHERENCE,
    SURGERY,
    bands_frame,
    checkins_frame,
    empty_missed,
    empty_scores,
    episodes_frame,
)


def day(n: int) -> date:
    return SURGERY + timedelta(days=n)


def banded_for(rows: list[dict[str, Any]], episodes: pd.DataFrame) -> pd.DataFrame:
    daily = tr.daily_series(checkins_frame(*rows), NO_ADHERENCE, episodes)
    return tr.with_band(daily, episodes, bands_frame(upper=5.0))


def test_pain_by_day_median_and_iqr_across_episodes() -> None:
    episodes = episodes_frame(*({"episode_id": f"e{i}", "today": day(3)} for i in range(4)))
    rows = [
        {"episode_id": f"e{i}", "local_date": day(2), "axial_pain": pain, "limb_pain": 1}
        for i, pain in enumerate((2, 4, 6, 8))
    ]
    # e0 checks in twice on day 2: its day mean (2 + 4) / 2 = 3 counts once.
    rows.append({"episode_id": "e0", "local_date": day(2), "axial_pain": 4, "limb_pain": 1})
    out = cohort.pain_by_day(banded_for(rows, episodes)).set_index("post_op_day")
    assert list(out.index) == [2]  # days without any check-in are not in the table
    row = out.loc[2]
    assert row["n"] == 4 and row["axial_n"] == 4
    values = np.array([3.0, 4.0, 6.0, 8.0])
    assert row["axial_median"] == pytest.approx(np.median(values))
    assert row["axial_q1"] == pytest.approx(np.percentile(values, 25))
    assert row["axial_q3"] == pytest.approx(np.percentile(values, 75))
    assert row["axial_upper"] == 5.0 and row["axial_center"] == 3.0


def test_pain_by_day_ignores_pre_op_days_and_gaps() -> None:
    episodes = episodes_frame({"episode_id": "a", "today": day(2)}, {"episode_id": "b", "today": day(2)})
    rows = [
        {"episode_id": "a", "local_date": day(-1), "axial_pain": 9},
        {"episode_id": "a", "local_date": day(1), "axial_pain": 2},
        {"episode_id": "b", "local_date": day(2), "axial_pain": 7},
    ]
    out = cohort.pain_by_day(banded_for(rows, episodes)).set_index("post_op_day")
    assert list(out.index) == [1, 2]
    assert out.loc[1, "n"] == 1 and out.loc[1, "axial_median"] == 2.0


def test_pain_by_day_empty() -> None:
    episodes = episodes_frame({"episode_id": "a", "today": day(2)})
    assert cohort.pain_by_day(banded_for([], episodes)).empty


def test_milestone_attainment_rate_is_met_over_met_plus_missed() -> None:
    frame = pd.DataFrame(
        {
            "episode_id": ["a", "b", "c", "d", "a", "b"],
            "key": ["first_walk", "first_walk", "first_walk", "first_walk", "steps_week_6", "steps_week_6"],
            "expected_by_day": [1, 1, 1, 1, 42, 42],
            "state": ["met", "met", "missed", "upcoming", "due", "missed"],
            "evaluable": [True, True, True, True, True, False],
        }
    )
    out = cohort.milestone_attainment(frame).set_index("key")
    assert out.loc["first_walk", "met"] == 2 and out.loc["first_walk", "missed"] == 1
    assert out.loc["first_walk", "pending"] == 1
    assert out.loc["first_walk", "rate"] == pytest.approx(2 / 3)
    # Only the due one is judged for steps_week_6 (the other is not evaluable): no rate yet.
    assert out.loc["steps_week_6", "pending"] == 1 and math.isnan(out.loc["steps_week_6", "rate"])
    assert list(out.index) == ["first_walk", "steps_week_6"]


def test_threshold_share_at_month_3_among_those_with_baseline_and_month_3() -> None:
    episodes = episodes_frame(*({"episode_id": e, "today": day(100)} for e in ("a", "b", "c", "d")))
    scores = pd.DataFrame(
        {
            "episode_id": ["a", "a", "b", "b", "c", "d", "d"],
            "timepoint": ["baseline", "month_3", "baseline", "month_3", "month_3", "baseline", "week_6"],
            "instrument": ["odi"] * 7,
            "score": [50.0, 30.0, 40.0, 35.0, 10.0, 60.0, 20.0],
            "answered_at": pd.Timestamp("2026-06-01T10:00Z"),
        }
    )
    thresholds = pd.DataFrame(
        [
            ("lumbar_microdiscectomy", "odi", "mcid", 12.8, "MCID"),
            ("lumbar_microdiscectomy", "odi", "substantial_benefit", 18.8, "SCB"),
        ],
        columns=list(tr.THRESHOLD_COLUMNS),
    )
    _, long = tr.prom_changes(scores, episodes, thresholds)
    out = cohort.threshold_share(long, thresholds).set_index("kind")
    # a: 20 points, b: 5 points; c has no baseline, d no month_3.
    assert out.loc["mcid", "eligible"] == 2 and out.loc["mcid", "reached"] == 1
    assert out.loc["mcid", "share"] == pytest.approx(0.5)
    assert out.loc["substantial_benefit", "reached"] == 1


def test_threshold_share_lists_thresholds_with_nobody_eligible() -> None:
    thresholds = pd.DataFrame([("p", "ndi", "mcid", 7.5, "MCID")], columns=list(tr.THRESHOLD_COLUMNS))
    long = pd.DataFrame(columns=list(tr.REACHED_COLUMNS))
    out = cohort.threshold_share(long, thresholds)
    assert out.iloc[0]["eligible"] == 0 and math.isnan(out.iloc[0]["share"])


def test_cohort_table_sorted_by_risk_with_latest_pains() -> None:
    episodes = episodes_frame(
        {"episode_id": "calm", "today": day(10)},
        {"episode_id": "silent", "today": day(10)},
        {"episode_id": "hurting", "today": day(10)},
    )
    rows = [{"episode_id": "calm", "local_date": day(n), "axial_pain": 2, "limb_pain": 1} for n in range(11)]
    rows += [
        {"episode_id": "hurting", "local_date": day(n), "axial_pain": 9, "limb_pain": 8} for n in range(11)
    ]
    rows += [{"episode_id": "silent", "local_date": day(5), "axial_pain": 4, "limb_pain": 3}]
    daily = tr.daily_series(checkins_frame(*rows), NO_ADHERENCE, episodes)
    banded = tr.with_band(daily, episodes, bands_frame(upper=5.0))
    sig = tr.signals(banded, episodes, empty_scores(), empty_missed())
    table = cohort.cohort_table(banded, sig, tr.assess(sig))
    assert list(table["episode_id"]) == ["hurting", "silent", "calm"]
    silent = table.set_index("episode_id").loc["silent"]
    assert silent["latest_date"] == pd.Timestamp(day(5)) and silent["latest_axial"] == 4
    assert silent["status"] == "watch"
    assert table.set_index("episode_id").loc["hurting", "status"] == "off_track"
