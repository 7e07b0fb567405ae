"""Bulk loading of the trajectory frames: columns and dtypes, what is left out, time zones, the
adherence rule of ``recovery.analytics.adherence``, a constant number of queries, and the portable
path (the demo's SQLite) giving the same frames as the PostgreSQL one."""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recovery.accounts.models import Role
from recovery.analytics.adherence import daily_adherence
from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode
from recovery.proms.models import QuestionnaireResponse, ScheduleTimepoint
from recovery.rehab.models import Assignment, ExerciseLog
from recovery.rehab.plan import adherence_frames
from recovery.reminders.models import WalkLog
from recovery.trajectories import frames as frames_module
from recovery.trajectories.frames import (
    ADHERENCE_COLUMNS,
    CHECKIN_COLUMNS,
    EPISODE_COLUMNS,
    MILESTONE_COLUMNS,
    MISSED_COLUMNS,
    SCORE_COLUMNS,
    WALK_COLUMNS,
    AssignmentPlan,
    Frames,
    adherence_rows,
    load_checkins_floor,
    load_frames,
    parse_grouped_copy,
)
from recovery.trajectories.models import MilestoneEvent
from tests.conftest import World
from tests.factories import (
    AssignmentFactory,
    CheckInFactory,
    ClinicFactory,
    EpisodeFactory,
    PatientFactory,
    UserFactory,
)

# 09:30 UTC on Wednesday 10 June 2026: 11:30 in Madrid, still 9 June (23:30) in Honolulu.
NOW = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
SPECS = {
    "checkins": CHECKIN_COLUMNS,
    "episodes": EPISODE_COLUMNS,
    "adherence": ADHERENCE_COLUMNS,
    "scores": SCORE_COLUMNS,
    "missed": MISSED_COLUMNS,
    "milestones": MILESTONE_COLUMNS,
    "walks": WALK_COLUMNS,
}


