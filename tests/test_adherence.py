"""Adherence: the pure arithmetic on hand-made frames, then the endpoint end to end, including days
around daylight-saving changes in the patient's zone."""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recovery.analytics.adherence import (
    LOG_COLUMNS,
    SCHEDULE_COLUMNS,
    calendar,
    daily_adherence,
    overall_adherence,
    post_op_week,
    prescribed_sessions,
    weekly_adherence,
)
from recovery.rehab.models import Assignment
from recovery.rehab.plan import assignment_inactive_reason
from recovery.rehab.vocabulary import WEEKDAYS
from tests.conftest import World, client_for
from tests.factories import AssignmentFactory

EVERY_DAY = list(range(7))
# Monday 20 April 2026.
SURGERY = date(2026, 4, 20)


def schedule(
    assignment: str,
    *,
    sessions_per_day: int = 1,
    start_day: int = 0,
    end_day: int | None = None,
    ended_on: date | None = None,
    weekdays: list[int] | None = None,
) -> dict[str, Any]:
    return {
        "assignment": assignment,
        "sessions_per_day": sessions_per_day,
        "start_day": start_day,
        "end_day": end_day,
        "ended_on": ended_on,
        "weekdays": EVERY_DAY if weekdays is None else weekdays,
    }


def schedules(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(rows), columns=list(SCHEDULE_COLUMNS))


def logs(*rows: tuple[str, date, int]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(rows), columns=list(LOG_COLUMNS))


def daily(sched: pd.DataFrame, log_frame: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    return daily_adherence(sched, log_frame, date_from=first, date_to=last, surgery_date=SURGERY)


def by_date(frame: pd.DataFrame) -> dict[date, tuple[int, int, float | None]]:
    return {
        row.date.date(): (
            int(row.prescribed),
            int(row.completed),
            None if math.isnan(row.adherence) else round(row.adherence, 3),
        )
        for row in frame.itertuples(index=False)
    }


# --- Pure arithmetic, no database ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("post_op_day", "week"), [(-8, -1), (-7, 0), (-1, 0), (0, 1), (6, 1), (7, 2), (13, 2), (14, 3)]
)
def test_post_op_weeks_start_on_the_day_of_surgery(post_op_day: int, week: int) -> None:
    assert post_op_week(post_op_day) == week


def test_calendar_numbers_days_and_weeks_from_surgery() -> None:
    days = calendar(date_from=date(2026, 4, 12), date_to=date(2026, 4, 27), surgery_date=SURGERY)
    assert list(days["post_op_day"]) == list(range(-8, 8))
    assert list(days["week"]) == [-1] + [0] * 7 + [1] * 7 + [2]
    assert [d.date() for d in days["date"]][:2] == [date(2026, 4, 12), date(2026, 4, 13)]


def test_over_logging_is_capped_at_the_prescribed_sessions() -> None:
    frame = daily(
        schedules(schedule("a", sessions_per_day=2)),
        logs(*[("a", SURGERY, 2)] * 5),
        SURGERY,
        SURGERY + timedelta(days=1),
    )
    assert by_date(frame) == {SURGERY: (2, 2, 1.0), SURGERY + timedelta(days=1): (2, 0, 0.0)}


def test_a_day_with_nothing_prescribed_is_null_not_zero_and_does_not_dilute_its_week() -> None:
    mondays = schedules(schedule("a", weekdays=[0]))
    frame = daily(mondays, logs(("a", SURGERY, 3)), SURGERY, SURGERY + timedelta(days=6))
    result = by_date(frame)
    assert result[SURGERY] == (1, 1, 1.0)
    assert all(result[SURGERY + timedelta(days=n)] == (0, 0, None) for n in range(1, 7))
    week = weekly_adherence(frame).iloc[0]
    assert (week["week"], week["prescribed"], week["completed"], week["adherence"]) == (1, 1, 1, 1.0)
    assert overall_adherence(frame) == (1, 1, 1.0)


def test_logs_on_days_the_assignment_is_not_due_are_ignored() -> None:
    mondays = schedules(schedule("a", weekdays=[0]))
    frame = daily(
        mondays,
        logs(
            ("a", SURGERY + timedelta(days=1), 2),  # a Tuesday
            ("ghost", SURGERY, 2),  # an assignment that is not in the schedules at all
            ("a", SURGERY - timedelta(days=7), 2),  # before start_day
        ),
        SURGERY - timedelta(days=7),
        SURGERY + timedelta(days=1),
    )
    assert overall_adherence(frame) == (1, 0, 0.0)


