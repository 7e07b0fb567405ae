"""The trend rules as pure functions over hand-built ``signals()`` frames (no database)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest

from recovery.alerts import rules
from recovery.alerts.models import AlertRule, Severity


def signals(**overrides: Any) -> dict[str, Any]:
    """One episode's signals row, on track unless overridden."""
    row: dict[str, Any] = {
        "episode_id": "00000000-0000-0000-0000-000000000001",
        "as_of": pd.Timestamp("2026-03-20"),
        "post_op_day": 20,
        "last_checkin_date": pd.Timestamp("2026-03-20"),
        "days_without_checkin": 0,
        "axial_above_run": 0,
        "limb_above_run": 0,
        "pain_rise": -0.5,
        "pain_rise_site": "limb",
        "adherence_week": 0.9,
        "missed_timepoints": [],
        "red_flags_last_24h": 0,
    }
    row.update(overrides)
    return row


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_on_track_episode_hits_no_rule() -> None:
    assert rules.all_hits(frame(signals())) == []


def test_empty_frame_hits_nothing() -> None:
    assert rules.all_hits(pd.DataFrame(columns=list(signals()))) == []


@pytest.mark.parametrize(("axial", "limb", "hit"), [(3, 0, True), (0, 3, True), (2, 2, False), (5, 4, True)])
def test_pain_above_band_needs_three_consecutive_days(axial: int, limb: int, hit: bool) -> None:
    hits = rules.pain_above_band(frame(signals(axial_above_run=axial, limb_above_run=limb)))
    assert len(hits) == int(hit)
    if hit:
        assert hits[0].rule == AlertRule.PAIN_ABOVE_BAND
        assert hits[0].severity == Severity.HIGH
        assert hits[0].data["axial_above_run"] == axial
        assert hits[0].data["limb_above_run"] == limb
        assert hits[0].data["last_checkin_date"] == "2026-03-20"
        assert hits[0].data["threshold_source"] == "clinic default, not evidence"


def test_pain_above_band_names_the_sites_in_the_reason_and_data() -> None:
    [hit] = rules.pain_above_band(frame(signals(axial_above_run=4, limb_above_run=3)))
    assert hit.data["sites"] == ["axial", "limb"]
    assert "back or neck pain (4 days)" in hit.reason
    assert "leg or arm pain (3 days)" in hit.reason


def test_pain_above_band_copies_band_detail_when_the_frame_has_it() -> None:
    days = [{"local_date": "2026-03-18", "mean": 6.0, "upper": 4.0}]
    [hit] = rules.pain_above_band(frame(signals(limb_above_run=3, limb_above_days=days)))
    assert hit.data["limb_above_days"] == days


def test_pain_above_band_treats_missing_runs_as_zero() -> None:
    assert rules.pain_above_band(frame(signals(axial_above_run=np.nan, limb_above_run=np.nan))) == []


@pytest.mark.parametrize(
    ("rise", "hit"), [(2.0, True), (3.4, True), (1.99, False), (np.nan, False), (-3.0, False)]
)
def test_pain_rising_at_two_points_on_the_seven_day_mean(rise: float, hit: bool) -> None:
    hits = rules.pain_rising(frame(signals(pain_rise=rise, pain_rise_site="axial")))
    assert len(hits) == int(hit)
    if hit:
        assert hits[0].severity == Severity.MODERATE
        assert hits[0].data["pain_rise"] == round(rise, 2)
        assert hits[0].data["site"] == "axial"
        assert "back or neck pain" in hits[0].reason


@pytest.mark.parametrize(
    ("silent", "day", "hit"),
    [(3, 10, True), (2, 10, False), (5, 2, False), (3, 3, True), (7, 20, True)],
)
def test_no_checkin_for_three_days(silent: int, day: int, hit: bool) -> None:
    hits = rules.no_checkin(frame(signals(days_without_checkin=silent, post_op_day=day)))
    assert len(hits) == int(hit)
    if hit:
        assert hits[0].data["days_without_checkin"] == silent
        assert f"No check-in for {silent} days" in hits[0].reason


def test_no_checkin_without_any_check_in_counts_from_surgery() -> None:
    [hit] = rules.no_checkin(frame(signals(days_without_checkin=4, post_op_day=4, last_checkin_date=pd.NaT)))
    assert hit.data["last_checkin_date"] is None
    assert "since surgery" in hit.reason


@pytest.mark.parametrize(("adherence", "hit"), [(0.49, True), (0.0, True), (0.5, False), (np.nan, False)])
def test_low_adherence_under_half_of_a_week(adherence: float, hit: bool) -> None:
    hits = rules.low_adherence(frame(signals(adherence_week=adherence)))
    assert len(hits) == int(hit)
    if hit:
        assert hits[0].severity == Severity.LOW
        assert hits[0].data["adherence_week"] == round(adherence, 3)


