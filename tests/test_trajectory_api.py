"""GET /api/v1/episodes/{id}/trajectory/: chart-ready trajectory for the care team and the patient.

The clock is pinned (the patient lives in Madrid): surgery was 10 local days before "now"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest
import time_machine
from django.apps import apps as django_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from api.trajectory import TrajectorySerializer
from recovery.episodes.models import Episode, Procedure
from recovery.proms.loading import load_shipped
from recovery.proms.models import Instrument
from recovery.proms.services import ResponseData, questionnaire_response_record
from recovery.protocols.loading import load_shipped_protocols
from recovery.trajectories.models import MilestoneEvent
from recovery.trajectories.selectors import trajectory_for
from tests.conftest import World, client_for
from tests.factories import CheckInFactory

NOW = datetime.fromisoformat("2026-03-20T11:00:00+00:00")
SURGERY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def _pinned() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def episode(world: World) -> Episode:
    load_shipped_protocols()
    world.episode.surgery_date = SURGERY
    world.episode.save(update_fields=["surgery_date"])
    return world.episode


def checkin(episode: Episode, post_op_day: int, hour: int = 9, **values: Any) -> Any:
    local = datetime.combine(
        SURGERY + timedelta(days=post_op_day), time(hour), tzinfo=episode.patient_time_zone
    )
    return CheckInFactory.create(episode=episode, recorded_at=local, **values)


def answer(world: World, episode: Episode, post_op_day: int, value: int) -> None:
    """File an ODI answered at noon on the patient's clock on that post-op day (every item ``value``)."""
    load_shipped(django_apps)
    keys = [item["key"] for item in Instrument.objects.get(code="odi").items]
    when = datetime.combine(
        episode.surgery_date + timedelta(days=post_op_day), time(12), tzinfo=episode.patient_time_zone
    )
    questionnaire_response_record(
        actor=world.patient,
        episode=episode,
        data=ResponseData(instrument="odi", answers=dict.fromkeys(keys, value), submitted_at=when),
        now=NOW,
    )


def _canonical(data: Any) -> str:
    """JSON as the API renders it, keys sorted: ints and floats, dates and text stay apart."""
    return json.dumps(json.loads(JSONRenderer().render(data)), sort_keys=True)


def get(user: Any, episode: Episode) -> dict[str, Any]:
    """The trajectory ``user`` gets; and every time, proof that the view's answer (the selector's
    payload, answered as it is) is exactly what the documented serializer renders from it."""
    response = client_for(user).get(f"/api/v1/episodes/{episode.id}/trajectory/")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    payload = trajectory_for(episode, audience=body["audience"], now=timezone.now())
    assert _canonical(payload) == _canonical(body)
    # Read back through the serializer (types and formats checked) and rendered again: the same.
    parsed = TrajectorySerializer(data=payload)
    assert parsed.is_valid(), parsed.errors
    assert _canonical(TrajectorySerializer(parsed.validated_data).data) == _canonical(payload)
    return body


def test_series_runs_from_surgery_to_today_with_gaps_as_null(world: World, episode: Episode) -> None:
    checkin(episode, 0, axial_pain=6, limb_pain=5)
    checkin(episode, 0, hour=20, axial_pain=4, limb_pain=5, walking_minutes=10)
    checkin(episode, 3, axial_pain=3, limb_pain=2, steps=1200)
    body = get(world.surgeon, episode)
    series = body["series"]
    assert series["post_op_day"] == list(range(11))
    assert series["date"][0] == "2026-03-10" and series["date"][-1] == "2026-03-20"
    assert series["axial_mean"][0] == 5.0 and series["axial_max"][0] == 6.0
    assert series["axial_mean"][1] is None and series["walking_minutes"][1] is None
    assert series["walking_minutes"][0] == 10.0
    assert series["steps"][3] == 1200.0
    assert series["axial_mean_7d"][3] == 4.0  # (5 + 3) / 2: the gap days are skipped
    assert body["as_of"] == "2026-03-20" and body["post_op_day"] == 10