@pytest.fixture(autouse=True, params=["one round trip", "binary COPY"])
def load_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on both PostgreSQL paths: a few episodes' whole history in one round
    trip (arrays as text), and binary COPY (the cohort, the recent frames)."""
    if request.param == "binary COPY":
        monkeypatch.setattr(frames_module, "SMALL_LOAD", 0)
    path: str = request.param
    return path


@pytest.fixture
def clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def local_noon(episode: Episode, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=episode.patient_time_zone)


def checkin(episode: Episode, day: date, **values: Any) -> CheckIn:
    recorded = values.pop("recorded_at", local_noon(episode, day))
    return CheckInFactory.create(episode=episode, recorded_at=recorded, **values)


def log(assignment: Assignment, day: date, sets: int = 2) -> ExerciseLog:
    episode = assignment.episode
    return ExerciseLog.objects.create(
        episode=episode,
        assignment=assignment,
        performed_at=local_noon(episode, day),
        local_date=day,
        sets_completed=sets,
        reps_completed=10,
        created_by=episode.patient,
    )


def respond(episode: Episode, timepoint: str, day: date, percent: float, *, baseline: bool = False) -> None:
    QuestionnaireResponse.objects.create(
        episode=episode,
        instrument_id="odi",
        instrument_version="test",
        timepoint=timepoint,
        timepoint_label=timepoint,
        is_baseline=baseline,
        answers={},
        raw_score=round(percent / 2),
        answered=10,
        missing=0,
        percent=percent,
        submitted_at=local_noon(episode, day),
        local_date=day,
        created_by=episode.patient,
    )


def spans(episode: Episode, days: int, per_day: int = 1) -> None:
    for n in range(days):
        day = episode.surgery_date + timedelta(days=n)
        for k in range(per_day):
            checkin(episode, day, recorded_at=local_noon(episode, day) + timedelta(minutes=k))


def assert_spec(frames: Frames) -> None:
    for name, spec in SPECS.items():
        frame = getattr(frames, name)
        assert list(frame.columns) == list(spec), name
        assert {column: str(dtype) for column, dtype in frame.dtypes.items()} == spec, name


# ---------------------------------------------------------------------------------------------
# Columns, values and what is left out
# ---------------------------------------------------------------------------------------------


def test_every_frame_has_the_documented_columns_and_dtypes(clock: None, world: World) -> None:
    episode = world.episode
    day = episode.surgery_date + timedelta(days=2)
    checkin(episode, day, axial_pain=6, limb_pain=2, steps=3200, walking_minutes=25, took_opioid=True)
    assignment = AssignmentFactory.create(episode=episode)
    log(assignment, day)
    respond(episode, "baseline", episode.surgery_date - timedelta(days=2), 44.0, baseline=True)
    WalkLog.objects.create(episode=episode, at=local_noon(episode, day))
    MilestoneEvent.objects.create(
        episode=episode, key="discharge", achieved_on=day, recorded_by=world.surgeon, recorded_at=NOW
    )
    frames = load_frames([episode.pk], now=NOW)
    assert_spec(frames)
    assert all(len(getattr(frames, name)) for name in SPECS if name != "missed")


def test_empty_id_list_gives_empty_frames_of_the_right_shape_without_a_query(db: None) -> None:
    with CaptureQueriesContext(connection) as queries:
        frames = load_frames([], now=NOW)
    assert len(queries) == 0
    assert_spec(frames)
    assert all(getattr(frames, name).empty for name in SPECS)


def test_checkin_values_missing_values_stay_missing_and_deleted_checkins_are_left_out(
    world: World, clock: None
) -> None:
    episode = world.episode
    day = episode.surgery_date + timedelta(days=3)
    checkin(episode, day, axial_pain=7, limb_pain=1, steps=4100, walking_minutes=30, took_opioid=False)
    checkin(
        episode,
        day,
        recorded_at=local_noon(episode, day) + timedelta(hours=3),
        axial_pain=5,
        limb_pain=4,
        red_flags=["fever", "new_weakness"],
        took_opioid=True,
    )
    checkin(episode, day, recorded_at=local_noon(episode, day) + timedelta(hours=5), deleted_at=NOW)
    rows = load_frames([episode.pk], now=NOW).checkins
    assert len(rows) == 2
    first, second = rows.iloc[0], rows.iloc[1]
    assert first["episode_id"] == str(episode.pk)
    assert first["local_date"] == pd.Timestamp(day)
    assert first["recorded_at"] == pd.Timestamp(local_noon(episode, day))
    assert (first["axial_pain"], first["limb_pain"], first["steps"], first["walking_minutes"]) == (
        7.0,
        1.0,
        4100.0,
        30.0,
    )
    assert first["took_opioid"] == 0.0
    assert first["red_flag_count"] == 0
    assert math.isnan(second["steps"])
    assert math.isnan(second["walking_minutes"])
    assert second["took_opioid"] == 1.0
    assert second["red_flag_count"] == 2


def test_opioid_not_answered_is_nan_not_no(clock: None, world: World) -> None:
    checkin(world.episode, world.episode.surgery_date, took_opioid=None)
    assert math.isnan(load_frames([world.episode.pk], now=NOW).checkins["took_opioid"].iloc[0])


def test_rows_follow_the_order_of_the_ids_and_unknown_ids_are_ignored(clock: None, world: World) -> None:
    first, second = world.episode, world.other_episode
    checkin(first, first.surgery_date)
    checkin(second, second.surgery_date)
    frames = load_frames([second.pk, uuid.uuid4(), first.pk, second.pk], now=NOW)
    assert list(frames.episodes["episode_id"]) == [str(second.pk), str(first.pk)]
    assert list(frames.checkins["episode_id"]) == [str(second.pk), str(first.pk)]


def test_episode_rows_carry_procedure_surgery_date_and_clinic(clock: None, world: World) -> None:
    row = load_frames([world.episode.pk], now=NOW).episodes.iloc[0]
    assert row["procedure"] == "lumbar_microdiscectomy"
    assert row["surgery_date"] == pd.Timestamp(world.episode.surgery_date)
    assert row["clinic_id"] == str(world.clinic.pk)


def test_today_is_now_on_each_patients_own_calendar(world: World) -> None:
    # 12:30 UTC on 10 June: already 11 June in Auckland (00:30), still 10 June in Los Angeles (05:30).
    instant = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)
    auckland = PatientFactory.create(clinic=world.clinic, profile__time_zone="Pacific/Auckland")
    angeles = PatientFactory.create(clinic=world.clinic, profile__time_zone="America/Los_Angeles")
    east = EpisodeFactory.create(patient=auckland, surgeon=world.surgeon)
    west = EpisodeFactory.create(patient=angeles, surgeon=world.surgeon)
    episodes = load_frames([east.pk, west.pk], now=instant).episodes.set_index("episode_id")
    assert episodes.loc[str(east.pk), "today"] == pd.Timestamp(date(2026, 6, 11))
    assert episodes.loc[str(west.pk), "today"] == pd.Timestamp(date(2026, 6, 10))
    assert east.local_today(instant) == date(2026, 6, 11)


def test_walks_are_counted_per_patient_local_day(clock: None, world: World) -> None:
    episode = world.episode  # Europe/Madrid: UTC+2 in June
    WalkLog.objects.create(episode=episode, at=datetime(2026, 6, 8, 21, 30, tzinfo=UTC))  # 23:30 on 8 June
    WalkLog.objects.create(episode=episode, at=datetime(2026, 6, 8, 22, 30, tzinfo=UTC))  # 00:30 on 9 June
    WalkLog.objects.create(episode=episode, at=datetime(2026, 6, 9, 8, 0, tzinfo=UTC))
    walks = load_frames([episode.pk], now=NOW).walks
    assert list(zip(walks["local_date"], walks["walks"], strict=True)) == [
        (pd.Timestamp(date(2026, 6, 8)), 1),
        (pd.Timestamp(date(2026, 6, 9)), 2),
    ]


def test_milestones_and_scores_are_listed_per_episode(clock: None, world: World) -> None:
    episode = world.episode
    MilestoneEvent.objects.create(
        episode=episode,
        key="discharge",
        achieved_on=episode.surgery_date + timedelta(days=1),
        recorded_by=world.physio,
        recorded_at=NOW,
    )
    respond(episode, "baseline", episode.surgery_date - timedelta(days=1), 48.0, baseline=True)
    frames = load_frames([episode.pk], now=NOW)
    assert frames.milestones.to_dict("records") == [
        {
            "episode_id": str(episode.pk),
            "key": "discharge",
            "achieved_on": pd.Timestamp(episode.surgery_date + timedelta(days=1)),
        }
    ]
    score = frames.scores.iloc[0]
    assert (score["timepoint"], score["instrument"], score["score"]) == ("baseline", "odi", 48.0)
    assert score["answered_at"] == pd.Timestamp(local_noon(episode, episode.surgery_date - timedelta(days=1)))


# ---------------------------------------------------------------------------------------------
# Missed questionnaires
# ---------------------------------------------------------------------------------------------


def test_missed_timepoints_are_closed_windows_without_a_response(world: World) -> None:
    episode = world.episode
    episode.surgery_date = date(2026, 3, 1)
    episode.save()
    respond(episode, "baseline", date(2026, 2, 25), 50.0, baseline=True)
    # 10 June 2026 is post-op day 101: baseline answered, week_6 (closes day 56) missed, month_3
    # (days 76-104) still open.
    missed = load_frames([episode.pk], now=NOW).missed
    assert missed.to_dict("records") == [
        {"episode_id": str(episode.pk), "timepoint": "week_6", "closed_on": pd.Timestamp(date(2026, 4, 26))}
    ]


def test_a_clinic_with_its_own_schedule_is_judged_on_it_alone(world: World) -> None:
    ScheduleTimepoint.objects.create(
        clinic=world.clinic,
        key="week_2",
        label="2 weeks",
        target_day=14,
        opens_day=10,
        closes_day=20,
        timepoint_source="test",
    )
    elsewhere = ClinicFactory.create()
    surgeon = UserFactory.create(clinic=elsewhere, role=Role.SURGEON)
    patient = PatientFactory.create(clinic=elsewhere)
    theirs = EpisodeFactory.create(patient=patient, surgeon=surgeon, surgery_date=date(2026, 3, 1))
    ours = world.episode
    ours.surgery_date = date(2026, 3, 1)
    ours.save()
    missed = load_frames([ours.pk, theirs.pk], now=NOW).missed
    assert sorted(missed.loc[missed["episode_id"] == str(ours.pk), "timepoint"]) == ["week_2"]
    assert sorted(missed.loc[missed["episode_id"] == str(theirs.pk), "timepoint"]) == ["baseline", "week_6"]


# ---------------------------------------------------------------------------------------------
# Adherence: exactly recovery.analytics.adherence
# ---------------------------------------------------------------------------------------------


def varied_schedules(world: World) -> list[Episode]:
    """Three episodes with weekday subsets, pre-op starts, end days, ended assignments, several
    sessions a day, zero-set attempts, logs beyond the prescription and logs on days not due."""
    first = world.episode
    first.surgery_date = date(2026, 5, 4)  # a Monday
    first.save()
    a = AssignmentFactory.create(episode=first, sessions_per_day=2, start_day=-3, end_day=20)
    b = AssignmentFactory.create(episode=first, days_of_week=["mon", "wed", "fri"], start_day=5)
    c = AssignmentFactory.create(
        episode=first, days_of_week=["tue", "sat"], start_day=0, ended_on=date(2026, 5, 20)
    )
    for n in range(-3, 30):
        day = first.surgery_date + timedelta(days=n)
        log(a, day)
        if n % 3 == 0:
            log(a, day)
            log(a, day)  # a third session on a 2-session day: capped
        if n % 5 == 0:
            log(b, day)  # some of these days are not Monday/Wednesday/Friday: ignored
        if n % 4 == 0:
            log(c, day, sets=0)  # an attempt, not a session
        elif n % 2 == 0:
            log(c, day)
    second = world.other_episode
    second.surgery_date = date(2026, 5, 20)  # a Wednesday
    second.save()
    d = AssignmentFactory.create(episode=second, days_of_week=["sun"], sessions_per_day=3, start_day=0)
    e = AssignmentFactory.create(episode=second, start_day=2, end_day=2)
    for n in range(21):
        day = second.surgery_date + timedelta(days=n)
        log(d, day)
        log(e, day)
    # A patient in Honolulu, where at NOW it is still 9 June (23:30): due on 9 and 10 June, so only
    # 9 June is in the frame (10 June is the UTC date, not the patient's).
    honolulu = PatientFactory.create(clinic=world.clinic, profile__time_zone="Pacific/Honolulu")
    third = EpisodeFactory.create(patient=honolulu, surgeon=world.surgeon, surgery_date=date(2026, 6, 1))
    f = AssignmentFactory.create(episode=third, start_day=8, end_day=9)
    log(f, date(2026, 6, 9))
    fourth = EpisodeFactory.create(patient=PatientFactory.create(clinic=world.clinic), surgeon=world.surgeon)
    return [first, second, third, fourth]


def expected_adherence(episode: Episode, now: datetime) -> pd.DataFrame:
    """``daily_adherence`` over every day something could be due, up to the patient's today."""
    today = episode.local_today(now)
    starts = list(Assignment.objects.filter(episode=episode).values_list("start_day", flat=True))
    first = episode.surgery_date + timedelta(days=min(starts, default=0))
    schedules, logs = adherence_frames(episode=episode, date_from=first, date_to=today)
    daily = daily_adherence(
        schedules, logs, date_from=first, date_to=today, surgery_date=episode.surgery_date
    )
    due = daily[daily["prescribed"] > 0]
    return pd.DataFrame(
        {
            "local_date": pd.to_datetime(due["date"]).astype("datetime64[ns]").to_numpy(),
            "prescribed": due["prescribed"].astype("int64").to_numpy(),
            "completed": due["completed"].astype("int64").to_numpy(),
        }
    )


