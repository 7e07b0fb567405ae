"""The trajectory cache (``recovery.trajectories.selectors.trajectory_json``): a repeated view is served
from the cache, and every kind of write to the trajectory's inputs, through any path, is seen on
the very next view (the key is a digest of the inputs, so nothing has to invalidate it).

The clock is pinned (the patient lives in Madrid): surgery was 10 local days before "now"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recovery.accounts.models import PatientProfile
from recovery.checkins.models import CheckIn
from recovery.checkins.services import checkin_delete, checkin_update
from recovery.episodes.models import Episode
from recovery.proms.models import ScheduleTimepoint
from recovery.protocols.loading import load_shipped_protocols
from recovery.protocols.services import protocol_override
from recovery.rehab.models import ExerciseLog
from recovery.reminders.models import WalkLog
from recovery.trajectories import selectors
from recovery.trajectories.services import milestone_record, milestone_remove
from tests.conftest import World, client_for
from tests.factories import AssignmentFactory
from tests.test_trajectory_api import answer, checkin

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
    for day in range(9):
        checkin(world.episode, day, axial_pain=5, limb_pain=4)
    return world.episode


def view(user: Any, episode: Episode) -> dict[str, Any]:
    response = client_for(user).get(f"/api/v1/episodes/{episode.id}/trajectory/")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def computed(user: Any, episode: Episode) -> dict[str, Any]:
    """The same view computed afresh (the cache emptied first)."""
    cache.clear()
    return view(user, episode)


def test_a_repeated_view_is_served_from_the_cache_with_one_query_for_the_key(
    world: World, episode: Episode, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(world.surgeon)
    url = f"/api/v1/episodes/{episode.id}/trajectory/"
    first = client.get(url).json()
    with CaptureQueriesContext(connection) as again:
        second = client.get(url).json()
    assert second == first
    assert not any(q["sql"].startswith("COPY") for q in again.captured_queries)
    assert sum("hashtextextended" in q["sql"] for q in again.captured_queries) == 1

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("computed again although nothing changed")

    monkeypatch.setattr(selectors, "analyse", fail)
    assert client.get(url).json() == first


def test_the_patient_and_the_care_team_are_cached_apart(world: World, episode: Episode) -> None:
    clinician = view(world.surgeon, episode)
    patient = view(world.patient, episode)
    assert clinician["audience"] == "clinician" and "risk" in clinician
    assert patient["audience"] == "patient" and "risk" not in patient
    assert view(world.surgeon, episode) == clinician


def test_a_cache_that_is_down_only_costs_the_computation(
    world: World, episode: Episode, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    expected = computed(world.surgeon, episode)

    def down(*args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    assert view(world.surgeon, episode) == expected


def _new_checkin(world: World, episode: Episode) -> None:
    checkin(episode, 9, axial_pain=9)


def _edited_checkin(world: World, episode: Episode) -> None:
    last = CheckIn.objects.filter(episode=episode).order_by("-recorded_at").first()
    assert last is not None
    checkin_update(actor=world.patient, checkin=last, changes={"axial_pain": 10}, now=NOW)


def _edited_checkin_by_sql(world: World, episode: Episode) -> None:
    CheckIn.objects.filter(episode=episode).update(limb_pain=9)


def _deleted_checkin(world: World, episode: Episode) -> None:
    last = CheckIn.objects.filter(episode=episode).order_by("-recorded_at").first()
    assert last is not None
    checkin_delete(actor=world.patient, checkin=last, now=NOW)


def _exercise_log(world: World, episode: Episode) -> None:
    assignment = AssignmentFactory.create(episode=episode, start_day=0)
    view(world.surgeon, episode)  # the new assignment is seen (cached again) before the log
    ExerciseLog.objects.create(
        episode=episode,
        assignment=assignment,
        performed_at=NOW - timedelta(hours=2),
        local_date=NOW.date(),
        sets_completed=2,
        reps_completed=10,
        created_by=episode.patient,
    )


def _assignment(world: World, episode: Episode) -> None:
    AssignmentFactory.create(episode=episode, start_day=3)


def _milestone(world: World, episode: Episode) -> None:
    milestone_record(episode=episode, key="discharge", achieved_on=SURGERY, actor=world.patient)


def _walk(world: World, episode: Episode) -> None:
    WalkLog.objects.create(episode=episode, at=NOW - timedelta(days=8))


def _questionnaire(world: World, episode: Episode) -> None:
    answer(world, episode, -2, 3)


def _protocol_override(world: World, episode: Episode) -> None:
    protocol_override(
        actor=world.surgeon,
        procedure_code=episode.procedure_id,
        target="milestones.driving.expected_by_day",
        value=42,
        reason="We advise six weeks.",
    )


def _schedule(world: World, episode: Episode) -> None:
    ScheduleTimepoint.objects.filter(clinic__isnull=True, key="baseline").update(is_active=False)


def _time_zone(world: World, episode: Episode) -> None:
    # 11:00 UTC is already the next day in Kiritimati (UTC+14).
    PatientProfile.objects.filter(user=episode.patient).update(time_zone="Pacific/Kiritimati")


def _surgery_date(world: World, episode: Episode) -> None:
    Episode.objects.filter(pk=episode.pk).update(surgery_date=SURGERY - timedelta(days=1))


WRITES: dict[str, Callable[[World, Episode], None]] = {
    "new check-in": _new_checkin,
    "edited check-in": _edited_checkin,
    "check-in edited in SQL": _edited_checkin_by_sql,
    "deleted check-in": _deleted_checkin,
    "exercise log": _exercise_log,
    "assignment": _assignment,
    "milestone recorded": _milestone,
    "walk": _walk,
    "questionnaire": _questionnaire,
    "protocol override": _protocol_override,
    "questionnaire schedule": _schedule,
    "patient time zone": _time_zone,
    "surgery date": _surgery_date,
}


@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
def test_every_kind_of_write_is_seen_on_the_next_view(world: World, episode: Episode, write: str) -> None:
    before = view(world.surgeon, episode)
    WRITES[write](world, episode)
    after = view(world.surgeon, episode)
    assert after != before
    assert after == computed(world.surgeon, episode)


def test_a_removed_milestone_is_seen_on_the_next_view(world: World, episode: Episode) -> None:
    before = view(world.surgeon, episode)
    milestone_record(episode=episode, key="discharge", achieved_on=SURGERY, actor=world.patient)
    recorded = view(world.surgeon, episode)
    milestone_remove(episode=episode, key="discharge", actor=world.patient)
    after = view(world.surgeon, episode)
    assert recorded != before and after == before
    assert after == computed(world.surgeon, episode)


def test_a_red_flag_leaving_the_last_24_hours_is_seen_without_any_write(
    world: World, episode: Episode
) -> None:
    checkin(episode, 9, hour=23, red_flags=["fever"])  # 22:00 UTC on 19 March, 13 hours before now
    before = view(world.surgeon, episode)
    assert before["signals"]["red_flags_last_24h"] == 1
    # 22:30 UTC: still 20 March in Madrid (23:30), but the flag is now 24.5 hours old.
    with time_machine.travel(NOW + timedelta(hours=11, minutes=30), tick=False):
        after = view(world.surgeon, episode)
    assert after["as_of"] == before["as_of"]
    assert after["signals"]["red_flags_last_24h"] == 0


def test_one_entry_per_episode_and_audience_and_it_can_be_dropped(world: World, episode: Episode) -> None:
    from recovery.trajectories.selectors import trajectory_cache_key
    from recovery.trajectories.services import trajectory_cache_forget

    view(world.surgeon, episode)
    view(world.patient, episode)
    first = cache.get(trajectory_cache_key(episode.pk, "clinician"))
    checkin(episode, 9, axial_pain=9)
    view(world.surgeon, episode)
    replaced = cache.get(trajectory_cache_key(episode.pk, "clinician"))
    assert first is not None and replaced is not None and replaced[0] != first[0]
    trajectory_cache_forget(episode_id=episode.pk)
    trajectory_cache_forget(episode_id=episode.pk)
    assert cache.get(trajectory_cache_key(episode.pk, "clinician")) is None
    assert cache.get(trajectory_cache_key(episode.pk, "patient")) is None
    assert view(world.surgeon, episode) == computed(world.surgeon, episode)


def test_the_expected_recovery_is_built_once_per_protocol_state_and_its_frames_are_copies(
    world: World, episode: Episode
) -> None:
    from recovery.trajectories.frames import trajectory_fingerprint

    def protocol() -> selectors.ProtocolFrames:
        fingerprint = trajectory_fingerprint(episode.pk, now=NOW)
        assert fingerprint is not None
        return selectors._recoveries_of(episode, fingerprint.protocol)

    first = protocol()
    assert protocol() is first
    specs = first.specs()
    specs["expected_by_day"] = -1  # a caller changing what it was handed
    assert (first.specs()["expected_by_day"] != -1).all()
    bands = first.bands(30)
    bands["axial_upper"] = 0.0
    assert (first.bands(30)["axial_upper"] > 0).all()

    _protocol_override(world, episode)
    changed = protocol()
    assert changed is not first
    driving = changed.specs().set_index("key").loc["driving", "expected_by_day"]
    assert driving == 42