@pytest.mark.parametrize(
    ("missed", "expected"),
    [([], None), (["6w"], ["6w"]), (np.array(["3m", "6w"]), ["3m", "6w"]), (None, None)],
)
def test_missed_questionnaire(missed: Any, expected: list[str] | None) -> None:
    hits = rules.missed_questionnaire(frame(signals(missed_timepoints=missed)))
    if expected is None:
        assert hits == []
    else:
        [hit] = hits
        assert hit.data["timepoints"] == expected
        assert hit.rule == AlertRule.MISSED_QUESTIONNAIRE


def test_each_episode_is_judged_on_its_own_row() -> None:
    a = signals(episode_id="a", days_without_checkin=4, post_op_day=9)
    b = signals(episode_id="b", axial_above_run=3)
    c = signals(episode_id="c")
    found = {(h.episode_id, h.rule) for h in rules.all_hits(frame(a, b, c))}
    assert found == {("a", AlertRule.NO_CHECKIN), ("b", AlertRule.PAIN_ABOVE_BAND)}


def test_hit_data_is_plain_json() -> None:
    row = signals(
        axial_above_run=np.int64(3),
        pain_rise=np.float64(2.5),
        days_without_checkin=np.int64(5),
        adherence_week=np.float64(0.2),
        missed_timepoints=np.array(["6w"]),
        post_op_day=np.int64(30),
    )
    for hit in rules.all_hits(frame(row)):
        text = json.dumps(hit.data)
        assert "NaN" not in text
        assert json.loads(text) == hit.data


def test_json_safe_turns_missing_values_into_null() -> None:
    assert rules.json_safe(float("nan")) is None
    assert rules.json_safe(pd.NaT) is None
    assert rules.json_safe(np.float64(1.234)) == 1.23
    assert rules.json_safe(pd.Timestamp("2026-03-01")) == "2026-03-01"
    assert not math.isnan(rules.json_safe(np.float64(0.0)))


def test_reasons_name_the_body_part_when_the_frame_gives_the_region() -> None:
    [hit] = rules.pain_above_band(frame(signals(region="cervical", axial_above_run=3)))
    assert "neck pain (3 days)" in hit.reason
    [hit] = rules.pain_rising(frame(signals(region="lumbar", pain_rise=2.0, pain_rise_site="limb")))
    assert "leg pain" in hit.reason


def test_low_adherence_keeps_the_session_counts_when_given() -> None:
    [hit] = rules.low_adherence(frame(signals(adherence_week=0.25, prescribed_week=8, completed_week=2)))
    assert (hit.data["prescribed_week"], hit.data["completed_week"]) == (8, 2)
    assert "25%" in hit.reason


def banded_days(episode_id: str, values: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "episode_id": episode_id,
                "local_date": pd.Timestamp(day),
                "post_op_day": 10 + i,
                "axial_mean": 2.0,
                "axial_upper": 5.0,
                "axial_center": 3.0,
                "limb_mean": mean,
                "limb_upper": upper,
                "limb_center": upper - 2,
            }
            for i, (day, mean, upper) in enumerate(values)
        ]
    )


def test_pain_above_band_hits_get_the_days_means_and_band_from_the_banded_frame() -> None:
    row = signals(limb_above_run=3, last_checkin_date=pd.Timestamp("2026-03-20"))
    banded = banded_days(
        row["episode_id"],
        [
            ("2026-03-17", 3.0, 4.0),
            ("2026-03-18", 6.0, 4.0),
            ("2026-03-19", 6.5, 3.9),
            ("2026-03-20", 7.0, 3.8),
        ],
    )
    [hit] = rules.with_band_days(rules.pain_above_band(frame(row)), banded)
    assert hit.data["limb_above_days"] == [
        {"local_date": "2026-03-18", "post_op_day": 11, "mean": 6.0, "upper": 4.0, "center": 2.0},
        {"local_date": "2026-03-19", "post_op_day": 12, "mean": 6.5, "upper": 3.9, "center": 1.9},
        {"local_date": "2026-03-20", "post_op_day": 13, "mean": 7.0, "upper": 3.8, "center": 1.8},
    ]
    assert "axial_above_days" not in hit.data


def test_band_days_leave_other_hits_and_other_episodes_alone() -> None:
    row = signals(episode_id="a", limb_above_run=3, days_without_checkin=4)
    banded = banded_days("b", [("2026-03-20", 9.0, 4.0)])
    hits = rules.with_band_days(rules.all_hits(frame(row)), banded)
    above = next(h for h in hits if h.rule == AlertRule.PAIN_ABOVE_BAND)
    assert above.data["limb_above_days"] == []
    silent = next(h for h in hits if h.rule == AlertRule.NO_CHECKIN)
    assert "limb_above_days" not in silent.data
