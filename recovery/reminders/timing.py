"""When reminders fall: pure functions from a rule, the patient's time zone and an instant to the next
occurrence in UTC. No ORM, no clock.

Local wall times are kept in the patient's zone and converted with ``zoneinfo`` at the last moment, so
"19:00" stays 19:00 local on both sides of a DST change and after the patient moves to another zone.

- A local time that does not exist (the spring-forward gap, e.g. 02:30 in New York on the second
  Sunday of March) is read with ``fold=0``, i.e. with the offset before the change, which lands it as
  far after the gap as it was into it: 02:30 becomes 03:30. It is shifted forward, never dropped.
- A local time that happens twice (the autumn repeat) uses ``fold=0``: the first of the two.
- Quiet hours (local, may wrap midnight, start inclusive, end exclusive): a walk slot inside them is
  dropped, as the next one is at most a few hours away; a daily slot inside them moves to the end of
  the quiet period when that is still the same local day, and is dropped otherwise (a check-in
  reminder the next morning would ask about the wrong day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: How far ahead a daily rule looks for its next occurrence before giving up.
_MAX_DAYS_AHEAD = 400


@dataclass(frozen=True)
class Quiet:
    start: time
    end: time

    def contains(self, at: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end


@dataclass(frozen=True)
class WalkRule:
    """Every ``interval_minutes`` from ``start`` to ``end`` (both included) local, on post-op days
    0..``until_day`` counted from ``surgery_date``."""

    surgery_date: date
    until_day: int
    start: time
    end: time
    interval_minutes: int


@dataclass(frozen=True)
class DailyRule:
    """Once a day at ``at`` local, from ``first_day`` on, through ``last_day`` when given."""

    at: time
    first_day: date
    last_day: date | None = None


def to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time (``fold=0``: see the module docstring)."""
    return datetime.combine(day, at.replace(fold=0), tzinfo=zone).astimezone(UTC)


def local_day(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def walk_times(rule: WalkRule) -> list[time]:
    """The local wall times of one day's walk reminders."""
    step = max(rule.interval_minutes, 1)
    start = rule.start.hour * 60 + rule.start.minute
    end = rule.end.hour * 60 + rule.end.minute
    return [time(m // 60, m % 60) for m in range(start, end + 1, step)]


def _days_from(first: date, last: date | None, after_day: date) -> Iterator[date]:
    # One day of slack before the instant's local day: a zone far ahead of UTC can still have a slot
    # on the previous local date that is later than ``after``.
    day = max(first, after_day - timedelta(days=1))
    limit = after_day + timedelta(days=_MAX_DAYS_AHEAD)
    while day <= limit and (last is None or day <= last):
        yield day
        day += timedelta(days=1)


def next_walk(rule: WalkRule, zone: ZoneInfo, after: datetime, quiet: Quiet | None = None) -> datetime | None:
    """The first walk slot strictly after ``after`` (UTC), or None when the walking span is over."""
    last = rule.surgery_date + timedelta(days=rule.until_day)
    times = walk_times(rule)
    for day in _days_from(rule.surgery_date, last, local_day(after, zone)):
        for at in times:
            if quiet is not None and quiet.contains(at):
                continue
            slot = to_utc(day, at, zone)
            if slot > after:
                return slot
    return None


def daily_time(at: time, quiet: Quiet | None) -> time | None:
    """Where a daily reminder at ``at`` lands after quiet hours (None: dropped)."""
    if quiet is None or not quiet.contains(at):
        return at
    # The end is later the same day unless the period wraps midnight and ``at`` is before midnight.
    return quiet.end if quiet.end > at else None


def next_daily(
    rule: DailyRule, zone: ZoneInfo, after: datetime, quiet: Quiet | None = None
) -> datetime | None:
    """The first daily slot strictly after ``after`` (UTC), or None when the rule has ended."""
    at = daily_time(rule.at, quiet)
    if at is None:
        return None
    for day in _days_from(rule.first_day, rule.last_day, local_day(after, zone)):
        slot = to_utc(day, at, zone)
        if slot > after:
            return slot
    return None


def session_times(sessions: int, start: time, end: time) -> list[time]:
    """``sessions`` local times spread evenly over the waking window (the middle of equal parts):
    one session at midday, two at a quarter and three quarters, and so on."""
    sessions = max(sessions, 1)
    first = start.hour * 60 + start.minute
    span = end.hour * 60 + end.minute - first
    minutes = [first + (2 * i + 1) * span // (2 * sessions) for i in range(sessions)]
    return [time(m // 60, m % 60) for m in minutes]


def next_on_days(
    times: list[time],
    on_day: Callable[[date], bool],
    *,
    first_day: date,
    last_day: date | None,
    zone: ZoneInfo,
    after: datetime,
    quiet: Quiet | None = None,
) -> datetime | None:
    """The first of ``times`` (local) on a day from ``first_day`` to ``last_day`` for which ``on_day``
    holds, strictly after ``after``; slots inside quiet hours are dropped."""
    for day in _days_from(first_day, last_day, local_day(after, zone)):
        if not on_day(day):
            continue
        for at in times:
            if quiet is not None and quiet.contains(at):
                continue
            slot = to_utc(day, at, zone)
            if slot > after:
                return slot
    return None
