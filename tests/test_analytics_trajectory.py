"""Pure DataFrame tests for ``recovery.analytics.trajectory``: frames built by hand, no database."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest

from recovery.analytics import trajectory as tr

SURGERY = date(2026, 3, 2)
UTC = ZoneInfo("UTC")


def episodes_frame(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"procedure": "lumbar_microdiscectomy", "clinic_id": "c1", "surgery_date": SURGERY}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    frame["surgery_date"] = pd.to_datetime(frame["surgery_date"])
    frame["today"] = pd.to_datetime(frame["today"])
    return frame


def checkins_frame(*rows: dict[str, Any]) -> pd.DataFrame:
    """Rows need episode_id and local_date (or recorded_at + tz, as the check-in service stores it)."""
    out = []
    for row in rows:
        row = dict(row)
        if "recorded_at" in row:
            local = row["recorded_at"].astimezone(ZoneInfo(row.pop("tz", "UTC")))
            row.setdefault("local_date", local.date())
        else:
            row["recorded_at"] = datetime.combine(
                row["local_date"], datetime.min.time(), tzinfo=UTC
            ) + timedelta(hours=12)
        out.append(
            {
                "axial_pain": 3.0,
                "limb_pain": 2.0,
                "walking_minutes": np.nan,
                "steps": np.nan,
                "took_opioid": np.nan,
                "red_flag_count": 0,
                **row,
            }
        )
    columns = [
        "episode_id",
        "local_date",
        "recorded_at",
        "axial_pain",
        "limb_pain",
        "walking_minutes",
        "steps",
        "took_opioid",
        "red_flag_count",
    ]
    frame = pd.DataFrame(out, columns=columns)
    frame["local_date"] = pd.to_datetime(frame["local_date"])
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"], utc=True)
    for column in ("axial_pain", "limb_pain", "walking_minutes", "steps", "took_opioid"):
        frame[column] = frame[column].astype("float64")
    frame["red_flag_count"] = frame["red_flag_count"].astype("int64")
    return frame


def adherence_frame(*rows: tuple[str, date, int, int]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["episode_id", "local_date", "prescribed", "completed"])
    frame["local_date"] = pd.to_datetime(frame["local_date"])
    return frame


NO_ADHERENCE = adherence_frame()


def day(n: int) -> date:
    """Post-op day n as a calendar date."""
    return SURGERY + timedelta(days=n)


def row_on(daily: pd.DataFrame, episode: str, when: date) -> pd.Series:
    match = daily[(daily["episode_id"] == episode) & (daily["local_date"] == pd.Timestamp(when))]
    assert len(match) == 1, match
    return match.iloc[0]


def bands_frame(upper: float = 5.0, last_day: int = 200) -> pd.DataFrame:
    days = np.arange(0, last_day + 1)
    return pd.DataFrame(
        {
            "procedure": "lumbar_microdiscectomy",
            "post_op_day": days.astype("int64"),
            "axial_center": np.full(len(days), upper - 2.0),
            "axial_upper": np.full(len(days), upper),
            "limb_center": np.full(len(days), upper - 2.0),
            "limb_upper": np.full(len(days), upper),
        }
    )


def empty_scores() -> pd.DataFrame:
    return pd.DataFrame(columns=["episode_id", "timepoint", "instrument", "score", "answered_at"])


def empty_missed() -> pd.DataFrame:
    return pd.DataFrame(columns=["episode_id", "timepoint", "closed_on"])


def pipeline(rows: pd.DataFrame, episodes: pd.DataFrame, adherence: pd.DataFrame = NO_ADHERENCE, **kw: Any):
    daily = tr.daily_series(rows, adherence, episodes)
    banded = tr.with_band(daily, episodes, kw.pop("bands", bands_frame()))
    sig = tr.signals(
        banded, episodes, kw.pop("scores", empty_scores()), kw.pop("missed", empty_missed()), **kw
    )
    return daily, banded, sig


# --- daily series -----------------------------------------------------------------------------


def test_several_checkins_a_day_are_aggregated_per_local_day() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(1)})
    checkins = checkins_frame(
        {
            "episode_id": "e1",
            "local_date": day(1),
            "axial_pain": 2,
            "limb_pain": 6,
            "walking_minutes": 10,
            "steps": 800,
            "took_opioid": 0,
        },
        {
            "episode_id": "e1",
            "local_date": day(1),
            "axial_pain": 5,
            "limb_pain": 3,
            "walking_minutes": 15,
            "steps": 2500,
            "took_opioid": 1,
        },
        {"episode_id": "e1", "local_date": day(1), "axial_pain": 4, "limb_pain": 3, "steps": 1900},
    )
    daily = tr.daily_series(checkins, NO_ADHERENCE, episodes)
    row = row_on(daily, "e1", day(1))
    assert row["checkins"] == 3
    assert row["axial_mean"] == pytest.approx(11 / 3)
    assert row["axial_max"] == 5
    assert row["limb_mean"] == pytest.approx(4.0)
    assert row["limb_max"] == 6
    assert row["walking_minutes"] == 25  # summed over the day
    assert row["steps"] == 2500  # the day's largest (cumulative) count
    assert row["opioid"] == 1


def test_one_row_per_day_from_surgery_to_today_with_post_op_day() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(4)})
    daily = tr.daily_series(
        checkins_frame({"episode_id": "e1", "local_date": day(2)}), NO_ADHERENCE, episodes
    )
    assert list(daily["post_op_day"]) == [0, 1, 2, 3, 4]
    assert list(daily["local_date"].dt.date) == [day(n) for n in range(5)]
    assert list(daily.columns) == list(tr.DAILY_COLUMNS)


def test_series_starts_at_first_pre_op_checkin() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(1)})
    daily = tr.daily_series(
        checkins_frame({"episode_id": "e1", "local_date": day(-3)}), NO_ADHERENCE, episodes
    )
    assert list(daily["post_op_day"]) == [-3, -2, -1, 0, 1]


def test_gaps_stay_gaps_not_zeros() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(3)})
    checkins = checkins_frame(
        {"episode_id": "e1", "local_date": day(0), "axial_pain": 6, "walking_minutes": 5, "steps": 300},
        {"episode_id": "e1", "local_date": day(3), "axial_pain": 2, "walking_minutes": 20, "steps": 900},
    )
    daily = tr.daily_series(checkins, NO_ADHERENCE, episodes)
    gap = row_on(daily, "e1", day(1))
    for column in ("axial_mean", "limb_max", "walking_minutes", "steps", "opioid", "adherence"):
        assert math.isnan(gap[column]), column
    assert gap["checkins"] == 0
    # The 7-day means skip the gap days instead of counting them as 0.
    last = row_on(daily, "e1", day(3))
    assert last["axial_mean_7d"] == pytest.approx(4.0)
    assert last["walking_minutes_7d"] == pytest.approx(12.5)
    assert last["steps_7d"] == pytest.approx(600.0)


def test_walking_minutes_not_given_on_any_checkin_is_a_gap_not_zero() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(0)})
    checkins = checkins_frame(
        {"episode_id": "e1", "local_date": day(0)}, {"episode_id": "e1", "local_date": day(0)}
    )
    row = row_on(tr.daily_series(checkins, NO_ADHERENCE, episodes), "e1", day(0))
    assert math.isnan(row["walking_minutes"]) and math.isnan(row["opioid"])


def test_rolling_mean_covers_seven_calendar_days_and_is_nan_after_a_long_gap() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(20)})
    checkins = checkins_frame(
        *[{"episode_id": "e1", "local_date": day(n), "axial_pain": n} for n in range(8)],
    )
    daily = tr.daily_series(checkins, NO_ADHERENCE, episodes)
    # Day 7: days 1..7 -> mean 4; day 0 has left the window.
    assert row_on(daily, "e1", day(7))["axial_mean_7d"] == pytest.approx(4.0)
    # Day 14: days 8..14 have no data at all.
    assert math.isnan(row_on(daily, "e1", day(14))["axial_mean_7d"])
    # Day 13: only day 7 left in the window.
    assert row_on(daily, "e1", day(13))["axial_mean_7d"] == pytest.approx(7.0)


def test_adherence_is_nan_when_nothing_due_and_7d_is_a_ratio_of_sums() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(3)})
    adherence = adherence_frame(("e1", day(0), 2, 2), ("e1", day(1), 4, 1), ("e1", day(3), 2, 3))
    daily = tr.daily_series(checkins_frame(), adherence, episodes)
    assert row_on(daily, "e1", day(1))["adherence"] == pytest.approx(0.25)
    assert math.isnan(row_on(daily, "e1", day(2))["adherence"])
    # Extra sessions do not lift a day above 100 %.
    assert row_on(daily, "e1", day(3))["adherence"] == pytest.approx(1.0)
    assert row_on(daily, "e1", day(3))["adherence_7d"] == pytest.approx((2 + 1 + 2) / (2 + 4 + 2))
    assert math.isnan(row_on(daily, "e1", day(0))["axial_mean_7d"])


def test_rolling_never_mixes_two_episodes() -> None:
    episodes = episodes_frame({"episode_id": "a", "today": day(3)}, {"episode_id": "b", "today": day(3)})
    checkins = checkins_frame(
        {"episode_id": "a", "local_date": day(3), "axial_pain": 9},
        {"episode_id": "b", "local_date": day(0), "axial_pain": 1},
    )
    daily = tr.daily_series(checkins, NO_ADHERENCE, episodes)
    assert math.isnan(row_on(daily, "b", day(3))["axial_mean"])
    assert row_on(daily, "b", day(3))["axial_mean_7d"] == pytest.approx(1.0)
    assert math.isnan(row_on(daily, "a", day(0))["axial_mean_7d"])


def test_many_episodes_at_once_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(7)
    rows, eps = [], []
    for i in range(12):
        eid = f"e{i}"
        eps.append({"episode_id": eid, "today": day(30 + i)})
        for n in rng.choice(np.arange(-5, 30), size=25):
            rows.append(
                {
                    "episode_id": eid,
                    "local_date": day(int(n)),
                    "axial_pain": int(rng.integers(0, 11)),
                    "limb_pain": int(rng.integers(0, 11)),
                    "steps": float(rng.integers(0, 9000)),
                }
            )
    episodes, checkins = episodes_frame(*eps), checkins_frame(*rows)
    together = tr.daily_series(checkins, NO_ADHERENCE, episodes)
    apart = pd.concat(
        [
            tr.daily_series(
                checkins[checkins["episode_id"] == e], NO_ADHERENCE, episodes[episodes["episode_id"] == e]
            )
            for e in episodes["episode_id"]
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(together.reset_index(drop=True), apart)
    sig_together = tr.signals(
        tr.with_band(together, episodes, bands_frame()), episodes, empty_scores(), empty_missed()
    )
    sig_apart = pd.concat(
        [
            tr.signals(
                tr.with_band(
                    apart[apart["episode_id"] == e], episodes[episodes["episode_id"] == e], bands_frame()
                ),
                episodes[episodes["episode_id"] == e],
                empty_scores(),
                empty_missed(),
            )
            for e in episodes["episode_id"]
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(sig_together.reset_index(drop=True), sig_apart)


# --- daylight saving and time-zone changes ----------------------------------------------------


def test_daylight_saving_change_keeps_one_row_per_local_day() -> None:
    """US clocks went forward on 2026-03-08 (a 23-hour day). A check-in at 23:30 local time that
    day is 03:30 UTC on the 9th: it belongs to the 8th, and no day is doubled or dropped."""
    ny = ZoneInfo("America/New_York")
    episodes = episodes_frame(
        {"episode_id": "e1", "surgery_date": date(2026, 3, 5), "today": date(2026, 3, 10)}
    )
    late_on_dst_day = datetime(2026, 3, 8, 23, 30, tzinfo=ny)
    early_next_day = datetime(2026, 3, 9, 0, 30, tzinfo=ny)
    before = datetime(2026, 3, 7, 23, 30, tzinfo=ny)
    checkins = checkins_frame(
        {"episode_id": "e1", "recorded_at": before, "tz": "America/New_York", "axial_pain": 2},
        {"episode_id": "e1", "recorded_at": late_on_dst_day, "tz": "America/New_York", "axial_pain": 4},
        {"episode_id": "e1", "recorded_at": early_next_day, "tz": "America/New_York", "axial_pain": 8},
    )
    assert late_on_dst_day.astimezone(UTC).date() == date(2026, 3, 9)
    daily = tr.daily_series(checkins, NO_ADHERENCE, episodes)
    assert list(daily["local_date"].dt.date) == [date(2026, 3, d) for d in range(5, 11)]
    assert row_on(daily, "e1", date(2026, 3, 8))["axial_mean"] == 4
    assert row_on(daily, "e1", date(2026, 3, 9))["axial_mean"] == 8
    assert row_on(daily, "e1", date(2026, 3, 9))["axial_mean_7d"] == pytest.approx((2 + 4 + 8) / 3)
    assert list(daily["post_op_day"]) == [0, 1, 2, 3, 4, 5]


def test_fall_back_day_with_25_hours_is_one_day() -> None:
    ny = ZoneInfo("America/New_York")
    episodes = episodes_frame(
        {"episode_id": "e1", "surgery_date": date(2026, 10, 30), "today": date(2026, 11, 2)}
    )
    # 2026-11-01 01:30 happens twice in New York; both belong to the 1st.
    first = datetime(2026, 11, 1, 1, 30, tzinfo=ny, fold=0)
    second = datetime(2026, 11, 1, 1, 30, tzinfo=ny, fold=1)
    checkins = checkins_frame(
        {"episode_id": "e1", "recorded_at": first, "tz": "America/New_York", "axial_pain": 3},
        {"episode_id": "e1", "recorded_at": second, "tz": "America/New_York", "axial_pain": 5},
    )
    daily = tr.daily_series(checkins, NO_ADHERENCE, episodes)
    assert len(daily) == 4
    row = row_on(daily, "e1", date(2026, 11, 1))
    assert row["checkins"] == 2 and row["axial_mean"] == 4


def test_time_zone_change_keeps_checkin_days_and_today_in_the_new_zone() -> None:
    """A patient checks in in Tokyo on the morning of day 5, flies to New York, where it is still
    day 4. The series keeps the Tokyo day (their calendar day then) and runs to it."""
    tokyo_checkin = datetime(2026, 3, 7, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # day 5 in Tokyo
    today_new_york = tokyo_checkin.astimezone(ZoneInfo("America/New_York")).date()
    assert today_new_york == day(4)
    episodes = episodes_frame({"episode_id": "e1", "today": today_new_york})
    checkins = checkins_frame(
        {"episode_id": "e1", "recorded_at": datetime(2026, 3, 5, 20, 0, tzinfo=UTC), "tz": "Asia/Tokyo"},
        {"episode_id": "e1", "recorded_at": tokyo_checkin, "tz": "Asia/Tokyo", "axial_pain": 6},
    )
    daily = tr.daily_series(checkins, NO_ADHERENCE, episodes)
    assert list(daily["post_op_day"]) == [0, 1, 2, 3, 4, 5]
    assert row_on(daily, "e1", day(5))["axial_mean"] == 6
    assert daily["local_date"].is_unique
    sig = tr.signals(tr.with_band(daily, episodes, bands_frame()), episodes, empty_scores(), empty_missed())
    assert sig.iloc[0]["last_checkin_date"] == pd.Timestamp(day(5))
    assert sig.iloc[0]["days_without_checkin"] == 0  # never negative


# --- expected band ----------------------------------------------------------------------------


def test_with_band_adds_expected_values_and_above_flags() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(2)})
    checkins = checkins_frame(
        {"episode_id": "e1", "local_date": day(-1), "axial_pain": 9, "limb_pain": 9},
        {"episode_id": "e1", "local_date": day(0), "axial_pain": 6, "limb_pain": 5},
        {"episode_id": "e1", "local_date": day(2), "axial_pain": 4, "limb_pain": 7},
    )
    bands = bands_frame(upper=5.0)
    bands.loc[bands["post_op_day"] == 2, "limb_upper"] = 6.5
    banded = tr.with_band(tr.daily_series(checkins, NO_ADHERENCE, episodes), episodes, bands)
    pre, d0, d1, d2 = (row_on(banded, "e1", day(n)) for n in (-1, 0, 1, 2))
    assert math.isnan(pre["axial_upper"]) and not pre["axial_above_upper"]  # no band before surgery
    assert d0["axial_above_upper"] and not d0["limb_above_upper"]  # 5 is not above 5
    assert not d1["axial_above_upper"] and not d1["limb_above_upper"]  # no data: False
    assert d2["limb_upper"] == 6.5 and d2["limb_above_upper"] and not d2["axial_above_upper"]
    assert d2["axial_center"] == 3.0


# --- signals ----------------------------------------------------------------------------------


def test_days_without_checkin_counts_from_last_checkin_or_surgery() -> None:
    episodes = episodes_frame({"episode_id": "a", "today": day(10)}, {"episode_id": "b", "today": day(10)})
    _, _, sig = pipeline(checkins_frame({"episode_id": "a", "local_date": day(6)}), episodes)
    sig = sig.set_index("episode_id")
    assert sig.loc["a", "days_without_checkin"] == 4
    assert sig.loc["a", "last_checkin_date"] == pd.Timestamp(day(6))
    assert sig.loc["b", "days_without_checkin"] == 10
    assert pd.isna(sig.loc["b", "last_checkin_date"])
    assert sig.loc["a", "post_op_day"] == 10


def test_above_band_run_ends_at_latest_checkin_and_a_gap_breaks_it() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(12)})
    high = [
        {"episode_id": "e1", "local_date": day(n), "axial_pain": 8, "limb_pain": 2}
        for n in (2, 3, 5, 6, 7, 8)
    ]
    _, _, sig = pipeline(checkins_frame(*high), episodes)
    row = sig.iloc[0]
    assert row["axial_above_run"] == 4  # days 5-8; day 4 had no check-in
    assert row["limb_above_run"] == 0


def test_above_band_run_is_zero_when_latest_day_is_within_band() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(4)})
    rows = [{"episode_id": "e1", "local_date": day(n), "axial_pain": 8} for n in (1, 2, 3)]
    rows.append({"episode_id": "e1", "local_date": day(4), "axial_pain": 2})
    assert pipeline(checkins_frame(*rows), episodes)[2].iloc[0]["axial_above_run"] == 0


def test_pain_rise_compares_7_day_means_a_week_apart() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(15)})
    rows = [{"episode_id": "e1", "local_date": day(n), "axial_pain": 3, "limb_pain": 2} for n in range(1, 8)]
    rows += [
        {"episode_id": "e1", "local_date": day(n), "axial_pain": 4, "limb_pain": 5} for n in range(8, 15)
    ]
    row = pipeline(checkins_frame(*rows), episodes)[2].iloc[0]
    assert row["pain_rise"] == pytest.approx(3.0)
    assert row["pain_rise_site"] == "limb"


def test_pain_rise_is_nan_without_a_week_earlier_mean() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(15)})
    rows = [{"episode_id": "e1", "local_date": day(n), "axial_pain": 6} for n in range(10, 15)]
    row = pipeline(checkins_frame(*rows), episodes)[2].iloc[0]
    assert math.isnan(row["pain_rise"]) and row["pain_rise_site"] is None


def test_adherence_week_covers_the_seven_days_before_today() -> None:
    episodes = episodes_frame({"episode_id": "a", "today": day(10)}, {"episode_id": "b", "today": day(10)})
    adherence = adherence_frame(
        ("a", day(2), 5, 5),  # outside the week
        ("a", day(3), 2, 1),
        ("a", day(9), 2, 0),
        ("a", day(10), 3, 3),  # today: not counted yet
    )
    sig = pipeline(checkins_frame(), episodes, adherence)[2].set_index("episode_id")
    assert sig.loc["a", "adherence_week"] == pytest.approx(1 / 4)
    assert (sig.loc["a", "completed_week"], sig.loc["a", "prescribed_week"]) == (1, 4)
    assert math.isnan(sig.loc["b", "adherence_week"])


def test_missed_timepoints_listed_unless_answered() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(120)})
    missed = pd.DataFrame(
        {"episode_id": ["e1", "e1"], "timepoint": ["month_3", "week_6"], "closed_on": [day(104), day(56)]}
    )
    scores = pd.DataFrame(
        {
            "episode_id": ["e1"],
            "timepoint": ["month_3"],
            "instrument": ["odi"],
            "score": [20.0],
            "answered_at": [pd.Timestamp("2026-06-10T10:00Z")],
        }
    )
    assert pipeline(checkins_frame(), episodes, missed=missed)[2].iloc[0]["missed_timepoints"] == [
        "week_6",
        "month_3",
    ]
    assert pipeline(checkins_frame(), episodes, missed=missed, scores=scores)[2].iloc[0][
        "missed_timepoints"
    ] == ["week_6"]


def test_red_flags_count_the_last_24_hours_before_now() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    episodes = episodes_frame({"episode_id": "e1", "today": now.date()})
    checkins = checkins_frame(
        {"episode_id": "e1", "recorded_at": now - timedelta(hours=25), "red_flag_count": 2},
        {"episode_id": "e1", "recorded_at": now - timedelta(hours=23), "red_flag_count": 1},
        {"episode_id": "e1", "recorded_at": now - timedelta(hours=1), "red_flag_count": 1},
    )
    _, _, sig = pipeline(checkins, episodes, checkins=checkins, now=pd.Timestamp(now))
    assert sig.iloc[0]["red_flags_last_24h"] == 2
    # Without the instant, the local days today and yesterday stand in for "the last 24 hours".
    _, _, by_day = pipeline(checkins, episodes)
    assert by_day.iloc[0]["red_flags_last_24h"] == 4


# --- assess -----------------------------------------------------------------------------------


def signal_row(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "episode_id": "e1",
        "as_of": pd.Timestamp(day(20)),
        "post_op_day": 20,
        "last_checkin_date": pd.Timestamp(day(20)),
        "days_without_checkin": 0,
        "axial_above_run": 0,
        "limb_above_run": 0,
        "pain_rise": np.nan,
        "pain_rise_site": None,
        "adherence_week": np.nan,
        "prescribed_week": 0,
        "completed_week": 0,
        "missed_timepoints": [],
        "red_flags_last_24h": 0,
        "region": "lumbar",
    }
    return {**base, **values}


def assess_one(**values: Any) -> pd.Series:
    return tr.assess(pd.DataFrame([signal_row(**values)])).iloc[0]


@pytest.mark.parametrize(
    ("values", "status", "code"),
    [
        ({}, "on_track", "on_track"),
        ({"red_flags_last_24h": 1}, "off_track", "red_flag"),
        ({"days_without_checkin": 2}, "on_track", "on_track"),
        ({"days_without_checkin": 3}, "watch", "no_checkins"),
        ({"days_without_checkin": 7}, "off_track", "no_checkins"),
        ({"axial_above_run": 2}, "on_track", "on_track"),
        ({"axial_above_run": 3}, "watch", "axial_above_band"),
        ({"limb_above_run": 5}, "off_track", "limb_above_band"),
        ({"pain_rise": 1.9, "pain_rise_site": "axial"}, "on_track", "on_track"),
        ({"pain_rise": 2.0, "pain_rise_site": "axial"}, "watch", "pain_rise"),
        ({"pain_rise": 3.0, "pain_rise_site": "limb"}, "off_track", "pain_rise"),
        ({"adherence_week": 0.4, "prescribed_week": 10, "completed_week": 4}, "watch", "low_adherence"),
        ({"adherence_week": 0.5, "prescribed_week": 10, "completed_week": 5}, "on_track", "on_track"),
        ({"missed_timepoints": ["week_6"]}, "watch", "missed_questionnaire"),
    ],
)
def test_assess_status_per_rule(values: dict[str, Any], status: str, code: str) -> None:
    result = assess_one(**values)
    assert result["status"] == status
    assert [r["code"] for r in result["reasons"]] == [code]


def test_worst_rule_decides_and_risk_orders_episodes() -> None:
    frame = pd.DataFrame(
        [
            signal_row(episode_id="calm"),
            signal_row(episode_id="watch", days_without_checkin=4),
            signal_row(episode_id="watch2", days_without_checkin=4, missed_timepoints=["week_6"]),
            signal_row(episode_id="off", days_without_checkin=4, red_flags_last_24h=1),
        ]
    )
    out = tr.assess(frame).set_index("episode_id")
    assert out.loc["off", "status"] == "off_track"
    assert [r["code"] for r in out.loc["off", "reasons"]] == ["red_flag", "no_checkins"]
    assert (
        out.loc["off", "risk"]
        > out.loc["watch2", "risk"]
        > out.loc["watch", "risk"]
        > out.loc["calm", "risk"]
    )


def test_reason_wording_names_the_site_by_region_and_keeps_patient_text_calm() -> None:
    lumbar = assess_one(axial_above_run=6, pain_rise=3.5, pain_rise_site="limb")
    texts = {r["code"]: r for r in lumbar["reasons"]}
    assert texts["axial_above_band"]["clinician"].startswith(
        "Back pain above the expected upper band for 6 days"
    )
    assert "Leg pain" in texts["pain_rise"]["clinician"] and "3.5" in texts["pain_rise"]["clinician"]
    cervical = assess_one(axial_above_run=6, region="cervical")
    assert cervical["reasons"][0]["clinician"].startswith("Neck pain")
    for reason in [*lumbar["reasons"], *cervical["reasons"]]:
        patient = reason["patient"].lower()
        assert not any(word in patient for word in ("risk", "off track", "urgent", "danger", "alarm"))
        assert not any(ch.isdigit() for ch in patient)


def test_assess_on_empty_frame() -> None:
    out = tr.assess(pd.DataFrame([signal_row()]).iloc[0:0])
    assert list(out.columns) == ["episode_id", "status", "risk", "reasons"] and len(out) == 0


# --- milestones -------------------------------------------------------------------------------

SPECS = pd.DataFrame(
    [
        ("lumbar_microdiscectomy", "first_walk", 1, "walk_any", np.nan, 1),
        ("lumbar_microdiscectomy", "walking_week_1", 7, "steps_ratio", 0.29, 7),
        ("lumbar_microdiscectomy", "steps_week_6", 42, "steps_absolute", 3500.0, 7),
        ("lumbar_microdiscectomy", "formal_physio", 42, "event", np.nan, 1),
        ("lumbar_microdiscectomy", "driving", 21, "event", np.nan, 1),
    ],
    columns=list(tr.MILESTONE_SPEC_COLUMNS),
)


def events_frame(*rows: tuple[str, str, date]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["episode_id", "key", "achieved_on"])
    frame["achieved_on"] = pd.to_datetime(frame["achieved_on"])
    return frame


def states_for(
    checkins: pd.DataFrame, today: date, events: pd.DataFrame | None = None, walks=None
) -> pd.DataFrame:
    episodes = episodes_frame({"episode_id": "e1", "today": today})
    daily = tr.daily_series(checkins, NO_ADHERENCE, episodes)
    out = tr.milestone_states(daily, episodes, SPECS, events if events is not None else events_frame(), walks)
    return out.set_index("key")


def test_milestones_met_missed_due_and_upcoming() -> None:
    rows = [{"episode_id": "e1", "local_date": day(n), "steps": 5000} for n in (-5, -4, -3)]
    rows += [{"episode_id": "e1", "local_date": day(2), "walking_minutes": 5}]
    rows += [{"episode_id": "e1", "local_date": day(n), "steps": 1500} for n in range(3, 8)]
    states = states_for(checkins_frame(*rows), today=day(16))
    assert states.loc["first_walk", "state"] == "met"
    assert states.loc["first_walk", "achieved_on"] == pd.Timestamp(day(2))
    assert bool(states.loc["first_walk", "late"])  # expected by day 1
    # Baseline 5000/day x 0.29 = 1450: four days of 1500 (half the window, rounded up) reach it on day 6.
    assert states.loc["walking_week_1", "state"] == "met"
    assert states.loc["walking_week_1", "achieved_on"] == pd.Timestamp(day(6))
    assert not bool(states.loc["walking_week_1", "late"])
    assert states.loc["driving", "state"] == "due"  # expected by day 21, today is day 16
    assert states.loc["formal_physio", "state"] == "upcoming"
    assert states.loc["steps_week_6", "expected_by"] == pd.Timestamp(day(42))
    later = states_for(checkins_frame(*rows), today=day(22))
    assert later.loc["driving", "state"] == "missed"


def test_step_ratio_is_not_evaluable_without_pre_op_steps() -> None:
    rows = [{"episode_id": "e1", "local_date": day(n), "steps": 9000} for n in range(8)]
    states = states_for(checkins_frame(*rows), today=day(8))
    assert not bool(states.loc["walking_week_1", "evaluable"])
    assert states.loc["walking_week_1", "state"] == "missed"
    assert bool(states.loc["steps_week_6", "evaluable"])
    assert states.loc["steps_week_6", "state"] == "met"


def test_step_target_needs_half_the_window_with_data() -> None:
    rows = [{"episode_id": "e1", "local_date": day(n), "steps": 4000} for n in (10, 12, 14)]
    assert states_for(checkins_frame(*rows), today=day(15)).loc["steps_week_6", "state"] == "upcoming"
    rows.append({"episode_id": "e1", "local_date": day(15), "steps": 4000})
    assert states_for(checkins_frame(*rows), today=day(15)).loc[
        "steps_week_6", "achieved_on"
    ] == pd.Timestamp(day(15))


def test_recorded_events_and_hand_confirmed_extra_milestones() -> None:
    events = events_frame(
        ("e1", "driving", day(12)), ("e1", "first_walk", day(0)), ("e1", "back_to_gym", day(14))
    )
    rows = [{"episode_id": "e1", "local_date": day(3), "walking_minutes": 10}]
    states = states_for(checkins_frame(*rows), today=day(15), events=events)
    assert states.loc["driving", "state"] == "met" and bool(states.loc["driving", "recorded"])
    assert states.loc["first_walk", "achieved_on"] == pd.Timestamp(day(0))  # earlier of recorded and data
    assert states.loc["back_to_gym", "state"] == "met"
    assert math.isnan(states.loc["back_to_gym", "expected_by_day"])


def test_walk_logs_count_as_first_walk() -> None:
    walks = pd.DataFrame(
        {"episode_id": ["e1", "e1"], "local_date": pd.to_datetime([day(-2), day(1)]), "walks": [1, 2]}
    )
    states = states_for(checkins_frame({"episode_id": "e1", "local_date": day(0)}), today=day(3), walks=walks)
    assert states.loc["first_walk", "achieved_on"] == pd.Timestamp(day(1))


# --- questionnaires ---------------------------------------------------------------------------


def test_prom_change_from_baseline_and_thresholds_reached() -> None:
    episodes = episodes_frame(
        {"episode_id": "e1", "today": day(100)}, {"episode_id": "e2", "today": day(100)}
    )
    scores = pd.DataFrame(
        {
            "episode_id": ["e1", "e1", "e1", "e2"],
            "timepoint": ["baseline", "week_6", "month_3", "month_3"],
            "instrument": ["odi"] * 4,
            "score": [50.0, 40.0, 30.0, 10.0],
            "answered_at": pd.to_datetime(
                ["2026-02-28T10:00Z", "2026-04-13T10:00Z", "2026-06-01T10:00Z", "2026-06-01T10:00Z"]
            ),
        }
    )
    thresholds = pd.DataFrame(
        [
            ("lumbar_microdiscectomy", "odi", "mcid", 12.8, "MCID"),
            ("lumbar_microdiscectomy", "odi", "success", 20.0, "Success"),
        ],
        columns=list(tr.THRESHOLD_COLUMNS),
    )
    per_score, long = tr.prom_changes(scores, episodes, thresholds)
    by = per_score.set_index(["episode_id", "timepoint"])
    assert math.isnan(by.loc[("e1", "baseline"), "change"])
    assert by.loc[("e1", "week_6"), "change"] == 10.0 and by.loc[("e1", "week_6"), "reached"] == []
    assert by.loc[("e1", "month_3"), "change"] == 20.0
    assert sorted(by.loc[("e1", "month_3"), "reached"]) == ["mcid", "success"]
    # No baseline: no change and no threshold reached (unknown, not "not reached").
    assert math.isnan(by.loc[("e2", "month_3"), "change"]) and by.loc[("e2", "month_3"), "reached"] == []
    assert long[long["episode_id"] == "e2"]["reached"].isna().all()


def test_prom_baseline_is_the_first_given_baseline_score_and_reached_spans_instruments() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(100)})
    scores = pd.DataFrame(
        {
            "episode_id": ["e1"] * 5,
            "timepoint": ["baseline", "baseline", "baseline", "month_3", "month_3"],
            "instrument": ["odi", "odi", "ndi", "odi", "ndi"],
            "score": [np.nan, 50.0, 40.0, 30.0, 38.0],
            "answered_at": pd.to_datetime(["2026-02-28T10:00Z"] * 3 + ["2026-06-01T10:00Z"] * 2),
        }
    )
    thresholds = pd.DataFrame(
        [
            ("lumbar_microdiscectomy", "odi", "mcid", 12.8, "MCID"),
            ("lumbar_microdiscectomy", "ndi", "ndi_mcid", 1.0, "NDI MCID"),
        ],
        columns=list(tr.THRESHOLD_COLUMNS),
    )
    per_score, long = tr.prom_changes(scores, episodes, thresholds)
    # The first baseline without a score does not count; the next one does.
    assert list(per_score["baseline"]) == [50.0, 50.0, 40.0, 50.0, 40.0]
    assert list(per_score["change"].iloc[3:]) == [20.0, 2.0]
    # A score's "reached" lists every threshold reached at its timepoint, whatever the instrument.
    assert per_score["reached"].iloc[3] == ["mcid", "ndi_mcid"] == per_score["reached"].iloc[4]
    assert per_score["reached"].iloc[0] == []
    assert list(long["kind"]) == ["mcid", "ndi_mcid"] and long["reached"].dtype == bool


# --- output shapes (the API and the cohort read these frames as they are) -----------------------


def test_with_band_keeps_every_daily_row_in_order_with_band_columns_after_them() -> None:
    episodes = episodes_frame(
        {"episode_id": "b", "today": day(3)}, {"episode_id": "a", "today": day(2), "procedure": "none"}
    )
    daily = tr.daily_series(
        checkins_frame({"episode_id": "b", "local_date": day(-1)}), NO_ADHERENCE, episodes
    )
    banded = tr.with_band(daily, episodes, bands_frame(upper=5.0))
    assert list(banded.columns) == [
        *tr.DAILY_COLUMNS,
        "procedure",
        *tr.BAND_VALUE_COLUMNS,
        "axial_above_upper",
        "limb_above_upper",
    ]
    assert list(banded["episode_id"]) == list(daily["episode_id"]) == ["b"] * 5 + ["a"] * 3
    assert banded["episode_id"].dtype == object
    assert isinstance(banded.index, pd.RangeIndex)
    # Episode "a" has no band for its procedure; "b" has none before surgery.
    assert banded["axial_upper"].isna().tolist() == [True, False, False, False, False, True, True, True]


def test_milestones_are_ordered_by_episode_expected_day_and_key_with_unplanned_ones_last() -> None:
    episodes = episodes_frame({"episode_id": "e2", "today": day(30)}, {"episode_id": "e1", "today": day(30)})
    daily = tr.daily_series(checkins_frame(), NO_ADHERENCE, episodes)
    events = events_frame(
        ("e1", "back_to_gym", day(20)), ("e1", "archery", day(25)), ("e2", "back_to_gym", day(9))
    )
    out = tr.milestone_states(daily, episodes, SPECS, events)
    expected_keys = ["first_walk", "walking_week_1", "driving", "formal_physio", "steps_week_6"]
    assert list(out["episode_id"]) == ["e1"] * 7 + ["e2"] * 6
    assert list(out["key"]) == [*expected_keys, "archery", "back_to_gym", *expected_keys, "back_to_gym"]
    assert out["key"].dtype == SPECS["key"].dtype and out["episode_id"].dtype == object
    unplanned = out[out["metric"] == "event"].iloc[-1]
    assert (
        unplanned["state"] == "met"
        and bool(unplanned["recorded"])
        and math.isnan(unplanned["expected_by_day"])
    )


def test_missed_questionnaires_are_listed_by_closing_day_then_name() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(200)})
    missed = pd.DataFrame(
        {
            "episode_id": ["e1", "e1", "e1", "other"],
            "timepoint": ["month_6", "month_3", "baseline", "week_6"],
            "closed_on": [day(180), day(104), day(104), day(50)],
        }
    )
    sig = pipeline(checkins_frame(), episodes, missed=missed)[2]
    assert sig.iloc[0]["missed_timepoints"] == ["baseline", "month_3", "month_6"]


@pytest.mark.parametrize("stored_as", ["UTC", "Asia/Tokyo", "microseconds", "naive UTC"])
def test_red_flags_of_the_last_24_hours_whatever_the_stored_time_zone(stored_as: str) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    episodes = episodes_frame({"episode_id": "e1", "today": now.date()})
    checkins = checkins_frame(
        {"episode_id": "e1", "recorded_at": now - timedelta(hours=24), "red_flag_count": 5},
        {"episode_id": "e1", "recorded_at": now - timedelta(hours=23, minutes=59), "red_flag_count": 1},
        {"episode_id": "e1", "recorded_at": now, "red_flag_count": 2},
        {"episode_id": "e1", "recorded_at": now + timedelta(seconds=1), "red_flag_count": 4},
    )
    recorded = checkins["recorded_at"]
    checkins["recorded_at"] = {
        "UTC": recorded,
        "Asia/Tokyo": recorded.dt.tz_convert("Asia/Tokyo"),
        "microseconds": recorded.astype("datetime64[us, UTC]"),
        "naive UTC": recorded.dt.tz_localize(None),
    }[stored_as]
    _, _, sig = pipeline(checkins, episodes, checkins=checkins, now=pd.Timestamp(now))
    assert sig.iloc[0]["red_flags_last_24h"] == 3  # after now - 24 h, up to now included


def test_episode_ids_given_as_uuids_match_their_text_in_every_frame() -> None:
    first, second = uuid.UUID(int=1), uuid.UUID(int=2)
    episodes = episodes_frame({"episode_id": first, "today": day(5)}, {"episode_id": second, "today": day(5)})
    checkins = checkins_frame({"episode_id": str(second), "local_date": day(2), "axial_pain": 9})
    daily, banded, sig = pipeline(checkins, episodes, bands=bands_frame(upper=5.0))
    assert list(sig["episode_id"]) == [str(first), str(second)]
    assert list(sig["days_without_checkin"]) == [5, 3]
    assert banded.loc[banded["local_date"] == pd.Timestamp(day(2)), "axial_above_upper"].tolist() == [
        False,
        True,
    ]
    events = events_frame((str(first), "driving", day(4)))
    states = tr.milestone_states(daily, episodes, SPECS, events).set_index(["episode_id", "key"])
    assert states.loc[(str(first), "driving"), "state"] == "met"
    assert states.loc[(str(second), "driving"), "state"] == "upcoming"


# --- column reads without Series (speed) must read what ``frame[name]`` reads -------------------


def test_column_reads_match_series_to_numpy_for_every_dtype() -> None:
    frame = pd.DataFrame(
        {
            "object": pd.Series(["a", None, "c"], dtype=object),
            "text": pd.Series(["a", None, "c"], dtype="str"),
            "ints": np.array([1, 2, 3], dtype="int64"),
            "floats": np.array([1.5, np.nan, 3.0]),
            "flags": np.array([True, False, True]),
            "days": pd.to_datetime(["2026-03-02", None, "2026-03-04"]),
            "instants": pd.to_datetime(["2026-03-02 10:00", None, "2026-03-04 23:30"], utc=True),
        }
    )
    for name in frame.columns:
        for dtype in (None, object):
            expected = frame[name].to_numpy(dtype=dtype)
            got = tr._array(frame, name, dtype)
            assert got.dtype == expected.dtype, (name, dtype)
            assert [type(v) for v in got.tolist()] == [type(v) for v in expected.tolist()], (name, dtype)
            missing = pd.isna(expected)
            assert (pd.isna(got) == missing).all(), (name, dtype)
            assert got[~missing].tolist() == expected[~missing].tolist(), (name, dtype)
        assert tr._dtype(frame, name) == frame[name].dtype
        assert type(tr._stored(frame, name)) is type(frame[name].array)
    for name in ("ints", "floats", "flags"):
        np.testing.assert_array_equal(
            tr._array(frame, name, "float64"), frame[name].to_numpy(dtype="float64")
        )
    # The frame's own memory is never handed out writable.
    with pytest.raises(ValueError):
        tr._array(frame, "floats")[0] = 0.0
    np.testing.assert_array_equal(tr._days_of(frame, "days"), tr._day_numbers(frame["days"]))
    # A name listed twice is left to pandas.
    twice = pd.DataFrame([[1.0, 2.0]], columns=["x", "x"])
    np.testing.assert_array_equal(tr._array(twice, "x"), twice["x"].to_numpy())


def test_rolling_means_are_the_same_in_one_pass_as_column_by_column(monkeypatch: pytest.MonkeyPatch) -> None:
    episodes = episodes_frame(
        {"episode_id": "e1", "today": day(30)},
        {"episode_id": "e2", "today": day(12), "surgery_date": day(-3)},
        {"episode_id": "e3", "today": day(2)},
    )
    rng = np.random.default_rng(7)
    rows = [
        {
            "episode_id": episode,
            "local_date": day(int(offset)),
            "axial_pain": float(rng.integers(0, 11)),
            "limb_pain": np.nan if rng.random() < 0.3 else float(rng.integers(0, 11)),
            "walking_minutes": np.nan if rng.random() < 0.5 else float(rng.integers(0, 60)),
            "steps": np.nan if rng.random() < 0.4 else float(rng.integers(0, 9000)),
        }
        for episode, days in (("e1", range(-5, 31, 2)), ("e2", range(-6, 13, 3)), ("e3", (1,)))
        for offset in days
    ]
    adherence = adherence_frame(
        *((episode, day(n), 2, int(rng.integers(0, 3))) for episode in ("e1", "e2") for n in range(12))
    )
    batched = tr.daily_series(checkins_frame(*rows), adherence, episodes)
    assert len(batched) <= tr._BATCH_ROWS
    monkeypatch.setattr(tr, "_BATCH_ROWS", 0)
    one_by_one = tr.daily_series(checkins_frame(*rows), adherence, episodes)
    pd.testing.assert_frame_equal(batched, one_by_one, check_dtype=True, check_exact=True)
    assert batched["steps_7d"].notna().any() and batched["adherence_7d"].notna().any()


def test_inputs_stay_untouched_and_outputs_do_not_share_memory_with_them() -> None:
    episodes = episodes_frame({"episode_id": "e1", "today": day(20), "region": "lumbar"})
    checkins = checkins_frame(
        *(
            {"episode_id": "e1", "local_date": day(n), "axial_pain": 7, "steps": 1000.0 * n}
            for n in range(-2, 20)
        )
    )
    adherence = adherence_frame(("e1", day(3), 2, 1))
    scores = pd.DataFrame(
        {
            "episode_id": ["e1", "e1"],
            "timepoint": ["baseline", "week_6"],
            "instrument": ["odi", "odi"],
            "score": [40.0, 20.0],
            "answered_at": pd.to_datetime(["2026-03-01", "2026-04-13"], utc=True),
        }
    )
    thresholds = pd.DataFrame(
        {
            "procedure": ["lumbar_microdiscectomy"],
            "instrument": ["odi"],
            "kind": ["mcid"],
            "improvement": [10.0],
            "label": ["MCID"],
        }
    )
    inputs = {"episodes": episodes, "checkins": checkins, "adherence": adherence, "scores": scores}
    copies = {name: frame.copy(deep=True) for name, frame in inputs.items()}
    daily, banded, sig = pipeline(
        checkins, episodes, adherence, scores=scores, checkins=checkins, now=pd.Timestamp(day(20))
    )
    tr.assess(sig)
    tr.milestone_states(daily, episodes, SPECS, events_frame(("e1", "driving", day(4))))
    per_score, _ = tr.prom_changes(scores, episodes, thresholds)
    for name, frame in inputs.items():
        pd.testing.assert_frame_equal(frame, copies[name], check_exact=True)
    kept = daily.copy(deep=True)
    banded.loc[0, "axial_mean"] = -1.0
    per_score.loc[0, "timepoint"] = "changed"
    pd.testing.assert_frame_equal(daily, kept, check_exact=True)
    pd.testing.assert_frame_equal(scores, copies["scores"], check_exact=True)