def test_adherence_per_day_equals_daily_adherence_for_varied_schedules(clock: None, world: World) -> None:
    episodes = varied_schedules(world)
    loaded = load_frames([e.pk for e in episodes], now=NOW).adherence
    for episode in episodes:
        mine = (
            loaded[loaded["episode_id"] == str(episode.pk)].drop(columns="episode_id").reset_index(drop=True)
        )
        expected = expected_adherence(episode, NOW)
        pd.testing.assert_frame_equal(mine, expected, check_dtype=False)
    # The cases above are not vacuous: capping, attempts and days not due all changed something.
    assert loaded["prescribed"].sum() > loaded["completed"].sum() > 0
    third = loaded[loaded["episode_id"] == str(episodes[2].pk)]
    assert third.to_dict("records") == [
        {
            "episode_id": str(episodes[2].pk),
            "local_date": pd.Timestamp(date(2026, 6, 9)),
            "prescribed": 1,
            "completed": 1,
        }
    ]


def test_adherence_rows_cap_sessions_and_ignore_logs_on_days_not_due() -> None:
    # One assignment, 2 sessions a day on Mondays and Wednesdays, post-op days 0-6 of a surgery on
    # Monday 1970-01-05 (day 4 after the epoch).
    plan = AssignmentPlan(
        episode=np.array([0]),
        sessions=np.array([2]),
        start_day=np.array([0]),
        last_day=np.array([6]),
        weekday_mask=np.array([0b0000101]),
        surgery=np.array([4]),
    )
    rows = adherence_rows(
        plan,
        log_assignment=np.array([0, 0, 0, 0]),
        log_day=np.array([4, 4, 4, 5]),  # three on Monday, one on Tuesday (not due)
        log_count=np.array([1, 1, 1, 1]),
    )
    assert rows.day.tolist() == [4, 6]
    assert rows.prescribed.tolist() == [2, 2]
    assert rows.completed.tolist() == [2, 0]