def test_expected_band_comes_with_its_sources(world: World, episode: Episode) -> None:
    body = get(world.physio, episode)
    expected = body["expected"]
    assert expected["post_op_day"] == body["series"]["post_op_day"]
    assert all(v is not None for v in expected["axial_upper"])
    points = expected["axial_points"]
    assert points and all(p["source"]["reference"] for p in points)
    assert expected["method"]
    day_0 = points[0]
    assert day_0["post_op_day"] == 0 and expected["axial_center"][0] == pytest.approx(
        day_0["center"], abs=0.01
    )
    for milestone in body["milestones"]:
        assert milestone["source"]["reference"]
    for threshold in body["questionnaires"]["thresholds"]:
        assert threshold["source"]["reference"]


def test_pain_above_band_gives_watch_with_clinician_and_patient_wording(
    world: World, episode: Episode
) -> None:
    for day in (7, 8, 9):
        checkin(episode, day, axial_pain=10, limb_pain=1)
    checkin(episode, 10, axial_pain=10, limb_pain=1)
    clinician = get(world.surgeon, episode)
    assert clinician["status"] in ("watch", "off_track")
    codes = {r["code"]: r for r in clinician["reasons"]}
    assert "axial_above_band" in codes
    assert "Back pain above the expected upper band for 4 days" in codes["axial_above_band"]["text"]
    assert clinician["signals"]["axial_above_run"] == 4
    assert clinician["position"]["axial_above_upper"] is True
    assert "risk" in clinician

    patient = get(world.patient, episode)
    assert patient["audience"] == "patient"
    assert "risk" not in patient and "signals" not in patient
    patient_reason = next(r for r in patient["reasons"] if r["code"] == "axial_above_band")
    assert patient_reason["text"] != codes["axial_above_band"]["text"]
    assert "care team" in patient_reason["text"]
    assert patient["series"] == clinician["series"]


def test_quiet_recent_checkins_are_on_track(world: World, episode: Episode) -> None:
    answer(world, episode, -1, 3)
    for day in range(11):
        checkin(episode, day, axial_pain=2, limb_pain=1, walking_minutes=20)
    body = get(world.surgeon, episode)
    assert body["status"] == "on_track", body["reasons"]
    assert get(world.patient, episode)["status_label"] == "You are on track"


def test_milestones_show_recorded_and_computed_states(world: World, episode: Episode) -> None:
    checkin(episode, 1, walking_minutes=5)
    MilestoneEvent.objects.create(
        episode=episode,
        key="discharge",
        achieved_on=SURGERY + timedelta(days=1),
        recorded_by=world.patient,
        recorded_at=NOW,
    )
    body = get(world.surgeon, episode)
    milestones = {m["key"]: m for m in body["milestones"]}
    assert milestones["first_walk"]["state"] == "met"
    assert milestones["first_walk"]["achieved_on"] == "2026-03-11"
    assert milestones["discharge"]["state"] == "met" and milestones["discharge"]["recorded"] is True
    assert (
        milestones["discharge"]["expected_by"]
        == (SURGERY + timedelta(days=milestones["discharge"]["expected_by_day"])).isoformat()
    )
    for m in milestones.values():
        assert m["state"] in ("met", "missed", "due", "upcoming")
        if m["state"] == "upcoming":
            assert m["expected_by_day"] > 10 + 7
    patient = {m["key"]: m for m in get(world.patient, episode)["milestones"]}
    assert patient["discharge"]["label"] != milestones["discharge"]["label"]


def test_missed_baseline_questionnaire_is_a_watch_reason(world: World, episode: Episode) -> None:
    load_shipped(django_apps)
    for day in range(11):
        checkin(episode, day, axial_pain=2, limb_pain=1)
    body = get(world.surgeon, episode)
    assert body["status"] == "watch"
    assert [r["code"] for r in body["reasons"]] == ["missed_questionnaire"]
    assert body["signals"]["missed_timepoints"] == ["baseline"]