def test_a_log_with_zero_sets_is_an_attempt_not_a_session() -> None:
    frame = daily(schedules(schedule("a")), logs(("a", SURGERY, 0)), SURGERY, SURGERY)
    assert by_date(frame) == {SURGERY: (1, 0, 0.0)}


def test_window_and_end_date_bounds_are_inclusive_exclusive_as_documented() -> None:
    # start_day 2 and end_day 4 are inclusive; ended_on is the first day no longer due.
    frame = daily(
        schedules(
            schedule("window", start_day=2, end_day=4),
            schedule("ended", ended_on=SURGERY + timedelta(days=3)),
        ),
        logs(),
        SURGERY,
        SURGERY + timedelta(days=6),
    )
    assert [prescribed for prescribed, _, _ in by_date(frame).values()] == [1, 1, 2, 1, 1, 0, 0]


def test_several_assignments_add_up_per_day() -> None:
    frame = daily(
        schedules(schedule("a", sessions_per_day=2), schedule("b", sessions_per_day=3)),
        logs(("a", SURGERY, 1), ("b", SURGERY, 1), ("b", SURGERY, 1), ("b", SURGERY, 1), ("b", SURGERY, 1)),
        SURGERY,
        SURGERY,
    )
    # a: 1 of 2; b: 4 logged, capped at 3. 4 of 5.
    assert by_date(frame) == {SURGERY: (5, 4, 0.8)}


def test_weeks_sum_their_days_inside_the_range() -> None:
    first, last = SURGERY - timedelta(days=2), SURGERY + timedelta(days=8)
    frame = daily(
        schedules(schedule("pre", start_day=-2, end_day=-1), schedule("a", sessions_per_day=2)),
        logs(
            ("pre", SURGERY - timedelta(days=2), 1),
            ("a", SURGERY, 1),
            ("a", SURGERY + timedelta(days=1), 2),
            ("a", SURGERY + timedelta(days=1), 2),
            ("a", SURGERY + timedelta(days=7), 2),
            ("a", SURGERY + timedelta(days=7), 2),
            ("a", SURGERY + timedelta(days=7), 2),
        ),
        first,
        last,
    )
    weeks = weekly_adherence(frame)
    rows = [
        (
            int(r.week),
            r.start.date(),
            r.end.date(),
            int(r.prescribed),
            int(r.completed),
            round(r.adherence, 3),
        )
        for r in weeks.itertuples(index=False)
    ]
    assert rows == [
        (0, first, SURGERY - timedelta(days=1), 2, 1, 0.5),
        (1, SURGERY, SURGERY + timedelta(days=6), 14, 3, 0.214),
        (2, SURGERY + timedelta(days=7), last, 4, 2, 0.5),
    ]
    assert overall_adherence(frame) == (20, 6, 0.3)


def test_no_schedules_and_no_logs_give_null_everywhere() -> None:
    frame = daily(schedules(), logs(), SURGERY, SURGERY + timedelta(days=2))
    assert list(frame["prescribed"]) == [0, 0, 0]
    assert frame["adherence"].isna().all()
    assert weekly_adherence(frame)["adherence"].isna().all()
    assert overall_adherence(frame) == (0, 0, None)


def test_missing_bounds_may_be_none_or_nan() -> None:
    frame = pd.DataFrame(
        {
            "assignment": ["a", "b"],
            "sessions_per_day": [1, 1],
            "start_day": [0, 0],
            "end_day": [float("nan"), 0.0],
            "ended_on": [pd.NaT, pd.NaT],
            "weekdays": [EVERY_DAY, EVERY_DAY],
        }
    )
    result = by_date(daily(frame, logs(), SURGERY, SURGERY + timedelta(days=1)))
    assert [prescribed for prescribed, _, _ in result.values()] == [2, 1]


