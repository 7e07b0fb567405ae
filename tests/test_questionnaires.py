"""Outcome questionnaires through the API: schedule and states, answering, idempotency, bad input,
change from baseline, wording (ours, Spanish, a clinic's licensed text), clinic schedules, admin."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from recovery.accounts.models import User
from recovery.episodes.models import Episode, Procedure
from recovery.proms.loading import load_shipped
from recovery.proms.models import Instrument, InstrumentText, QuestionnaireResponse, ScheduleTimepoint
from tests.conftest import World, client_for
from tests.factories import ClinicFactory, EpisodeFactory, PatientFactory
from tests.test_scoring import NDI_KEYS, ODI_KEYS

MADRID = ZoneInfo("Europe/Madrid")
SURGERY = date(2026, 3, 2)


@pytest.fixture(autouse=True)
def shipped(db: None) -> None:
    """Instruments and the default schedule (a transactional test flushes data-migration rows)."""
    load_shipped(django_apps)


@pytest.fixture
def lumbar(world: World) -> Episode:
    world.episode.surgery_date = SURGERY
    world.episode.save()
    return world.episode


@pytest.fixture
def cervical(world: World) -> Episode:
    episode: Episode = EpisodeFactory.create(
        patient=PatientFactory.create(clinic=world.clinic),
        surgeon=world.surgeon,
        procedure=Procedure.objects.get(code="acdf"),
        levels=["C5-C6"],
        surgery_date=SURGERY,
    )
    return episode


def local(day: date, hour: int = 12, tz: ZoneInfo = MADRID) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=tz)


def post_op(day: int) -> date:
    return SURGERY + timedelta(days=day)


def schedule_url(episode: Episode) -> str:
    return f"/api/v1/episodes/{episode.id}/questionnaires/"


def responses_url(episode: Episode) -> str:
    return f"/api/v1/episodes/{episode.id}/questionnaire-responses/"


def odi(values: list[int | None]) -> dict[str, int | None]:
    return dict(zip(ODI_KEYS, values, strict=True))


def ndi(values: list[int | None]) -> dict[str, int | None]:
    return dict(zip(NDI_KEYS, values, strict=True))


def body(submitted_day: int | None = None, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "instrument": "odi",
        "answers": odi([3, 2, 4, 1, 0, 2, 3, 1, 2, 2]),
    }
    if submitted_day is not None:
        payload["submitted_at"] = local(post_op(submitted_day)).isoformat()
    return {**payload, **overrides}


@pytest.fixture
def at() -> Iterator[Any]:
    """Travel to a moment; clients are made inside, so their tokens are valid then."""
    travellers: list[Any] = []

    def travel(moment: datetime) -> None:
        if travellers:
            travellers.pop().stop()
        traveller = time_machine.travel(moment, tick=False)
        traveller.start()
        travellers.append(traveller)

    yield travel
    for traveller in travellers:
        traveller.stop()


def answer(world: World, episode: Episode, payload: dict[str, Any], user: User | None = None) -> Any:
    return client_for(user or episode.patient).post(responses_url(episode), payload, format="json")


def timepoints_by_key(response: Any) -> dict[str, dict[str, Any]]:
    return {tp["timepoint"]: tp for tp in response.json()["timepoints"]}


# --- Schedule and states --------------------------------------------------------------------------


def test_schedule_lists_windows_in_patient_local_dates(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(10)))
    response = client_for(world.patient).get(schedule_url(lumbar))
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["instrument"]["code"] == "odi"
    assert data["instrument"]["comparison_scale"] == "percent"
    assert data["local_today"] == post_op(10).isoformat()
    assert [tp["timepoint"] for tp in data["timepoints"]] == [
        "baseline",
        "week_6",
        "month_3",
        "month_6",
        "month_12",
    ]
    week_6 = timepoints_by_key(response)["week_6"]
    assert week_6["instrument"] == "odi"
    assert week_6["label"] == "6 weeks"
    assert week_6["window"]["opens"] == post_op(35).isoformat()
    assert week_6["window"]["closes"] == post_op(56).isoformat()
    assert (week_6["window"]["opens_day"], week_6["window"]["closes_day"]) == (35, 56)
    assert "clinic default" in week_6["window"]["source"]
    assert "SPORT" in week_6["timepoint_source"]
    baseline = timepoints_by_key(response)["baseline"]
    assert (baseline["window"]["opens"], baseline["window"]["closes"]) == (
        post_op(-30).isoformat(),
        SURGERY.isoformat(),
    )


@pytest.mark.parametrize(
    ("day", "states"),
    [
        (-40, ["upcoming", "upcoming", "upcoming", "upcoming", "upcoming"]),
        (-3, ["due", "upcoming", "upcoming", "upcoming", "upcoming"]),
        (10, ["missed", "upcoming", "upcoming", "upcoming", "upcoming"]),
        (40, ["missed", "due", "upcoming", "upcoming", "upcoming"]),
        (60, ["missed", "missed", "upcoming", "upcoming", "upcoming"]),
        (400, ["missed", "missed", "missed", "missed", "missed"]),
    ],
)
def test_states_follow_the_patient_calendar(
    world: World, lumbar: Episode, at: Any, day: int, states: list[str]
) -> None:
    at(local(post_op(day)))
    data = client_for(world.physio).get(schedule_url(lumbar)).json()
    assert [tp["state"] for tp in data["timepoints"]] == states


def test_a_window_opens_at_local_midnight_not_utc_midnight(world: World, lumbar: Episode, at: Any) -> None:
    # 22:30 UTC on day 34 is 00:30 on day 35 in Madrid (summer time): the 6-week window is open there.
    at(datetime.combine(post_op(34), time(22, 30), tzinfo=UTC))
    data = client_for(world.patient).get(schedule_url(lumbar)).json()
    assert data["local_today"] == post_op(35).isoformat()
    assert timepoints_by_key_from(data)["week_6"]["state"] == "due"
    # In New York it is still the evening of day 34 there.
    profile = world.patient.patient_profile
    profile.time_zone = "America/New_York"
    profile.save()
    data = client_for(world.patient).get(schedule_url(Episode.objects.get(pk=lumbar.pk))).json()
    assert timepoints_by_key_from(data)["week_6"]["state"] == "upcoming"


def timepoints_by_key_from(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {tp["timepoint"]: tp for tp in data["timepoints"]}


def test_completed_timepoint_shows_the_score(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(-2)))
    assert answer(world, lumbar, body()).status_code == 201
    at(local(post_op(80)))
    data = client_for(world.surgeon).get(schedule_url(lumbar)).json()
    baseline = timepoints_by_key_from(data)["baseline"]
    assert baseline["state"] == "completed"
    assert baseline["response"]["score"] == {
        "raw": 20,
        "max_raw": 50,
        "percent": 40.0,
        "answered": 10,
        "missing": 0,
    }
    assert baseline["response"]["change_from_baseline"] is None
    assert baseline["response"]["mcid"] is None
    assert [tp["state"] for tp in data["timepoints"]] == [
        "completed",
        "missed",
        "due",
        "upcoming",
        "upcoming",
    ]


def test_schedule_query_count_does_not_grow_with_responses(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(-2)))
    answer(world, lumbar, body())
    at(local(post_op(40)))
    answer(world, lumbar, body(answers=odi([1] * 10)))
    at(local(post_op(80)))
    answer(world, lumbar, body(answers=odi([1] * 10)))
    client = client_for(world.physio)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(schedule_url(lumbar)).status_code == 200
    # token, episode, instrument, schedule, responses (+ baseline found among them), care-team check,
    # and the audit row of a staff read (recovery/audit)
    assert len(queries) <= 9, [q["sql"] for q in queries]


# --- Answering ----------------------------------------------------------------------------------


def test_baseline_then_follow_up_with_change_and_thresholds(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(-5)))
    first = answer(world, lumbar, body(answers=odi([3, 3, 3, 3, 3, 3, 3, 2, 2, 2])))  # 54%
    assert first.status_code == 201, first.json()
    assert first.json()["timepoint"] == "baseline"
    assert first.json()["is_baseline"] is True

    at(local(post_op(45)))
    second = answer(world, lumbar, body())  # 40%
    assert second.status_code == 201, second.json()
    data = second.json()
    assert data["timepoint"] == "week_6"
    assert data["local_date"] == post_op(45).isoformat()
    assert data["score"]["percent"] == 40.0
    assert data["change_from_baseline"] == {
        "improvement": 14.0,
        "baseline": 54.0,
        "follow_up": 40.0,
        "scale": "percent",
    }
    assert data["mcid"]["threshold"] == 12.8
    assert data["mcid"]["met"] is True
    assert data["mcid"]["confidence"] == "M"
    assert "Copay" in data["mcid"]["source"]
    assert (data["scb"]["threshold"], data["scb"]["met"]) == (18.8, False)
    assert "Glassman" in data["scb"]["source"]

    stored = QuestionnaireResponse.objects.get(pk=data["id"])
    assert (stored.raw_score, stored.answered, stored.missing, str(stored.percent)) == (20, 10, 0, "40.0")
    assert stored.created_by == world.patient
    assert stored.instrument_version == "mobilize-plain-1"


def test_follow_up_without_baseline_has_thresholds_but_no_verdict(
    world: World, lumbar: Episode, at: Any
) -> None:
    at(local(post_op(45)))
    data = answer(world, lumbar, body()).json()
    assert data["change_from_baseline"] is None
    assert data["mcid"]["met"] is None
    assert data["mcid"]["threshold"] == 12.8


def test_one_skipped_section_is_scored_over_the_answered_ones(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(-1)))
    response = answer(world, lumbar, body(answers=odi([3, 2, 4, 1, 0, 2, 3, None, 2, 2])))
    assert response.status_code == 201, response.json()
    assert response.json()["score"] == {
        "raw": 19,
        "max_raw": 45,
        "percent": 42.2,
        "answered": 9,
        "missing": 1,
    }
    assert response.json()["answers"]["sex_life"] is None


def test_cervical_episode_uses_ndi_on_the_0_50_scale(world: World, cervical: Episode, at: Any) -> None:
    at(local(post_op(-3)))
    first = answer(world, cervical, body(instrument="ndi", answers=ndi([3] * 10)))  # 30 of 50
    assert first.status_code == 201, first.json()
    at(local(post_op(90)))
    second = answer(world, cervical, body(instrument="ndi", answers=ndi([2, 2, 2, 2, 2, 2, 2, None, 2, 2])))
    assert second.status_code == 201, second.json()
    data = second.json()
    assert data["timepoint"] == "month_3"
    assert data["score"] == {"raw": 18, "max_raw": 45, "percent": 40.0, "answered": 9, "missing": 1}
    # 18 of 45 is 20 on the 0-50 scale: improvement 10 >= 7.5 (MCID) and >= 9.5 (SCB).
    assert data["change_from_baseline"] == {
        "improvement": 10.0,
        "baseline": 30.0,
        "follow_up": 20.0,
        "scale": "points_0_50",
    }
    assert (data["mcid"]["threshold"], data["mcid"]["met"], data["mcid"]["scale"]) == (
        7.5,
        True,
        "points_0_50",
    )
    assert (data["scb"]["threshold"], data["scb"]["met"]) == (9.5, True)
    assert "Carreon" in data["mcid"]["source"]
    schedule = client_for(world.surgeon).get(schedule_url(cervical)).json()
    assert schedule["instrument"]["code"] == "ndi"
    assert schedule["instrument"]["comparison_scale"] == "points_0_50"


def test_submitted_at_defaults_to_now(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(-1), hour=9))
    response = answer(world, lumbar, body())
    assert response.status_code == 201
    assert response.json()["submitted_at"] == "2026-03-01T08:00:00Z"


def test_the_timepoint_is_chosen_by_the_patient_local_date(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(40)))
    # 23:30 UTC on day 34 is already day 35 in Madrid: the 6-week window.
    late = answer(
        world, lumbar, body(submitted_at=datetime.combine(post_op(34), time(23, 30), tzinfo=UTC).isoformat())
    )
    assert late.status_code == 201, late.json()
    assert (late.json()["timepoint"], late.json()["local_date"]) == ("week_6", post_op(35).isoformat())


def test_no_open_window_is_400_with_a_plain_reason(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(40)))
    # 21:30 UTC on day 34 is 23:30 on day 34 in Madrid: no window.
    response = answer(
        world, lumbar, body(submitted_at=datetime.combine(post_op(34), time(21, 30), tzinfo=UTC).isoformat())
    )
    assert response.status_code == 400
    (reason,) = response.json()["errors"]["non_field_errors"]
    assert reason == (
        f"No questionnaire is open on {post_op(34).isoformat()} (day 34 after surgery). "
        f"The next one, 6 weeks, opens on {post_op(35).isoformat()}."
    )
    assert not QuestionnaireResponse.objects.exists()


def test_a_completed_timepoint_is_not_answered_twice(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(40)))
    assert answer(world, lumbar, body()).status_code == 201
    again = answer(world, lumbar, body(answers=odi([0] * 10)))
    assert again.status_code == 409
    assert "already completed" in again.json()["errors"]["non_field_errors"][0]
    assert QuestionnaireResponse.objects.filter(episode=lumbar).count() == 1
    assert QuestionnaireResponse.objects.get().raw_score == 20


def test_care_team_cannot_answer_for_the_patient(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(40)))
    for clinician in (world.physio, world.surgeon):
        response = answer(world, lumbar, body(), user=clinician)
        assert response.status_code == 403
    assert not QuestionnaireResponse.objects.exists()


# --- Idempotency ----------------------------------------------------------------------------------


def test_replay_with_same_content_is_200_and_creates_nothing(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(40)))
    payload = body(40)
    first = answer(world, lumbar, payload)
    second = answer(world, lumbar, payload)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert QuestionnaireResponse.objects.count() == 1


def test_replay_without_submitted_at_after_the_window_closed_is_still_200(
    world: World, lumbar: Episode, at: Any
) -> None:
    at(local(post_op(56), hour=23))
    payload = body()
    assert answer(world, lumbar, payload).status_code == 201
    at(local(post_op(58)))
    assert answer(world, lumbar, payload).status_code == 200


def test_same_id_with_different_content_is_409(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(40)))
    payload = body(40)
    answer(world, lumbar, payload)
    changed = answer(world, lumbar, {**payload, "answers": odi([0] * 10)})
    assert changed.status_code == 409
    assert "id" in changed.json()["errors"]
    moved = answer(world, lumbar, {**payload, "submitted_at": local(post_op(39)).isoformat()})
    assert moved.status_code == 409
    assert QuestionnaireResponse.objects.get().raw_score == 20


def test_same_id_on_another_episode_is_409(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(40)))
    payload = body(40)
    answer(world, lumbar, payload)
    other = world.other_episode
    other.surgery_date = SURGERY
    other.save()
    response = answer(world, other, payload)
    assert response.status_code == 409
    assert QuestionnaireResponse.objects.get().episode == lumbar


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_posts_store_one_response(world: World, lumbar: Episode) -> None:
    load_shipped(django_apps)
    payload = body(-2)
    statuses: list[int] = []
    client = client_for(world.patient)

    def post() -> None:
        statuses.append(client.post(responses_url(lumbar), payload, format="json").status_code)
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    assert QuestionnaireResponse.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_different_answers_for_one_timepoint_store_one(world: World, lumbar: Episode) -> None:
    load_shipped(django_apps)
    statuses: list[int] = []
    client = client_for(world.patient)

    def post(value: int) -> None:
        payload = body(-2, answers=odi([value] * 10))
        statuses.append(client.post(responses_url(lumbar), payload, format="json").status_code)
        connection.close()

    threads = [threading.Thread(target=post, args=(value,)) for value in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409, 409]
    assert QuestionnaireResponse.objects.count() == 1


# --- Bad input ------------------------------------------------------------------------------------

BAD_INPUT = [
    ({"answers": [3, 2, 4, 1, 0, 2, 3, 1, 2, 2]}, "answers"),
    ({"answers": "3,2,4"}, "answers"),
    ({"answers": dict.fromkeys(ODI_KEYS[:9], 1)}, "answers"),
    ({"answers": {}}, "answers"),
    ({"answers": {**odi([1] * 10), "mood": 2}}, "answers.mood"),
    ({"answers": {**odi([1] * 10), "walking": 6}}, "answers.walking"),
    ({"answers": {**odi([1] * 10), "walking": -1}}, "answers.walking"),
    ({"answers": {**odi([1] * 10), "walking": 2.5}}, "answers.walking"),
    ({"answers": {**odi([1] * 10), "walking": 2.0}}, "answers.walking"),
    ({"answers": {**odi([1] * 10), "walking": "2"}}, "answers.walking"),
    ({"answers": {**odi([1] * 10), "walking": True}}, "answers.walking"),
    ({"answers": odi([1, 1, 1, None, None, 1, 1, 1, 1, 1])}, "answers"),
    ({"answers": odi([None] * 10)}, "answers"),
    ({"instrument": "ndi"}, "instrument"),
    ({"instrument": "sf36"}, "instrument"),
    ({"instrument": 5}, "instrument"),
    ({"instrument": None}, "instrument"),
    ({"submitted_at": "2026-04-12T10:00:00"}, "submitted_at"),
    ({"submitted_at": "last tuesday"}, "submitted_at"),
    ({"submitted_at": local(post_op(40), hour=13).isoformat()}, "submitted_at"),
    ({"id": "not-a-uuid"}, "id"),
    ({"id": 7}, "id"),
    ({"timepoint": "week_6"}, "timepoint"),
    ({"score": 40}, "score"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_INPUT)
def test_bad_input_is_400_naming_the_field_and_saves_nothing(
    world: World, lumbar: Episode, at: Any, overrides: dict[str, Any], field: str
) -> None:
    at(local(post_op(40)))  # noon; 13:00 is more than 5 minutes ahead
    response = answer(world, lumbar, body(**overrides))
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert not QuestionnaireResponse.objects.exists()


@pytest.mark.parametrize("missing", ["instrument", "answers"])
def test_required_fields(world: World, lumbar: Episode, at: Any, missing: str) -> None:
    at(local(post_op(40)))
    payload = body()
    del payload[missing]
    response = answer(world, lumbar, payload)
    assert response.status_code == 400
    assert missing in response.json()["errors"]


# --- Listing --------------------------------------------------------------------------------------


def test_responses_are_listed_newest_first_and_paginated(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(-2)))
    answer(world, lumbar, body(answers=odi([3] * 10)))
    at(local(post_op(40)))
    answer(world, lumbar, body(answers=odi([2] * 10)))
    at(local(post_op(80)))
    answer(world, lumbar, body(answers=odi([1] * 10)))
    client = client_for(world.physio)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(responses_url(lumbar), {"page_size": 2})
    assert page.status_code == 200
    data = page.json()
    assert data["count"] == 3
    assert [r["timepoint"] for r in data["results"]] == ["month_3", "week_6"]
    assert data["results"][0]["change_from_baseline"]["improvement"] == 40.0
    assert len(queries) <= 9, [q["sql"] for q in queries]  # 8, + the audit row of a staff read
    rest = client.get(responses_url(lumbar), {"page_size": 2, "page": 2}).json()
    assert [r["timepoint"] for r in rest["results"]] == ["baseline"]
    assert client.get(responses_url(lumbar), {"page": "x"}).status_code == 400


def test_the_other_patients_responses_are_not_visible(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(40)))
    answer(world, lumbar, body())
    assert client_for(world.other_patient).get(responses_url(lumbar)).status_code == 404
    assert client_for(world.clinic_admin).get(schedule_url(lumbar)).status_code == 404


# --- Instrument endpoint and wording ---------------------------------------------------------------


def instrument_url(code: str) -> str:
    return f"/api/v1/questionnaires/instruments/{code}/"


def test_instrument_items_in_our_wording(world: World) -> None:
    data = client_for(world.surgeon).get(instrument_url("odi")).json()
    assert (data["code"], data["region"], data["language"], data["wording"]) == (
        "odi",
        "lumbar",
        "en",
        "mobilize",
    )
    assert [item["key"] for item in data["items"]] == ODI_KEYS
    assert [item["position"] for item in data["items"]] == list(range(1, 11))
    assert [option["value"] for option in data["items"][0]["options"]] == [0, 1, 2, 3, 4, 5]
    assert "NOT the official" in data["license_note"]
    assert data["scoring"]["max_missing"] == 1
    assert "Fairbank" in data["scoring"]["source"]
    assert data["thresholds"]["mcid"]["value"] == 12.8
    assert data["loinc"]["panel"]["code"] == "97908-8"
    assert data["loinc"]["score"]["confidence"] == "M"


def test_patient_gets_their_preferred_language(world: World) -> None:
    profile = world.patient.patient_profile
    profile.preferred_language = "es"
    profile.save()
    data = client_for(world.patient).get(instrument_url("ndi")).json()
    assert data["language"] == "es"
    assert data["title"] == "Cómo afecta el cuello a su vida diaria"
    assert data["items"][0]["text"].startswith("Ahora mismo")
    assert data["items"][0]["loinc"] == "82227-0"
    english = client_for(world.patient).get(instrument_url("ndi"), {"language": "en"}).json()
    assert english["items"][0]["text"].startswith("Right now")


def test_instrument_endpoint_errors(world: World) -> None:
    client = client_for(world.patient)
    assert client.get(instrument_url("sf36")).status_code == 404
    bad = client.get(instrument_url("odi"), {"language": "fr"})
    assert bad.status_code == 400
    assert "language" in bad.json()["errors"]


def licensed_file(tmp_path: Path, **overrides: Any) -> Path:
    data: dict[str, Any] = {
        "instrument": "odi",
        "language": "en",
        "license_note": "Official ODI wording used under licence (test).",
        "items": [
            {
                "key": key,
                "text": f"Licensed question {key}",
                "options": [f"Licensed {key} {i}" for i in range(6)],
            }
            for key in ODI_KEYS
        ],
        **overrides,
    }
    path = tmp_path / "odi-en.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_licensed_text_is_used_for_the_clinic_when_present(world: World, tmp_path: Path) -> None:
    call_command("load_instrument_text", world.clinic.slug, str(licensed_file(tmp_path)))
    data = client_for(world.patient).get(instrument_url("odi")).json()
    assert data["wording"] == "clinic"
    assert data["license_note"] == "Official ODI wording used under licence (test)."
    assert data["items"][3]["text"] == "Licensed question walking"
    assert data["items"][3]["options"][5] == {"value": 5, "text": "Licensed walking 5"}
    # Not in Spanish: our own Spanish wording is shown. Not for another clinic: our wording.
    spanish = client_for(world.patient).get(instrument_url("odi"), {"language": "es"}).json()
    assert spanish["wording"] == "mobilize"
    assert client_for(world.other_clinic_surgeon).get(instrument_url("odi")).json()["wording"] == "mobilize"


def test_loading_again_replaces_the_wording(world: World, tmp_path: Path) -> None:
    call_command("load_instrument_text", world.clinic.slug, str(licensed_file(tmp_path)))
    call_command("load_instrument_text", world.clinic.slug, str(licensed_file(tmp_path, license_note="v2")))
    assert InstrumentText.objects.get().license_note == "v2"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["items"].pop(), "keys must be exactly"),
        (lambda d: d["items"][0]["options"].pop(), "must be a list of 6 texts"),
        (lambda d: d["items"].reverse(), "keys must be exactly"),
        (lambda d: d.__setitem__("instrument", "sf36"), "Unknown questionnaire"),
        (lambda d: d.__setitem__("language", "fr"), "Must be one of"),
        (lambda d: d.__setitem__("extra", 1), "Unknown fields"),
    ],
)
def test_load_instrument_text_refuses_another_structure(
    world: World, tmp_path: Path, change: Any, message: str
) -> None:
    path = licensed_file(tmp_path)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=message):
        call_command("load_instrument_text", world.clinic.slug, str(path))
    assert not InstrumentText.objects.exists()


def test_load_instrument_text_needs_a_known_clinic(world: World, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No clinic"):
        call_command("load_instrument_text", "nowhere", str(licensed_file(tmp_path)))


# --- Clinic schedules ----------------------------------------------------------------------------


def test_a_clinic_schedule_replaces_the_default(world: World, lumbar: Episode, at: Any) -> None:
    for key, label, opens, target, closes, is_baseline in [
        ("pre_op", "Pre-op", -14, 0, 0, True),
        ("week_2", "2 weeks", 10, 14, 20, False),
    ]:
        ScheduleTimepoint.objects.create(
            clinic=world.clinic,
            key=key,
            label=label,
            opens_day=opens,
            target_day=target,
            closes_day=closes,
            is_baseline=is_baseline,
            timepoint_source="Riverside protocol",
        )
    at(local(post_op(12)))
    data = client_for(world.patient).get(schedule_url(lumbar)).json()
    assert [tp["timepoint"] for tp in data["timepoints"]] == ["pre_op", "week_2"]
    assert data["timepoints"][1]["state"] == "due"
    response = answer(world, lumbar, body())
    assert response.status_code == 201
    assert response.json()["timepoint"] == "week_2"
    # Another clinic keeps the default schedule.
    elsewhere = ClinicFactory.create()
    outsider_episode = EpisodeFactory.create(
        patient=PatientFactory.create(clinic=elsewhere), surgery_date=SURGERY
    )
    outside = client_for(outsider_episode.patient).get(schedule_url(outsider_episode)).json()
    assert len(outside["timepoints"]) == 5


def test_a_response_for_a_removed_timepoint_stays_listed(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(40)))
    answer(world, lumbar, body())
    ScheduleTimepoint.objects.create(
        clinic=world.clinic,
        key="pre_op",
        label="Pre-op",
        opens_day=-14,
        target_day=0,
        closes_day=0,
        is_baseline=True,
    )
    data = client_for(world.patient).get(schedule_url(lumbar)).json()
    assert [(tp["timepoint"], tp["state"]) for tp in data["timepoints"]] == [
        ("pre_op", "missed"),
        ("week_6", "completed"),
    ]
    assert data["timepoints"][1]["window"] is None


def test_overlapping_clinic_timepoints_are_rejected(world: World) -> None:
    source = {"timepoint_source": "Riverside protocol"}
    ScheduleTimepoint.objects.create(
        clinic=world.clinic, key="a", label="A", opens_day=10, target_day=14, closes_day=20, **source
    )
    clash = ScheduleTimepoint(
        clinic=world.clinic, key="b", label="B", opens_day=20, target_day=25, closes_day=30, **source
    )
    with pytest.raises(ValidationError, match="overlaps"):
        clash.full_clean()
    same_key = ScheduleTimepoint(
        clinic=world.clinic, key="a", label="A2", opens_day=60, target_day=60, closes_day=70, **source
    )
    with pytest.raises(ValidationError, match="already has a timepoint with this key"):
        same_key.full_clean()
    default_overlap = ScheduleTimepoint(
        clinic=world.clinic, key="c", label="C", opens_day=40, target_day=40, closes_day=50, **source
    )
    default_overlap.full_clean()  # the shipped default does not constrain a clinic's own schedule


def test_instrument_follows_the_procedure_region(world: World) -> None:
    assert Instrument.objects.get(code="odi").region == "lumbar"
    assert Instrument.objects.get(code="ndi").region == "cervical"


# --- Admin ---------------------------------------------------------------------------------------


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_responses_in_the_admin_are_read_only_and_scoped(world: World, lumbar: Episode, at: Any) -> None:
    at(local(post_op(40)))
    stored_id = answer(world, lumbar, body()).json()["id"]
    surgeon = admin_client(world.surgeon)
    assert stored_id in surgeon.get("/admin/proms/questionnaireresponse/").content.decode()
    change = surgeon.get(f"/admin/proms/questionnaireresponse/{stored_id}/change/")
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert (
        stored_id
        not in admin_client(world.clinic_admin).get("/admin/proms/questionnaireresponse/").content.decode()
    )
    assert (
        stored_id
        not in admin_client(world.other_clinic_surgeon)
        .get("/admin/proms/questionnaireresponse/")
        .content.decode()
    )


def test_clinic_admin_adds_a_timepoint_but_cannot_change_the_default(world: World) -> None:
    client = admin_client(world.clinic_admin)
    form = {
        "key": "week_2",
        "label": "2 weeks",
        "opens_day": "10",
        "target_day": "14",
        "closes_day": "20",
        "timepoint_source": "Riverside protocol",
        "window_source": "clinic default",
        "is_active": "on",
    }
    added = client.post("/admin/proms/scheduletimepoint/add/", form)
    assert added.status_code == 302, added.content.decode()[:2000]
    row = ScheduleTimepoint.objects.get(key="week_2")
    assert (row.clinic_id, row.updated_by) == (world.clinic.id, world.clinic_admin)
    overlapping = client.post(
        "/admin/proms/scheduletimepoint/add/",
        {**form, "key": "week_3", "opens_day": "20", "target_day": "21", "closes_day": "25"},
    )
    assert overlapping.status_code == 200
    assert b"overlaps" in overlapping.content
    default = ScheduleTimepoint.objects.get(clinic__isnull=True, key="week_6")
    assert (
        client.post(
            f"/admin/proms/scheduletimepoint/{default.pk}/change/", {**form, "key": "week_6"}
        ).status_code
        == 403
    )
    assert (
        admin_client(world.physio)
        .post("/admin/proms/scheduletimepoint/add/", {**form, "key": "x"})
        .status_code
        == 403
    )


# --- Schema ---------------------------------------------------------------------------------------


def test_schema_documents_the_questionnaire_endpoints(db: None) -> None:
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert set(paths["/api/v1/episodes/{episode_id}/questionnaires/"]) >= {"get"}
    assert set(paths["/api/v1/episodes/{episode_id}/questionnaire-responses/"]) >= {"get", "post"}
    assert set(paths["/api/v1/questionnaires/instruments/{code}/"]) >= {"get"}
    request = schema["components"]["schemas"]["ResponseInputRequest"]["properties"]
    assert {"id", "instrument", "answers", "submitted_at"} <= set(request)
