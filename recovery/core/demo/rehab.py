"""Demo exercise plans and exercise logs for one patient, as plain data. No ORM here.

Plan (prescription rules of the demo, not clinical advice):
- Exercises come from the shipped library (``catalog``): the procedure's region (lumbar or cervical)
  plus whole-body ones, each phase from its first post-op day (``PHASE_START_DAY``: early 0,
  intermediate 14, late 42). A phase is prescribed once the patient has reached it, by a morning
  entry on the day before it starts, with the exercise's default dose.
- Per phase 2-5 exercises, at least one of them for the procedure's region. Walking is always in
  the early phase and stays open throughout: the clinical reference ties walking to recovery well
  past the first weeks (steps recover over eight weeks, REFERENCE.md §0; a step target at six weeks,
  §3). Other early exercises end the day before the intermediate phase starts, intermediate ones the
  day before the late phase; late ones stay open. A completed episode's windows all end on day
  ``COMPLETED_AFTER_DAY``, when its follow-up ended.
- Restrictions, as the guard (``rehab.restrictions.restriction_conflicts``) applies them: an exercise
  loading a movement forbidden up to day N must start on day N + 1 or later. The demo starts such an
  exercise on day N + 1 when that is still inside its phase's window (MIS-TLIF: cat-camel and safe
  lifting from day 43) and leaves it out of the phase otherwise. No load is prescribed, so the
  lifting limit never applies.
- Prescribed by the episode's first physiotherapist, else its surgeon.
- Demo-only: some intermediate and late exercises done once a day are scheduled on three alternate
  weekdays (``ALTERNATE_DAYS_SHARE``) instead of every day.

Logs. Every distribution below is DEMO-ONLY, chosen to look plausible; none comes from a source:
- Adherence profile (``Adherence``): steady patients do 70-95 % of their sessions, off-track ones
  20-50 %, and a few "declining" patients fall from 80-95 % at surgery to 25-45 % by today.
- Each day the patient skips everything with probability (1 - p) / 3; on other days each due session
  is done with probability p / (1 - (1 - p) / 3), so that p of the sessions are done on average. A
  session not done is sometimes logged as an attempt with 0 sets (3 %, off track 8 %), which does
  not count as a session.
- A done session has the full dose (90 %, off track 75 %) or a partial one (one set fewer, 40-80 %
  of the repetitions or hold). Walks and other hold-only exercises last 90-130 % of the prescribed
  time (at most 600 s, the API's limit).
- Sessions happen in blocks at local times: morning 08:00-10:30, afternoon 13:00-16:00, evening
  18:30-21:00; one session a day goes in the patient's preferred block, two in morning and evening,
  three in all three. On the day of surgery the morning's sessions move to the afternoon.
- ``pain_during``: the patient's axial (back or neck) pain of that day's check-in, or the latest one
  before it, plus noise N(-0.3, 1), clamped to 0-10; not reported 15 % of the time. ``difficulty``
  follows that pain (hard when high, easy when low), blank 20 % of the time; a few notes.
- Logs run from each assignment's first day to the last day the patient was active (today; the last
  check-in for patients who went quiet or just reported a red flag; day 150 for completed episodes),
  only on days the assignment is active (window and weekday, the rule of
  ``rehab.plan.assignment_inactive_reason``). The caller drops sessions later than now.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from recovery.core.demo.catalog import CatalogExercise, CatalogRestrictions, DemoCatalog
from recovery.core.demo.ids import demo_uuid
from recovery.rehab.vocabulary import MOVEMENT_TAGS, PHASE_START_DAY, WEEKDAYS, BodyRegion, Phase

_UTC: Final = ZoneInfo("UTC")
WALKING: Final = "walking"
#: (fewest, most) new exercises per phase; the early phase counts walking.
PER_PHASE: Final = (2, 5)
ALTERNATE_DAYS: Final = (("mon", "wed", "fri"), ("tue", "thu", "sat"))
ALTERNATE_DAYS_SHARE: Final = 0.35

# Demo-only distributions (see the module docstring).
STEADY_ADHERENCE: Final = (0.70, 0.95)
POOR_ADHERENCE: Final = (0.20, 0.50)
DECLINE_FROM: Final = (0.80, 0.95)
DECLINE_TO: Final = (0.25, 0.45)
#: A day is skipped whole with probability (1 - p) / SKIP_DAY_DIVISOR.
SKIP_DAY_DIVISOR: Final = 3
ATTEMPT_PROB: Final = {False: 0.03, True: 0.08}  # by "off track"
FULL_DOSE_PROB: Final = {False: 0.90, True: 0.75}
PAIN_NOT_REPORTED: Final = 0.15
DIFFICULTY_BLANK: Final = 0.20
NOTE_PROB: Final = {False: 0.03, True: 0.06}
MAX_HOLD_SECONDS: Final = 600
#: Used only if a patient has no check-in before their first exercise day (the demo always has one).
UNKNOWN_PAIN: Final = 3
#: Session blocks: (start hour, start minute, spread in minutes).
_BLOCKS: Final = ((8, 0, 150), (13, 0, 180), (18, 30, 150))
_MORNING, _AFTERNOON, _EVENING = 0, 1, 2


class AdherenceProfile(StrEnum):
    STEADY = "steady"
    POOR = "poor"
    DECLINING = "declining"


@dataclass(frozen=True)
class Adherence:
    """Share of due sessions done, falling linearly from ``start`` (day 0) to ``end`` (``last_day``)."""

    profile: AdherenceProfile
    start: float
    end: float
    last_day: int

    def at(self, day: int) -> float:
        if self.last_day <= 0:
            return self.start
        return self.start + (self.end - self.start) * min(1.0, max(0.0, day / self.last_day))


def adherence_for(profile: AdherenceProfile, rng: random.Random, last_day: int) -> Adherence:
    if profile == AdherenceProfile.DECLINING:
        return Adherence(profile, rng.uniform(*DECLINE_FROM), rng.uniform(*DECLINE_TO), last_day)
    share = rng.uniform(*(POOR_ADHERENCE if profile == AdherenceProfile.POOR else STEADY_ADHERENCE))
    return Adherence(profile, share, share, last_day)


@dataclass(frozen=True)
class PlannedAssignment:
    id: uuid.UUID
    exercise: CatalogExercise
    sets: int
    reps: int | None
    hold_seconds: int | None
    sessions_per_day: int
    days_of_week: tuple[str, ...]
    start_day: int
    end_day: int | None
    notes: str
    prescriber: str  # a staff key ("physio", "physio2" or "surgeon")
    prescribed_at: datetime  # UTC

    def active_on(self, post_op_day: int, weekday: int) -> bool:
        """The window and weekday rule of ``rehab.plan.assignment_inactive_reason`` (never ended here)."""
        return (
            self.start_day <= post_op_day
            and (self.end_day is None or post_op_day <= self.end_day)
            and WEEKDAYS[weekday] in self.days_of_week
        )


@dataclass(frozen=True)
class PlannedLog:
    id: uuid.UUID
    assignment_id: uuid.UUID
    performed_at: datetime  # UTC
    local_date: date
    sets_completed: int
    reps_completed: int | None
    hold_seconds: int | None
    pain_during: int | None
    difficulty: str
    note: str


@dataclass(frozen=True)
class RehabPatient:
    """What the rehab planner needs to know about one patient (built by ``cohort``)."""

    index: int
    time_zone: str
    language: str
    region: str  # the procedure's region
    surgery_date: date
    post_op_day: int
    #: Last post-op day with any activity (today unless the patient went quiet or follow-up ended).
    last_active_day: int
    #: Follow-up ended on this post-op day (completed episodes), else None.
    follow_up_ends: int | None
    off_track: bool
    evening_person: bool
    prescriber: str
    words: Mapping[str, str]
    #: The patient's axial pain per local date, from their check-ins.
    axial_pain: Mapping[date, int]


def _earliest_start(
    restrictions: CatalogRestrictions | None, exercise: CatalogExercise, start_day: int
) -> int:
    """The first day from ``start_day`` on that the guard allows: after every restriction on a
    movement the exercise loads (a restriction "until day N" blocks any start on or before N)."""
    blocking = [
        until_day
        for tag, until_day in (restrictions.movements if restrictions else ())
        if tag in exercise.tags
    ]
    return max([start_day, *(until_day + 1 for until_day in blocking)])


_PHASES: Final = (Phase.EARLY, Phase.INTERMEDIATE, Phase.LATE)


@dataclass(frozen=True)
class _Notes:
    delayed: str
    log: tuple[str, ...]
    partial: tuple[str, ...]
    attempt: tuple[str, ...]


_NOTES: Final = {
    "en": _Notes(
        delayed="Starts on day {start}, once the restriction ends (no {what} until day {until}).",
        log=("Did these straight after my walk.", "Easier than last week.", "Short on time today.",
             "Felt stiff at first, fine after a few."),
        partial=("Stopped early, {axial_the} was sore.", "Only managed part of it today."),
        attempt=("Tried, but {axial_the} hurt too much.", "Too tired today, will try tomorrow."),
    ),
    "es": _Notes(
        delayed="Empieza el día {start}, al terminar la restricción ({tags} hasta el día {until}).",
        log=("Los hice justo después de caminar.", "Más fácil que la semana pasada.", "Hoy tenía poco tiempo.",
             "Al principio rígido, luego bien."),
        partial=("Paré antes, me dolía {axial_the}.", "Hoy solo pude hacer una parte."),
        attempt=("Lo intenté, pero me dolía demasiado {axial_the}.", "Hoy muy cansado, mañana lo intento."),
    ),
}  # fmt: skip


def plan_assignments(
    patient: RehabPatient,
    *,
    catalog: DemoCatalog,
    restrictions: CatalogRestrictions | None,
    rng: random.Random,
    seed: int,
) -> tuple[PlannedAssignment, ...]:
    zone = ZoneInfo(patient.time_zone)
    fits = [e for e in catalog.exercises if e.region in (patient.region, BodyRegion.GENERAL)]
    planned: list[PlannedAssignment] = []
    for position, phase in enumerate(_PHASES):
        first_day = PHASE_START_DAY[phase]
        following = _PHASES[position + 1] if position + 1 < len(_PHASES) else None
        last_day = PHASE_START_DAY[following] - 1 if following is not None else None
        if patient.post_op_day < first_day:
            break
        # Exercises the restrictions allow inside this phase's window, with their start day.
        allowed: dict[str, tuple[CatalogExercise, int]] = {}
        for exercise in fits:
            if exercise.phase != phase:
                continue
            start = _earliest_start(restrictions, exercise, first_day)
            if last_day is None or start <= last_day:
                allowed[exercise.slug] = (exercise, start)
        chosen: list[str] = []
        if phase == Phase.EARLY and WALKING in allowed:
            chosen.append(WALKING)
        own_region = [slug for slug, (e, _) in allowed.items() if e.region == patient.region]
        if own_region:
            chosen.append(rng.choice(own_region))
        count = rng.randint(*PER_PHASE)
        rest = [slug for slug in allowed if slug not in chosen]
        chosen += rng.sample(rest, min(len(rest), max(0, count - len(chosen))))
        prescribed_on = patient.surgery_date + timedelta(days=first_day - 1)
        prescribed_at = datetime.combine(prescribed_on, time(8), tzinfo=zone) + timedelta(
            minutes=rng.randint(0, 120)
        )
        for slug in chosen:
            exercise, start = allowed[slug]
            end = None if slug == WALKING else last_day
            if patient.follow_up_ends is not None:
                end = patient.follow_up_ends if end is None else min(end, patient.follow_up_ends)
            days: tuple[str, ...] = WEEKDAYS
            if (
                phase != Phase.EARLY
                and exercise.sessions_per_day == 1
                and rng.random() < ALTERNATE_DAYS_SHARE
            ):
                days = rng.choice(ALTERNATE_DAYS)
            notes = ""
            if start > first_day and restrictions is not None:
                tags = [tag for tag, until in restrictions.movements if tag in exercise.tags]
                notes = _NOTES[patient.language].delayed.format(
                    start=start,
                    tags=", ".join(tags),
                    what=" or ".join(MOVEMENT_TAGS[tag].lower() for tag in tags),
                    until=start - 1,
                )
            planned.append(
                PlannedAssignment(
                    id=demo_uuid(seed, "assignment", patient.index, len(planned)),
                    exercise=exercise,
                    sets=exercise.sets,
                    reps=exercise.reps,
                    hold_seconds=exercise.hold_seconds,
                    sessions_per_day=exercise.sessions_per_day,
                    days_of_week=days,
                    start_day=start,
                    end_day=end,
                    notes=notes,
                    prescriber=patient.prescriber,
                    prescribed_at=prescribed_at.astimezone(_UTC),
                )
            )
    return tuple(planned)


def _blocks(sessions: int, evening_person: bool) -> list[int]:
    if sessions == 1:
        return [_EVENING if evening_person else _MORNING]
    if sessions == 2:
        return [_MORNING, _EVENING]
    return [min(_EVENING, k * 3 // sessions) for k in range(sessions)]


def plan_logs(
    patient: RehabPatient,
    *,
    assignments: Sequence[PlannedAssignment],
    adherence: Adherence,
    rng: random.Random,
    seed: int,
) -> tuple[PlannedLog, ...]:
    """Every session the patient logged, oldest first; the caller drops those later than now."""
    if not assignments:
        return ()
    zone = ZoneInfo(patient.time_zone)
    off = patient.off_track
    words = patient.words
    notes = _NOTES[patient.language]
    logs: list[PlannedLog] = []
    first = min(a.start_day for a in assignments)
    # Pain carries forward from the latest check-in (the pre-op ones before surgery).
    before = [day for day in patient.axial_pain if day < patient.surgery_date + timedelta(days=first)]
    pain = patient.axial_pain[max(before)] if before else UNKNOWN_PAIN
    for day in range(first, patient.last_active_day + 1):
        local_date = patient.surgery_date + timedelta(days=day)
        pain = patient.axial_pain.get(local_date, pain)
        due = [a for a in assignments if a.active_on(day, local_date.weekday())]
        share = adherence.at(day)
        skip_day = (1 - share) / SKIP_DAY_DIVISOR
        session_share = share / (1 - skip_day)
        skipped = rng.random() < skip_day
        starts = [
            datetime.combine(local_date, time(hour, minute), tzinfo=zone)
            + timedelta(minutes=rng.randint(0, spread))
            for hour, minute, spread in _BLOCKS
        ]
        for order, assignment in enumerate(due):
            for block in _blocks(assignment.sessions_per_day, patient.evening_person):
                done, attempt, dose, felt, report = (rng.random() for _ in range(5))
                # On the day of surgery the operation takes the morning.
                slot = _AFTERNOON if day == 0 and block == _MORNING else block
                if skipped or done >= session_share:
                    if attempt >= ATTEMPT_PROB[off]:
                        continue
                    kind = "attempt"
                else:
                    kind = "full" if dose < FULL_DOSE_PROB[off] else "partial"
                at = starts[slot] + timedelta(minutes=6 * order + rng.randint(0, 4))
                logs.append(
                    _log(
                        assignment,
                        kind=kind,
                        log_id=demo_uuid(seed, "log", patient.index, len(logs)),
                        performed_at=at.astimezone(_UTC),
                        pain=pain,
                        felt=felt,
                        report=report,
                        off_track=off,
                        notes=notes,
                        words=words,
                        zone=zone,
                        rng=rng,
                    )
                )
    return tuple(logs)


def _log(
    assignment: PlannedAssignment,
    *,
    kind: str,
    log_id: uuid.UUID,
    performed_at: datetime,
    pain: int,
    felt: float,
    report: float,
    off_track: bool,
    notes: _Notes,
    words: Mapping[str, str],
    zone: ZoneInfo,
    rng: random.Random,
) -> PlannedLog:
    sets, reps, hold = assignment.sets, assignment.reps, assignment.hold_seconds
    if kind == "attempt":
        sets, reps, hold = 0, 0 if reps is not None else None, 0 if hold is not None else None
    elif kind == "partial":
        share = rng.uniform(0.4, 0.8)
        sets = max(1, sets - 1)
        reps = None if reps is None else max(1, round(reps * share))
        hold = None if hold is None else max(1, round(hold * share))
    elif hold is not None and reps is None:
        hold = min(MAX_HOLD_SECONDS, round(hold * rng.uniform(0.9, 1.3)))
    during = min(10, max(0, round(pain + rng.gauss(-0.3, 1.0))))
    if kind != "full" or during >= 6:
        difficulty = "hard" if felt < 0.6 else "ok"
    elif during <= 2:
        difficulty = "easy" if felt < 0.6 else "ok"
    else:
        difficulty = "hard" if felt < 0.1 else "easy" if felt < 0.25 else "ok"
    if rng.random() < DIFFICULTY_BLANK:
        difficulty = ""
    note = ""
    if kind != "full" and rng.random() < 0.3:
        note = rng.choice(notes.attempt if kind == "attempt" else notes.partial).format(**words)
    elif rng.random() < NOTE_PROB[off_track]:
        note = rng.choice(notes.log).format(**words)
    return PlannedLog(
        id=log_id,
        assignment_id=assignment.id,
        performed_at=performed_at,
        local_date=performed_at.astimezone(zone).date(),
        sets_completed=sets,
        reps_completed=reps,
        hold_seconds=hold,
        pain_during=None if report < PAIN_NOT_REPORTED else during,
        difficulty=difficulty,
        note=note,
    )