def test_vectorised_rule_agrees_with_the_single_assignment_rule() -> None:
    """The frames and ``assignment_inactive_reason`` must say the same thing for every day."""
    cases = list(
        itertools.product(
            (-3, 0, 2),  # start_day
            (None, 1, 5),  # end_day
            (None, SURGERY + timedelta(days=1), SURGERY + timedelta(days=4)),  # ended_on
            (["mon", "wed", "fri"], ["sun"], list(WEEKDAYS), []),  # days_of_week
        )
    )
    assignments = [
        Assignment(
            id=uuid.uuid4(),
            start_day=start,
            end_day=end,
            ended_on=ended,
            days_of_week=days,
            sessions_per_day=1,
        )
        for start, end, ended, days in cases
        if end is None or end >= start
    ]
    first, last = SURGERY - timedelta(days=4), SURGERY + timedelta(days=9)
    frame = schedules(
        *[
            schedule(
                str(a.id),
                start_day=a.start_day,
                end_day=a.end_day,
                ended_on=a.ended_on,
                weekdays=[WEEKDAYS.index(code) for code in a.days_of_week],
            )
            for a in assignments
        ]
    )
    due = prescribed_sessions(frame, calendar(date_from=first, date_to=last, surgery_date=SURGERY))
    vectorised = {(row.date.date(), row.assignment) for row in due.itertuples(index=False)}
    single = {
        (first + timedelta(days=n), str(a.id))
        for a in assignments
        for n in range((last - first).days + 1)
        if assignment_inactive_reason(a, day=first + timedelta(days=n), surgery_date=SURGERY) is None
    }
    assert vectorised == single
    assert single  # the grid does exercise active days


# --- The endpoint --------------------------------------------------------------------------------

MADRID = ZoneInfo("Europe/Madrid")
# Thursday 30 April 2026, 18:00 in Madrid: post-op day 10.
NOW = datetime(2026, 4, 30, 18, 0, tzinfo=MADRID)


@pytest.fixture
def clock(world: World) -> Iterator[None]:
    world.episode.surgery_date = SURGERY
    world.episode.save()
    with time_machine.travel(NOW, tick=False):
        yield


def url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/adherence/"