def test_adherence_rows_group_the_same_by_counting_or_by_sorting(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = AssignmentPlan(
        episode=np.array([0, 0, 1]),
        sessions=np.array([1, 2, 1]),
        start_day=np.array([-2, 3, 0]),
        last_day=np.array([20, 9, 30]),
        weekday_mask=np.array([0b1111111, 0b0010101, 0b1000001]),
        surgery=np.array([20_000, 20_000, 20_010]),
    )
    logs = {
        "log_assignment": np.array([0, 1, 1, 1, 2, 2]),
        "log_day": np.array([19_999, 20_004, 20_004, 20_004, 20_012, 20_013]),
        "log_count": np.ones(6, dtype="int64"),
    }
    counted = adherence_rows(plan, **logs)
    monkeypatch.setattr(frames_module, "_DENSE_BINS", 0)
    sorted_ = adherence_rows(plan, **logs)
    for field in ("episode", "day", "prescribed", "completed"):
        assert getattr(counted, field).tolist() == getattr(sorted_, field).tolist()
    assert counted.completed.sum() > 0


@pytest.mark.parametrize(
    "instant",
    [
        [10, 20, 30, 5, 6, 1, 2, 3],  # each row ascending
        [30, 20, 10, 6, 5, 3, 2, 1],  # each row descending (the index's own order)
        [20, 30, 10, 6, 5, 2, 3, 1],  # neither
    ],
)
def test_grouped_values_are_ordered_by_the_ids_given_then_by_time(instant: list[int]) -> None:
    # Three rows (episode positions 2, 0, 1) of 3, 2 and 3 values.
    group = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    row_episode = np.array([2, 0, 1])
    times = np.array(instant)
    order = frames_module.episode_time_order(row_episode, group, times)
    assert row_episode[group][order].tolist() == [0, 0, 1, 1, 1, 2, 2, 2]
    assert times[order].tolist() == sorted(instant[3:5]) + sorted(instant[5:]) + sorted(instant[:3])


# ---------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------


def count_queries(ids: list[uuid.UUID]) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        load_frames(ids, now=NOW)
    return len(queries), [query["sql"] for query in queries.captured_queries]


def test_the_number_of_queries_does_not_grow_with_episodes_or_rows(
    clock: None, world: World, load_path: str
) -> None:
    small = world.episode
    spans(small, 5)
    AssignmentFactory.create(episode=small)
    small_count, small_sql = count_queries([small.pk])

    many = [EpisodeFactory.create(patient=PatientFactory.create(clinic=world.clinic)) for _ in range(8)]
    for episode in many:
        episode.surgery_date = date(2026, 4, 1)
        episode.save()
        spans(episode, 60, per_day=2)
        assignment = AssignmentFactory.create(episode=episode)
        for n in range(0, 60, 2):
            log(assignment, episode.surgery_date + timedelta(days=n))
        WalkLog.objects.create(episode=episode, at=NOW - timedelta(days=1))
        respond(episode, "baseline", episode.surgery_date, 40.0, baseline=True)
    large_count, large_sql = count_queries([e.pk for e in many])
    assert large_count == small_count
    if load_path == "binary COPY":
        # The small reads in one round trip, then check-ins and exercise logs by COPY (which runs
        # on psycopg's own cursor and is counted like any other query).
        assert large_count == 3
        assert sum(sql.startswith("COPY") for sql in large_sql) == 2
        assert sum(sql.startswith("COPY") for sql in small_sql) == 2
    else:
        assert large_count == 1  # every read in one round trip


def test_the_portable_path_gives_the_same_frames(clock: None, world: World) -> None:
    """The loader used on SQLite (the demo), run here on PostgreSQL, against the COPY loader."""
    episodes = varied_schedules(world)
    for episode in episodes[:2]:
        spans(episode, 12, per_day=2)
        checkin(
            episode,
            episode.surgery_date,
            recorded_at=local_noon(episode, episode.surgery_date) + timedelta(hours=7),
            steps=None,
            took_opioid=None,
            red_flags=["fever"],
        )
        WalkLog.objects.create(episode=episode, at=local_noon(episode, episode.surgery_date))
        MilestoneEvent.objects.create(
            episode=episode, key="discharge", achieved_on=episode.surgery_date, recorded_at=NOW
        )
    respond(episodes[0], "baseline", episodes[0].surgery_date, 40.0, baseline=True)
    ids = [e.pk for e in episodes]
    copied = load_frames(ids, now=NOW)
    portable = frames_module._portable_frames([str(i) for i in ids], NOW)
    assert_spec(portable)
    for name in SPECS:
        pd.testing.assert_frame_equal(getattr(portable, name), getattr(copied, name), obj=name)


def test_the_floor_loads_the_same_checkins(clock: None, world: World) -> None:
    spans(world.episode, 6, per_day=2)
    spans(world.other_episode, 4)
    ids = [world.episode.pk, world.other_episode.pk]
    floor = load_checkins_floor(ids)
    loaded = load_frames(ids, now=NOW).checkins
    key = ["episode_id", "recorded_at"]
    pd.testing.assert_frame_equal(
        floor.sort_values(key).reset_index(drop=True), loaded.sort_values(key).reset_index(drop=True)
    )
    assert len(floor) == 16


# ---------------------------------------------------------------------------------------------
# The binary COPY reader
# ---------------------------------------------------------------------------------------------


def copy_stream(*rows: bytes) -> bytes:
    return b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0) + b"".join(rows) + struct.pack(">h", -1)


