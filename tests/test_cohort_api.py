"""The cohort endpoints: list by risk, outcomes by procedure, and the CSV export."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recovery.alerts.models import Alert
from recovery.episodes.models import Episode
from recovery.protocols.loading import load_shipped_protocols
from tests.conftest import World, client_for
from tests.factories import CheckInFactory, EpisodeFactory, PatientFactory
from tests.test_trajectory_api import answer

NOW = datetime.fromisoformat("2026-03-20T11:00:00+00:00")
SURGERY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def _pinned() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def cohort(world: World) -> World:
    load_shipped_protocols()
    Episode.objects.filter(pk__in=[world.episode.pk, world.other_episode.pk]).update(surgery_date=SURGERY)
    world.episode.refresh_from_db()
    return world


def another_episode(world: World, **values: Any) -> Episode:
    patient = PatientFactory.create(clinic=world.clinic)
    return EpisodeFactory.create(
        patient=patient,
        surgeon=world.surgeon,
        physiotherapists=[world.physio],
        surgery_date=SURGERY,
        **values,
    )


def checkin(episode: Episode, post_op_day: int, hour: int = 9, **values: Any) -> Any:
    local = datetime.combine(
        SURGERY + timedelta(days=post_op_day), time(hour), tzinfo=episode.patient_time_zone
    )
    return CheckInFactory.create(episode=episode, recorded_at=local, **values)


def rows_for(user: Any, query: str = "") -> list[dict[str, Any]]:
    response = client_for(user).get(f"/api/v1/cohort/{query}")
    assert response.status_code == 200, response.content
    body: list[dict[str, Any]] = response.json()
    return body


def test_clinicians_see_only_their_own_episodes(cohort: World) -> None:
    assert [r["episode"] for r in rows_for(cohort.surgeon)] == [str(cohort.episode.id)]
    assert [r["episode"] for r in rows_for(cohort.physio)] == [str(cohort.episode.id)]
    assert rows_for(cohort.other_clinic_surgeon) == []


def test_cohort_is_sorted_by_risk_with_latest_pains_and_adherence(cohort: World) -> None:
    calm = cohort.episode
    answer(cohort, calm, -1, 3)
    worried = another_episode(cohort)
    for day in range(11):
        checkin(calm, day, axial_pain=1, limb_pain=1)
        checkin(worried, day, axial_pain=10, limb_pain=9)
    checkin(worried, 10, hour=10, axial_pain=8, limb_pain=9, red_flags=["bladder_or_bowel_change"])
    rows = rows_for(cohort.surgeon)
    assert [r["episode"] for r in rows] == [str(worried.id), str(calm.id)]
    top = rows[0]
    assert top["status"] == "off_track" and top["risk"] > rows[1]["risk"]
    assert {r["code"] for r in top["reasons"]} >= {"red_flag", "axial_above_band"}
    assert top["latest"]["date"] == "2026-03-20" and top["latest"]["axial_mean"] == 9.0
    assert top["post_op_day"] == 10
    assert rows[1]["status"] == "on_track"
    assert "adherence_week" in top


def test_open_alerts_are_listed(cohort: World) -> None:
    alert = Alert.objects.create(
        episode=cohort.episode,
        rule="no_checkin",
        severity="moderate",
        reason="No check-in for 3 days.",
        raised_at=NOW,
    )
    row = rows_for(cohort.surgeon)[0]
    assert [a["id"] for a in row["open_alerts"]] == [str(alert.id)]


def test_status_filter_and_bad_filters(cohort: World) -> None:
    calm = cohort.episode
    answer(cohort, calm, -1, 3)
    for day in range(11):
        checkin(calm, day, axial_pain=1, limb_pain=1)
    silent = another_episode(cohort)
    assert [r["episode"] for r in rows_for(cohort.surgeon, "?status=on_track")] == [str(calm.id)]
    assert [r["episode"] for r in rows_for(cohort.surgeon, "?status=off_track")] == [str(silent.id)]
    bad = client_for(cohort.surgeon).get("/api/v1/cohort/?status=fine")
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["status"]
    unknown = client_for(cohort.surgeon).get("/api/v1/cohort/?procedure=heart_transplant")
    assert unknown.status_code == 400 and list(unknown.json()["errors"]) == ["procedure"]


def test_cohort_query_count_is_constant(cohort: World) -> None:
    checkin(cohort.episode, 3)
    client = client_for(cohort.surgeon)
    client.get("/api/v1/cohort/")  # warm-up: the token's last-use stamp is written once
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/v1/cohort/").status_code == 200
    for _ in range(7):
        episode = another_episode(cohort)
        for day in range(-5, 11):
            checkin(episode, day)
        Alert.objects.create(
            episode=episode, rule="no_checkin", severity="moderate", reason="x", raised_at=NOW
        )
    with CaptureQueriesContext(connection) as eight:
        assert len(client.get("/api/v1/cohort/").json()) == 8
    assert len(eight) == len(one), [q["sql"] for q in eight.captured_queries]


# --- outcomes ---------------------------------------------------------------------------------


def test_outcomes_give_median_and_iqr_by_day_against_the_expected_curve(cohort: World) -> None:
    episodes = [cohort.episode, another_episode(cohort), another_episode(cohort)]
    for episode, pain in zip(episodes, (2, 4, 9), strict=True):
        checkin(episode, 5, axial_pain=pain, limb_pain=1)
    response = client_for(cohort.surgeon).get("/api/v1/cohort/outcomes/?procedure=lumbar_microdiscectomy")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["episodes"] == 3
    day_5 = next(d for d in body["pain"] if d["post_op_day"] == 5)
    assert day_5["n"] == 3
    assert day_5["axial_median"] == 4.0 and day_5["axial_q1"] == 3.0 and day_5["axial_q3"] == 6.5
    assert day_5["axial_upper"] is not None and day_5["axial_center"] is not None
    assert body["expected"]["axial_points"][0]["source"]["reference"]
    keys = {m["key"] for m in body["milestones"]}
    assert "first_walk" in keys
    assert {t["kind"] for t in body["thresholds"]} >= {"mcid"}
    assert body["questionnaire_timepoint"] == "month_3"


def test_outcomes_milestone_rate(cohort: World) -> None:
    walker, sitter = cohort.episode, another_episode(cohort)
    checkin(walker, 1, walking_minutes=5)
    checkin(sitter, 1)
    body = client_for(cohort.surgeon).get("/api/v1/cohort/outcomes/?procedure=lumbar_microdiscectomy").json()
    first_walk = next(m for m in body["milestones"] if m["key"] == "first_walk")
    assert (first_walk["met"], first_walk["missed"], first_walk["rate"]) == (1, 1, 0.5)


def test_outcomes_need_a_known_procedure(cohort: World) -> None:
    missing = client_for(cohort.surgeon).get("/api/v1/cohort/outcomes/")
    assert missing.status_code == 400 and list(missing.json()["errors"]) == ["procedure"]
    other = client_for(cohort.surgeon).get("/api/v1/cohort/outcomes/?procedure=acdf")
    assert other.status_code == 200 and other.json()["episodes"] == 0


def test_outcomes_query_count_is_constant(cohort: World) -> None:
    client = client_for(cohort.surgeon)
    url = "/api/v1/cohort/outcomes/?procedure=lumbar_microdiscectomy"
    checkin(cohort.episode, 2)
    client.get(url)  # warm-up: the token's last-use stamp is written once
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for _ in range(7):
        episode = another_episode(cohort)
        for day in range(11):
            checkin(episode, day)
    with CaptureQueriesContext(connection) as eight:
        assert client.get(url).json()["episodes"] == 8
    assert len(eight) == len(one)


# --- export -----------------------------------------------------------------------------------


def test_export_streams_pseudonymous_daily_rows(cohort: World) -> None:
    second = another_episode(cohort)
    checkin(cohort.episode, 2, axial_pain=7, limb_pain=3, steps=900)
    response = client_for(cohort.surgeon).get("/api/v1/cohort/export.csv")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["episode_id"] for r in rows} == {str(cohort.episode.id), str(second.id)}
    assert len(rows) == 2 * 11  # surgery day to today, both episodes
    day_2 = next(r for r in rows if r["episode_id"] == str(cohort.episode.id) and r["post_op_day"] == "2")
    assert day_2["local_date"] == "2026-03-12" and float(day_2["axial_mean"]) == 7.0
    assert day_2["procedure"] == "lumbar_microdiscectomy"
    gap = next(r for r in rows if r["episode_id"] == str(cohort.episode.id) and r["post_op_day"] == "3")
    assert gap["axial_mean"] == ""  # a gap, not 0
    for person in (cohort.patient, second.patient):
        assert person.email not in text and person.full_name not in text


def test_export_is_chunked_by_episode(cohort: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from recovery.trajectories import selectors

    for _ in range(4):
        another_episode(cohort)
    seen: list[int] = []
    real = selectors._load

    def spy(ids: Any, now: Any) -> Any:
        seen.append(len(ids))
        return real(ids, now)

    monkeypatch.setattr(selectors, "_load", spy)
    rows = list(selectors.export_rows(cohort.surgeon, now=NOW, chunk=2))
    assert seen == [2, 2, 1]
    assert len(rows) == 1 + 5 * 11
    assert len({uuid.UUID(r[0]) for r in rows[1:]}) == 5