def post_log(world: World, assignment: Assignment, performed_at: str, sets: int = 2) -> dict[str, Any]:
    response = client_for(world.patient).post(
        f"/api/v1/episodes/{world.episode.id}/exercise-logs/",
        {
            "assignment": str(assignment.id),
            "performed_at": performed_at,
            "sets_completed": sets,
            "reps_completed": 10,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    result: dict[str, Any] = response.json()
    return result


def noon(day: str) -> str:
    return f"{day}T12:00:00+02:00"


def test_hand_worked_adherence_by_day_and_week(world: World, clock: None) -> None:
    a = AssignmentFactory.create(episode=world.episode, sessions_per_day=2, start_day=0)
    b = AssignmentFactory.create(
        episode=world.episode, start_day=7, end_day=9, days_of_week=["mon", "wed", "fri"]
    )
    c = AssignmentFactory.create(episode=world.episode, start_day=-2, ended_on=date(2026, 4, 21))
    post_log(world, c, noon("2026-04-18"))
    for _ in range(3):
        post_log(world, a, noon("2026-04-20"))  # one more than prescribed: capped
    post_log(world, c, noon("2026-04-20"))
    post_log(world, a, noon("2026-04-21"))
    post_log(world, a, noon("2026-04-24"))
    post_log(world, a, "2026-04-24T23:59:00+02:00")
    post_log(world, a, noon("2026-04-27"))
    post_log(world, a, noon("2026-04-27"))
    post_log(world, b, noon("2026-04-27"))
    post_log(world, a, noon("2026-04-28"), sets=0)  # an attempt, not a session
    post_log(world, b, noon("2026-04-29"))
    post_log(world, b, noon("2026-04-29"))

    response = client_for(world.physio).get(url(world), {"from": "2026-04-17", "to": "2026-04-30"})

    assert response.status_code == 200
    data = response.json()
    assert (data["from"], data["to"], data["time_zone"]) == ("2026-04-17", "2026-04-30", "Europe/Madrid")
    assert "week 1 is post-op days 0-6" in data["week_definition"]
    days = [
        (d["date"], d["post_op_day"], d["prescribed"], d["completed"], d["adherence"]) for d in data["days"]
    ]
    assert days == [
        ("2026-04-17", -3, 0, 0, None),  # nothing prescribed: null, not 0
        ("2026-04-18", -2, 1, 1, 1.0),
        ("2026-04-19", -1, 1, 0, 0.0),
        ("2026-04-20", 0, 3, 3, 1.0),
        ("2026-04-21", 1, 2, 1, 0.5),
        ("2026-04-22", 2, 2, 0, 0.0),
        ("2026-04-23", 3, 2, 0, 0.0),
        ("2026-04-24", 4, 2, 2, 1.0),
        ("2026-04-25", 5, 2, 0, 0.0),
        ("2026-04-26", 6, 2, 0, 0.0),
        ("2026-04-27", 7, 3, 3, 1.0),
        ("2026-04-28", 8, 2, 0, 0.0),
        ("2026-04-29", 9, 3, 1, 0.333),
        ("2026-04-30", 10, 2, 0, 0.0),
    ]
    assert data["weeks"] == [
        {
            "week": 0,
            "start": "2026-04-17",
            "end": "2026-04-19",
            "prescribed": 2,
            "completed": 1,
            "adherence": 0.5,
        },
        {
            "week": 1,
            "start": "2026-04-20",
            "end": "2026-04-26",
            "prescribed": 15,
            "completed": 6,
            "adherence": 0.4,
        },
        {
            "week": 2,
            "start": "2026-04-27",
            "end": "2026-04-30",
            "prescribed": 10,
            "completed": 4,
            "adherence": 0.4,
        },
    ]
    assert data["overall"] == {"prescribed": 27, "completed": 11, "adherence": 0.407}


def test_default_range_is_the_last_28_local_days(world: World, clock: None) -> None:
    AssignmentFactory.create(episode=world.episode)
    data = client_for(world.patient).get(url(world)).json()
    assert (data["from"], data["to"]) == ("2026-04-03", "2026-04-30")
    assert len(data["days"]) == 28
    # Before surgery nothing was prescribed: null, and such days do not drag the total down.
    assert data["days"][0]["adherence"] is None
    assert data["overall"] == {"prescribed": 11, "completed": 0, "adherence": 0.0}


def test_only_from_runs_to_today_and_only_to_goes_back_28_days(world: World, clock: None) -> None:
    client = client_for(world.patient)
    assert client.get(url(world), {"from": "2026-04-25"}).json()["to"] == "2026-04-30"
    assert client.get(url(world), {"to": "2026-04-20"}).json()["from"] == "2026-03-24"


def test_a_full_366_day_range_is_allowed(world: World, clock: None) -> None:
    data = client_for(world.patient).get(url(world), {"from": "2025-04-30", "to": "2026-04-30"}).json()
    assert len(data["days"]) == 366


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-04-20", "to": "2026-04-19"}, "from"),
        ({"from": "2026-05-01"}, "from"),  # after today, so after the default 'to'
        ({"to": "2026-05-01"}, "to"),  # not yet due
        ({"from": "2025-04-29", "to": "2026-04-30"}, "from"),  # 367 days
        ({"from": "2026-02-30"}, "from"),
        ({"to": "today"}, "to"),
    ],
)
def test_bad_range_is_400_naming_the_parameter(
    world: World, clock: None, params: dict[str, str], field: str
) -> None:
    response = client_for(world.patient).get(url(world), params)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}


def test_adherence_query_count_does_not_grow_with_assignments_or_logs(world: World, clock: None) -> None:
    client = client_for(world.surgeon)
    first = AssignmentFactory.create(episode=world.episode)
    post_log(world, first, noon("2026-04-21"))
    client.get(url(world))  # the first use of a token records last_used_at
    with CaptureQueriesContext(connection) as few:
        client.get(url(world))
    for n in range(10):
        more = AssignmentFactory.create(episode=world.episode, sessions_per_day=2)
        post_log(world, more, noon(f"2026-04-{21 + n}"))
        post_log(world, more, noon(f"2026-04-{21 + n}"))
    with CaptureQueriesContext(connection) as many:
        data = client.get(url(world)).json()
    assert data["overall"]["completed"] == 21
    assert len(many) == len(few)


def test_response_matches_the_documented_adherence_fields(world: World, clock: None) -> None:
    from api.exercise_logs import AdherenceDaySerializer, AdherenceSerializer, AdherenceWeekSerializer

    data = client_for(world.patient).get(url(world)).json()
    assert set(data) == set(AdherenceSerializer().fields)
    assert set(data["days"][0]) == set(AdherenceDaySerializer().fields)
    assert set(data["weeks"][0]) == set(AdherenceWeekSerializer().fields)


# --- Daylight-saving changes ---------------------------------------------------------------------