def int_array(values: list[int | None], oid: int = 23, width: int = 4) -> bytes:
    """The binary send format of a one-dimensional array (int4 by default)."""
    has_null = int(any(value is None for value in values))
    body = b"".join(
        struct.pack(">i", -1)
        if value is None
        else struct.pack(">i", width) + value.to_bytes(width, "big", signed=True)
        for value in values
    )
    header = (
        struct.pack(">iii", 1, has_null, oid) + struct.pack(">ii", len(values), 1)
        if values
        else struct.pack(">iii", 0, 0, oid)
    )
    return header + body


def grouped_row(key: int, *arrays: bytes) -> bytes:
    out = struct.pack(">h", 1 + len(arrays)) + struct.pack(">ii", 4, key)
    for array in arrays:
        out += struct.pack(">i", len(array)) + array
    return out


def test_grouped_copy_rows_are_read_in_one_piece() -> None:
    stream = copy_stream(
        grouped_row(7, int_array([1, -1, 300]), int_array([5, 6, 7], oid=21, width=2)),
        grouped_row(9, int_array([]), int_array([], oid=21, width=2)),
        grouped_row(8, int_array([-40]), int_array([2], oid=21, width=2)),
    )
    grouped = parse_grouped_copy(stream, ("int4", "int2"))
    assert [int.from_bytes(key, "big") for key in grouped.keys] == [7, 9, 8]
    assert grouped.group.tolist() == [0, 0, 0, 2]
    assert grouped.columns[0].tolist() == [1, -1, 300, -40]
    assert grouped.columns[1].tolist() == [5, 6, 7, 2]
    assert len(parse_grouped_copy(copy_stream(), ("int4",)).keys) == 0


@pytest.mark.parametrize(
    "stream",
    [
        copy_stream(grouped_row(1, int_array([1, None]))),  # a NULL element
        copy_stream(grouped_row(1, int_array([1, 2], oid=21, width=2))),  # int2 where int4 is expected
        copy_stream(grouped_row(1, int_array([1]), int_array([2]))),  # a column too many
        b"not a copy stream at all",
        copy_stream(grouped_row(1, int_array([1])))[:-2],  # no trailer
        copy_stream(grouped_row(1, int_array([1])))[:-5] + b"\xff\xff",  # cut short
    ],
)
def test_grouped_copy_reader_refuses_what_it_cannot_read_exactly(stream: bytes) -> None:
    with pytest.raises(ValueError):
        parse_grouped_copy(stream, ("int4",))
