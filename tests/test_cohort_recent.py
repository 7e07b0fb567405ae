"""The cohort list and the alert rules read only each episode's recent data
(``recovery.trajectories.selectors.recent_analysis``): their signals, status and cohort rows must be
exactly those computed over the whole history, on data made to catch a window that is too short
(long runs above the band, gaps, stale episodes, old and recent adherence, red flags, deleted
check-ins, time zones)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.analytics.cohort import cohort_table
from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode
from recovery.protocols.loading import load_shipped_protocols
from recovery.trajectories.frames import load_frames, recent_frames
from recovery.trajectories.selectors import RECENT_DAYS, analyse, recent_analysis
from tests.conftest import World
from tests.factories import AssignmentFactory, CheckInFactory, EpisodeFactory, PatientFactory
from tests.test_frames import log

# 09:30 UTC on Wednesday 10 June 2026: 11:30 in Madrid, still 9 June (23:30) in Honolulu.
NOW = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
TODAY = date(2026, 6, 10)


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def days(episode: Episode, first: int, last: int, *, pain: int, hour: int = 12, **values: object) -> None:
    """One check-in a day on post-op days first..last (inclusive) at ``hour`` local time."""
    rows = []
    for n in range(first, last + 1):
        day = episode.surgery_date + timedelta(days=n)
        recorded = datetime(day.year, day.month, day.day, hour, tzinfo=episode.patient_time_zone)
        rows.append(
            CheckInFactory.build(
                episode=episode, recorded_at=recorded, axial_pain=pain, limb_pain=min(pain, 6), **values
            )
        )
    CheckIn.objects.bulk_create(rows)


def new_episode(world: World, surgery: date, *, zone: str = "Europe/Madrid") -> Episode:
    patient = PatientFactory.create(clinic=world.clinic, profile__time_zone=zone)
    return EpisodeFactory.create(
        patient=patient, surgeon=world.surgeon, physiotherapists=[world.physio], surgery_date=surgery
    )


@pytest.fixture
def varied(world: World) -> list[Episode]:
    load_shipped_protocols()
    episodes = []
    # Above the band every day for 60 days up to today: the run reaches far past the window.
    long_run = new_episode(world, TODAY - timedelta(days=80))
    days(long_run, 0, 19, pain=2)
    days(long_run, 20, 80, pain=10)
    episodes.append(long_run)
    # Above the band since surgery, with no day below it: the run starts at the series' first day.
    from_surgery = new_episode(world, TODAY - timedelta(days=30))
    days(from_surgery, 0, 30, pain=10)
    episodes.append(from_surgery)
    # A run that breaks inside the window, then 4 days above.
    broken = new_episode(world, TODAY - timedelta(days=70))
    days(broken, 0, 65, pain=3)
    days(broken, 66, 70, pain=9)
    episodes.append(broken)
    # Stale: the last check-in 30 days ago, after a rise of pain (the rise is judged on that day).
    stale = new_episode(world, TODAY - timedelta(days=90))
    days(stale, 0, 53, pain=2)
    days(stale, 54, 60, pain=8)
    episodes.append(stale)
    # A gap: check-ins long ago, then the last 3 days only.
    gap = new_episode(world, TODAY - timedelta(days=100))
    days(gap, -5, 20, pain=4)
    days(gap, 97, 100, pain=5)
    episodes.append(gap)
    # No check-in at all; old and recent exercise logs (the adherence week counts the recent ones).
    quiet = new_episode(world, TODAY - timedelta(days=50))
    assignment = AssignmentFactory.create(episode=quiet, sessions_per_day=2, start_day=-3)
    for n in range(-3, 50, 2):
        log(assignment, quiet.surgery_date + timedelta(days=n))
    weekly = AssignmentFactory.create(episode=quiet, days_of_week=["mon", "thu"], start_day=0, end_day=45)
    for n in range(50):
        log(weekly, quiet.surgery_date + timedelta(days=n))
    episodes.append(quiet)
    # Planned: pre-operative check-ins only.
    planned = new_episode(world, TODAY + timedelta(days=6))
    days(planned, -10, -6, pain=7)
    episodes.append(planned)
    # A red flag in the last 24 hours, a deleted check-in today, and recent adherence.
    flagged = new_episode(world, TODAY - timedelta(days=40))
    days(flagged, 0, 38, pain=4)
    days(flagged, 39, 39, pain=4, hour=20, red_flags=["fever"])
    days(flagged, 40, 40, pain=4, hour=8, red_flags=["fever"])
    CheckIn.objects.filter(episode=flagged, local_date=TODAY).update(deleted_at=timezone.now())
    recent = AssignmentFactory.create(episode=flagged, start_day=10)
    for n in range(30, 40):
        log(recent, flagged.surgery_date + timedelta(days=n))
    episodes.append(flagged)
    # Honolulu (still 9 June there), above the band for exactly the window's length.
    honolulu = new_episode(world, date(2026, 5, 1), zone="Pacific/Honolulu")
    days(honolulu, 0, 39 - RECENT_DAYS, pain=3)
    days(honolulu, 40 - RECENT_DAYS, 39, pain=10)
    episodes.append(honolulu)
    # The world's own episode (Madrid) with a single check-in.
    world.episode.surgery_date = TODAY - timedelta(days=12)
    world.episode.save(update_fields=["surgery_date"])
    days(world.episode, 5, 5, pain=5)
    episodes.append(world.episode)
    return episodes


def test_recent_analysis_gives_the_signals_status_and_cohort_rows_of_the_whole_history(
    varied: list[Episode],
) -> None:
    ids = [e.pk for e in varied]
    whole = analyse(load_frames(ids, now=NOW), now=NOW, outcomes=False)
    recent = recent_analysis(ids, now=NOW)
    pd.testing.assert_frame_equal(recent.signals, whole.signals)
    pd.testing.assert_frame_equal(recent.status, whole.status)
    pd.testing.assert_frame_equal(
        cohort_table(recent.banded, recent.signals, recent.status),
        cohort_table(whole.banded, whole.signals, whole.status),
    )
    # The data set does test the window: long runs, a stale rise, a red flag, adherence.
    signals = whole.signals.set_index("episode_id")
    assert signals.loc[str(varied[0].pk), "axial_above_run"] > RECENT_DAYS
    assert signals.loc[str(varied[1].pk), "axial_above_run"] == 31
    assert signals.loc[str(varied[2].pk), "axial_above_run"] == 5
    assert signals.loc[str(varied[3].pk), "pain_rise"] > 0
    assert signals.loc[str(varied[3].pk), "days_without_checkin"] == 30
    assert 0 < signals.loc[str(varied[5].pk), "adherence_week"] < 1
    assert signals.loc[str(varied[7].pk), "red_flags_last_24h"] == 1
    assert signals.loc[str(varied[8].pk), "axial_above_run"] == RECENT_DAYS


def test_recent_frames_hold_every_row_from_each_episodes_first_day(varied: list[Episode]) -> None:
    ids = [e.pk for e in varied]
    loaded = load_frames(ids, now=NOW, recent_days=RECENT_DAYS, outcomes=False)
    cut = recent_frames(load_frames(ids, now=NOW), RECENT_DAYS)
    for name in ("episodes", "checkins", "adherence", "scores", "missed"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(cut, name), obj=name)
    assert loaded.milestones.empty and loaded.walks.empty
    since = loaded.episodes.set_index("episode_id")["since"]
    # 21 days up to the last check-in day; a week before today for an episode without check-ins.
    assert since[str(varied[2].pk)] == pd.Timestamp(TODAY - timedelta(days=RECENT_DAYS - 1))
    assert since[str(varied[3].pk)] == pd.Timestamp(TODAY - timedelta(days=30 + RECENT_DAYS - 1))
    assert since[str(varied[5].pk)] == pd.Timestamp(TODAY - timedelta(days=7))
    assert len(loaded.checkins) < len(cut.checkins) + 1 < len(load_frames(ids, now=NOW).checkins)


def test_a_run_reaching_the_window_start_is_read_again_in_the_same_queries(
    world: World, varied: list[Episode]
) -> None:
    short = [varied[2].pk, varied[3].pk]  # no run reaches its window start
    with CaptureQueriesContext(connection) as without:
        recent_analysis(short, now=NOW)
    with CaptureQueriesContext(connection) as again:
        analysis = recent_analysis([*short, varied[0].pk], now=NOW)
    assert len(again) == len(without), [q["sql"][:80] for q in again.captured_queries]
    rows = analysis.banded[analysis.banded["episode_id"] == str(varied[0].pk)]
    assert rows["post_op_day"].min() == 0  # the whole series of the episode read again
    assert analysis.signals.set_index("episode_id").loc[str(varied[0].pk), "axial_above_run"] == 61
