"""Exercise adherence: completed sessions over prescribed sessions, per patient-local day and week.

Inputs (plain frames, built by ``recovery.rehab.plan``; no ORM here):

- ``schedules``, one row per assignment (``SCHEDULE_COLUMNS``): ``assignment`` (id), ``sessions_per_day``,
  ``start_day`` and ``end_day`` (post-op days, inclusive; ``end_day`` missing = open), ``ended_on``
  (patient-local date the assignment was ended, missing if not) and ``weekdays`` (an iterable of
  Python weekday numbers, Monday = 0).
- ``logs``, one row per exercise log (``LOG_COLUMNS``): ``assignment``, ``local_date`` (the patient's
  calendar day of the session) and ``sets_completed``.

Rules:

- An assignment is active on local day D when ``start_day <= post-op day(D) <= end_day`` (or no
  ``end_day``), D's weekday is one of its weekdays, and it was not ended on or before D. This is the
  rule of ``recovery.rehab.plan.assignment_inactive_reason``; a test keeps the two in step.
- Prescribed sessions on D: the sum of ``sessions_per_day`` over the assignments active on D.
- Completed sessions on D: per active assignment, the number of its sessions logged that day capped
  at its ``sessions_per_day`` (extra sessions do not lift adherence above 100 %), summed. A log with
  zero sets records an attempt, not a session, and does not count. Logs on a day their assignment
  is not active are ignored.
- A day with nothing prescribed has no adherence (NaN here, null in the API), not 0: there was
  nothing to adhere to. It adds nothing to its week's sums either.
- Weeks are post-op weeks: week 1 is post-op days 0-6 (day 0 = the day of surgery), week 2 days
  7-13, week 0 the 7 days before surgery, week -1 the 7 before those: ``week = post_op_day // 7 + 1``.
  A week's adherence is its completed sessions over its prescribed sessions, over its days inside
  the requested range.

Dates are calendar days with no time of day, so daylight-saving changes cannot move a session to
another day here: the day was fixed, in the patient's zone, when the log was stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Final

import pandas as pd  # type: ignore[import-untyped,unused-ignore]

SCHEDULE_COLUMNS: Final = ("assignment", "sessions_per_day", "start_day", "end_day", "ended_on", "weekdays")
LOG_COLUMNS: Final = ("assignment", "local_date", "sets_completed")
DAY_COLUMNS: Final = ("date", "post_op_day", "week", "prescribed", "completed", "adherence")
WEEK_COLUMNS: Final = ("week", "start", "end", "prescribed", "completed", "adherence")

WEEK_DEFINITION: Final = (
    "Post-op weeks: week 1 is post-op days 0-6 (day 0 = the day of surgery), week 2 days 7-13, "
    "week 0 the 7 days before surgery, week -1 the 7 days before those."
)


def counts_as_session(sets_completed: int) -> bool:
    """A log with zero sets records that the patient tried and could not: not a session done."""
    return sets_completed > 0


def post_op_week(post_op_day: int) -> int:
    return post_op_day // 7 + 1


def _as_days(values: Any) -> Any:
    # One resolution for every date column, so merges and comparisons never mix units.
    return pd.to_datetime(pd.Series(values)).astype("datetime64[s]")


def _weekday_mask(weekdays: Iterable[int]) -> int:
    return sum(1 << day for day in set(weekdays))


def calendar(*, date_from: date, date_to: date, surgery_date: date) -> pd.DataFrame:
    """Every local day from ``date_from`` to ``date_to`` inclusive with its post-op day and week."""
    days = pd.DataFrame({"date": _as_days(pd.date_range(date_from, date_to, freq="D"))})
    days["post_op_day"] = (days["date"] - pd.Timestamp(surgery_date)).dt.days.astype("int64")
    days["week"] = days["post_op_day"] // 7 + 1
    return days


def prescribed_sessions(schedules: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """One row per (day, assignment) with the assignment active that day: ``date``, ``assignment``,
    ``sessions_per_day``."""
    if schedules.empty or days.empty:
        return pd.DataFrame(
            {
                "date": _as_days([]),
                "assignment": pd.Series([], dtype="object"),
                "sessions_per_day": pd.Series([], dtype="int64"),
            }
        )
    plan = pd.DataFrame(
        {
            "assignment": schedules["assignment"].astype("object"),
            "sessions_per_day": schedules["sessions_per_day"].astype("int64"),
            "start_day": schedules["start_day"].astype("int64"),
            # Missing bounds as NaN/NaT rather than None, so that comparisons stay vectorised.
            "end_day": pd.to_numeric(schedules["end_day"]).astype("float64"),
            "ended_on": _as_days(schedules["ended_on"].to_numpy()),
            "weekday_mask": schedules["weekdays"].map(_weekday_mask).astype("int64"),
        }
    )
    pairs = days[["date", "post_op_day"]].merge(plan, how="cross")
    weekday = pairs["date"].dt.day_of_week.astype("int64")
    active = (
        (pairs["start_day"] <= pairs["post_op_day"])
        & (pairs["end_day"].isna() | (pairs["post_op_day"] <= pairs["end_day"]))
        & (pairs["ended_on"].isna() | (pairs["date"] < pairs["ended_on"]))
        & ((pairs["weekday_mask"] // (2**weekday)) % 2 == 1)
    )
    return pairs.loc[active, ["date", "assignment", "sessions_per_day"]].reset_index(drop=True)


def daily_adherence(
    schedules: pd.DataFrame,
    logs: pd.DataFrame,
    *,
    date_from: date,
    date_to: date,
    surgery_date: date,
) -> pd.DataFrame:
    """One row per local day in the range (``DAY_COLUMNS``); ``adherence`` is NaN when nothing was
    prescribed that day."""
    days = calendar(date_from=date_from, date_to=date_to, surgery_date=surgery_date)
    due = prescribed_sessions(schedules, days)
    counted = logs["sets_completed"].map(counts_as_session).astype(bool).to_numpy()
    sessions = pd.DataFrame(
        {
            "date": _as_days(logs["local_date"].to_numpy()[counted]),
            # Object dtype even when empty, so the merge keys below always agree.
            "assignment": pd.Series(logs["assignment"].to_numpy()[counted], dtype="object"),
        }
    )
    done = sessions.groupby(["date", "assignment"], as_index=False).size().rename(columns={"size": "logged"})
    # Joined from the prescription side: logs on a day their assignment is not active drop out.
    due = due.merge(done, on=["date", "assignment"], how="left")
    due["logged"] = due["logged"].fillna(0).astype("int64")
    due["completed"] = due[["logged", "sessions_per_day"]].min(axis=1)
    per_day = (
        due.groupby("date", as_index=False)
        .agg(prescribed=("sessions_per_day", "sum"), completed=("completed", "sum"))
        .astype({"prescribed": "int64", "completed": "int64"})
    )
    daily = days.merge(per_day, on="date", how="left")
    daily[["prescribed", "completed"]] = daily[["prescribed", "completed"]].fillna(0).astype("int64")
    daily["adherence"] = _ratio(daily["completed"], daily["prescribed"])
    return daily.loc[:, list(DAY_COLUMNS)]


def weekly_adherence(daily: pd.DataFrame) -> pd.DataFrame:
    """Post-op weeks of a ``daily_adherence`` frame (``WEEK_COLUMNS``); ``start``/``end`` are the
    week's first and last days inside the range."""
    if daily.empty:
        return pd.DataFrame({name: pd.Series([], dtype="object") for name in WEEK_COLUMNS})
    weeks = (
        daily.groupby("week", as_index=False, sort=True)
        .agg(
            start=("date", "min"),
            end=("date", "max"),
            prescribed=("prescribed", "sum"),
            completed=("completed", "sum"),
        )
        .astype({"prescribed": "int64", "completed": "int64"})
    )
    weeks["adherence"] = _ratio(weeks["completed"], weeks["prescribed"])
    return weeks.loc[:, list(WEEK_COLUMNS)]


def overall_adherence(daily: pd.DataFrame) -> tuple[int, int, float | None]:
    """``(prescribed, completed, adherence)`` over the whole range; adherence None when nothing was due."""
    prescribed = int(daily["prescribed"].sum())
    completed = int(daily["completed"].sum())
    return prescribed, completed, (completed / prescribed if prescribed else None)


def _ratio(completed: pd.Series, prescribed: pd.Series) -> pd.Series:
    # Division by a masked denominator: 0 prescribed gives NaN ("nothing due"), never 0 or inf.
    return completed.astype("float64") / prescribed.where(prescribed > 0).astype("float64")