def test_questionnaire_scores_with_change_and_thresholds_reached(world: World, episode: Episode) -> None:
    episode.surgery_date = NOW.date() - timedelta(days=100)
    episode.save(update_fields=["surgery_date"])
    answer(world, episode, -2, 4)  # ODI 80 %
    answer(world, episode, 91, 1)  # ODI 20 % at 3 months
    body = get(world.surgeon, episode)
    scores = {s["timepoint"]: s for s in body["questionnaires"]["scores"]}
    assert scores["baseline"]["score"] == 80.0 and scores["baseline"]["change"] is None
    month_3 = scores["month_3"]
    assert month_3["baseline"] == 80.0 and month_3["change"] == 60.0
    assert {r["kind"] for r in month_3["reached"]} == {
        t["kind"] for t in body["questionnaires"]["thresholds"]
    }
    assert all(r["label"] for r in month_3["reached"])
    assert body["questionnaires"]["instrument"] == "odi"
    assert all(e["source"]["reference"] for e in body["questionnaires"]["expected"])


def test_query_count_does_not_grow_with_data(world: World, episode: Episode) -> None:
    for day in range(5):
        checkin(episode, day)
    get(world.surgeon, episode)  # warm-up: the token's last-use stamp is written once
    checkin(episode, 5)  # new data: computed again, not served from the cache
    with CaptureQueriesContext(connection) as few:
        get(world.surgeon, episode)
    for day in range(-20, 11):
        for hour in (8, 14, 20):
            checkin(episode, day, hour=hour)
    MilestoneEvent.objects.create(episode=episode, key="discharge", achieved_on=SURGERY, recorded_at=NOW)
    with CaptureQueriesContext(connection) as many:
        get(world.surgeon, episode)
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_planned_episode_without_data_has_an_empty_series(world: World, episode: Episode) -> None:
    episode.surgery_date = NOW.date() + timedelta(days=14)
    episode.save(update_fields=["surgery_date"])
    body = get(world.patient, episode)
    assert body["post_op_day"] == -14
    assert body["series"]["post_op_day"] == [] and body["position"] is None
    assert body["status"] == "on_track"
    assert {m["state"] for m in body["milestones"]} == {"upcoming"}


def test_pre_op_checkins_start_the_series_before_surgery(world: World, episode: Episode) -> None:
    checkin(episode, -3, axial_pain=5)
    body = get(world.surgeon, episode)
    assert body["series"]["post_op_day"][0] == -3
    assert body["expected"]["axial_upper"][0] is None  # no band before surgery
    assert body["expected"]["axial_upper"][3] is not None


def test_signals_for_episodes_gives_one_row_per_episode_for_the_alert_rules(
    world: World, episode: Episode
) -> None:
    from recovery.trajectories.selectors import signals_for_episodes

    for day in (8, 9, 10):
        checkin(episode, day, axial_pain=10)
    frame = signals_for_episodes([episode.id, world.other_episode.id], now=NOW)
    assert list(frame["episode_id"]) == [str(episode.id), str(world.other_episode.id)]
    mine = frame.iloc[0]
    assert mine["axial_above_run"] == 3 and mine["days_without_checkin"] == 0
    assert frame.iloc[1]["last_checkin_date"] is pd.NaT or pd.isna(frame.iloc[1]["last_checkin_date"])
    assert signals_for_episodes([], now=NOW).empty


def test_a_procedure_without_a_protocol_has_a_trajectory_without_a_band(
    world: World, episode: Episode
) -> None:
    """A clinic may add procedures (the table is extensible) before any protocol ships for them."""
    Procedure.objects.create(code="lumbar_custom", name="Clinic's own lumbar procedure", region="lumbar")
    Episode.objects.filter(pk=episode.pk).update(procedure_id="lumbar_custom")
    episode.refresh_from_db()
    for day in range(4):
        checkin(episode, day, axial_pain=5, limb_pain=3)
    body = get(world.surgeon, episode)
    assert body["procedure"] == "lumbar_custom"
    assert body["series"]["axial_mean"][:4] == [5.0, 5.0, 5.0, 5.0]
    assert set(body["expected"]["axial_upper"]) == {None}
    assert body["expected"]["protocol_version"] is None and body["expected"]["axial_points"] == []
    assert body["milestones"] == [] and body["questionnaires"]["instrument"] is None
    assert body["position"]["axial_above_upper"] is False
    assert get(world.patient, episode)["status"] == body["status"]