DST_CASES = [
    pytest.param(
        # Clocks go forward at 02:00 on Sunday 8 March (EST, UTC-5 -> EDT, UTC-4).
        "America/New_York",
        date(2026, 3, 8),
        [
            ("2026-03-08T04:30:00Z", "2026-03-07"),  # 23:30 EST on the 7th
            ("2026-03-08T05:30:00Z", "2026-03-08"),  # 00:30 EST on the 8th
            ("2026-03-09T03:30:00Z", "2026-03-08"),  # 23:30 EDT on the 8th
            ("2026-03-09T04:30:00Z", "2026-03-09"),  # 00:30 EDT on the 9th
        ],
        id="new-york-spring-forward",
    ),
    pytest.param(
        # Clocks go forward at 02:00 on Sunday 29 March (CET, UTC+1 -> CEST, UTC+2).
        "Europe/Berlin",
        date(2026, 3, 29),
        [
            ("2026-03-28T22:30:00Z", "2026-03-28"),  # 23:30 CET on the 28th
            ("2026-03-28T23:30:00Z", "2026-03-29"),  # 00:30 CET on the 29th
            ("2026-03-29T21:30:00Z", "2026-03-29"),  # 23:30 CEST on the 29th
            ("2026-03-29T22:30:00Z", "2026-03-30"),  # 00:30 CEST on the 30th
        ],
        id="berlin-spring-forward",
    ),
    pytest.param(
        # Clocks go back at 03:00 on Sunday 25 October (CEST, UTC+2 -> CET, UTC+1): a 25-hour day.
        "Europe/Berlin",
        date(2026, 10, 25),
        [
            ("2026-10-24T21:30:00Z", "2026-10-24"),  # 23:30 CEST on the 24th
            ("2026-10-24T22:30:00Z", "2026-10-25"),  # 00:30 CEST on the 25th
            ("2026-10-25T22:30:00Z", "2026-10-25"),  # 23:30 CET on the 25th
            ("2026-10-25T23:30:00Z", "2026-10-26"),  # 00:30 CET on the 26th
        ],
        id="berlin-fall-back",
    ),
]


@pytest.mark.parametrize(("zone", "change_day", "moments"), DST_CASES)
def test_sessions_around_a_daylight_saving_change_land_on_the_right_local_days(
    world: World, zone: str, change_day: date, moments: list[tuple[str, str]]
) -> None:
    profile = world.patient.patient_profile
    profile.time_zone = zone
    profile.save()
    world.episode.surgery_date = change_day - timedelta(days=5)
    world.episode.save()
    walk = AssignmentFactory.create(episode=world.episode, sessions_per_day=2)
    day_before, day_after = change_day - timedelta(days=1), change_day + timedelta(days=1)
    with time_machine.travel(
        datetime.combine(change_day + timedelta(days=2), datetime.min.time(), ZoneInfo(zone))
    ):
        for moment, local_day in moments:
            assert post_log(world, walk, moment)["local_date"] == local_day
        data = (
            client_for(world.physio)
            .get(url(world), {"from": day_before.isoformat(), "to": day_after.isoformat()})
            .json()
        )
    assert data["time_zone"] == zone
    assert [(d["date"], d["post_op_day"], d["completed"], d["adherence"]) for d in data["days"]] == [
        (day_before.isoformat(), 4, 1, 0.5),
        (change_day.isoformat(), 5, 2, 1.0),
        (day_after.isoformat(), 6, 1, 0.5),
    ]


def test_default_today_follows_the_patient_zone_across_the_change(world: World) -> None:
    profile = world.patient.patient_profile
    profile.time_zone = "America/New_York"
    profile.save()
    world.episode.surgery_date = date(2026, 3, 1)
    world.episode.save()
    # 03:30 UTC on 9 March is 23:30 EDT on 8 March: the patient's today is still the 8th.
    with time_machine.travel(datetime(2026, 3, 9, 3, 30, tzinfo=ZoneInfo("UTC")), tick=False):
        data = client_for(world.patient).get(url(world)).json()
        plan = client_for(world.patient).get(f"/api/v1/episodes/{world.episode.id}/plan/today/").json()
    assert (data["from"], data["to"]) == ("2026-02-09", "2026-03-08")
    assert (plan["date"], plan["post_op_day"]) == ("2026-03-08", 7)
