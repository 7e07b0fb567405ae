"""Seed data of the cohort benchmark: a whole clinic's recovery data made with numpy and loaded with COPY.

``generate`` is pure (numpy and pandas, no database): from a ``Plan`` it makes one frame per table,
with the table's own column names, for one clinic:

- one surgeon for the cohort (who sees every cohort episode), a second surgeon for the one
  "year" episode (so the cohort surgeon sees exactly ``episodes``), and four physiotherapists, each
  on the care team of a quarter of the episodes;
- patients in four time zones; episodes spread over the six shipped procedures;
- check-ins on post-op days -7 (a pre-operative week, the steps baseline) to ``days - 1``: a day has
  one with probability 0.85 and a second one with probability 0.15, so about one a day; pains fall
  over the weeks (one patient in ten keeps more pain); walking minutes, steps, sleep and opioid use
  are sometimes left out; one check-in in a thousand carries a red flag, one in two hundred is
  deleted (``deleted_at`` set: the loaders must skip it);
- three assignments per episode: two sessions a day on days 1-42; Monday, Wednesday and Friday from
  day 14, open; Tuesday, Thursday and Saturday from day 7, ended on day 30 for half the episodes.
  Each prescribed session is logged with probability 0.75; a zero-set attempt (not a session) is
  logged on 2 % of the due days and a session too many on 1 %;
- questionnaire responses (ODI, NDI for the cervical procedure) at the timepoints whose windows
  have opened, each with probability 0.85, items consistent with the stored score;
- walks confirmed from walk reminders on days 0-14 (0-4 a day) and recorded milestones (discharge
  for everyone; formal physiotherapy, desk work and driving for some).

Dates are each patient's own calendar days; times of day are local (07:00-21:59) and stored in UTC.
``write`` loads the frames with ``COPY ... FROM STDIN`` (CSV), never through the ORM. The numbers here
make realistic-looking data for timing only; none of them is a clinical figure.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]

TIME_ZONES: Final = ("Europe/Madrid", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
PROCEDURES: Final = (
    ("lumbar_microdiscectomy", "odi"),
    ("tubular_discectomy", "odi"),
    ("full_endoscopic_discectomy", "odi"),
    ("mis_lumbar_decompression", "odi"),
    ("mis_tlif", "odi"),
    ("acdf", "ndi"),
)
INSTRUMENT_ITEMS: Final = {
    "odi": (
        "pain_intensity",
        "personal_care",
        "lifting",
        "walking",
        "sitting",
        "standing",
        "sleeping",
        "sex_life",
        "social_life",
        "travelling",
    ),
    "ndi": (
        "pain_intensity",
        "personal_care",
        "lifting",
        "reading",
        "headaches",
        "concentration",
        "work",
        "driving",
        "sleeping",
        "recreation",
    ),
}
#: (key, label, target_day) of the shipped timepoints a response is filed under.
TIMEPOINTS: Final = (
    ("baseline", "Before surgery", -3, True),
    ("week_6", "6 weeks", 42, False),
    ("month_3", "3 months", 91, False),
    ("month_6", "6 months", 182, False),
    ("month_12", "12 months", 365, False),
)
PRE_OP_DAYS: Final = 7
WEEKDAY_CODES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class AssignmentPlan:
    exercise: int
    sessions_per_day: int
    weekdays: tuple[int, ...]
    start_day: int
    end_day: int | None
    #: Post-op day the assignment was ended on, for every other episode; None = never ended.
    ended_day: int | None


ASSIGNMENTS: Final = (
    AssignmentPlan(0, 2, (0, 1, 2, 3, 4, 5, 6), 1, 42, None),
    AssignmentPlan(1, 1, (0, 2, 4), 14, None, None),
    AssignmentPlan(2, 1, (1, 3, 5), 7, None, 30),
)


@dataclass(frozen=True)
class Plan:
    clinic_id: str
    clinic_slug: str
    clinic_name: str
    #: Episodes of the cohort surgeon, each with ``days`` days of data after surgery.
    episodes: int
    days: int
    #: Days of data of the one episode of the second surgeon (the latency probe); 0 = none.
    year_days: int
    now: datetime
    #: Library exercises the assignments prescribe (three ids).
    exercise_ids: tuple[str, str, str]
    seed: int = 20261121
    #: First group of every generated UUID: a new one per seeding, so that rows of a retired clinic
    #: (kept for the audit trail) never collide with the new ones.
    id_prefix: int = 0


@dataclass(frozen=True)
class Seed:
    tables: dict[str, pd.DataFrame]
    cohort_surgeon_id: str
    year_surgeon_id: str
    year_episode_id: str | None

    def rows(self) -> int:
        return sum(len(frame) for frame in self.tables.values())


def _stamp(instant: datetime) -> str:
    """A UTC instant as COPY input text (``to_csv`` would cut a datetime column to its date)."""
    return str(pd.Timestamp(instant).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S.%f+00"))


def _uuid_strings(prefix: int, kind: int, count: int, start: int = 0) -> np.ndarray:
    """Distinct, valid (version 4 layout) UUID strings for one kind of row of one run."""
    numbers = np.arange(start, start + count, dtype="int64")
    head = f"{prefix:08x}-{kind:04x}-4000-8000-"
    return np.array([f"{head}{n:012x}" for n in numbers.tolist()], dtype=object)


def _local_to_utc(days: np.ndarray, seconds: np.ndarray, zones: np.ndarray) -> pd.Series:
    """UTC instants of local wall times (``days`` as datetime64[D], seconds after local midnight)."""
    naive = days.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    out = np.empty(len(naive), dtype="datetime64[ns]")
    for zone in np.unique(zones):
        mask = zones == zone
        local = pd.DatetimeIndex(naive[mask]).tz_localize(
            str(zone), ambiguous="NaT", nonexistent="shift_forward"
        )
        out[mask] = local.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return pd.Series(pd.DatetimeIndex(out).tz_localize("UTC"))


@dataclass(frozen=True)
class _Episodes:
    ids: np.ndarray
    patient_ids: np.ndarray
    surgery: np.ndarray  # datetime64[D]
    today: np.ndarray  # datetime64[D], the patient's local today
    zones: np.ndarray
    procedures: np.ndarray
    instruments: np.ndarray
    #: Last post-op day with data for each episode.
    last_day: np.ndarray
    offpath: np.ndarray


def generate(plan: Plan) -> Seed:
    rng = np.random.default_rng(plan.seed)
    prefix = plan.id_prefix & 0xFFFFFFFF
    staff_ids = _uuid_strings(prefix, 1, 6)
    cohort_surgeon, year_surgeon = staff_ids[0], staff_ids[1]
    physios = staff_ids[2:6]
    total = plan.episodes + (1 if plan.year_days else 0)
    patient_ids = _uuid_strings(prefix, 2, total)
    episode_ids = _uuid_strings(prefix, 3, total)
    zones = np.array([TIME_ZONES[n % len(TIME_ZONES)] for n in range(total)], dtype=object)
    today = np.array(
        [plan.now.astimezone(ZoneInfo(str(zone))).date() for zone in zones], dtype="datetime64[D]"
    )
    days = np.full(total, plan.days, dtype="int64")
    # Most patients logged up to yesterday; some stopped a few days before.
    gap = rng.choice(np.array([0, 0, 0, 0, 0, 1, 2, 5, 9]), size=total)
    if plan.year_days:
        days[-1] = plan.year_days
        gap[-1] = 0
    surgery = today - (days + gap).astype("timedelta64[D]")
    procedure_index = np.arange(total) % len(PROCEDURES)
    procedures = np.array([PROCEDURES[i][0] for i in procedure_index], dtype=object)
    instruments = np.array([PROCEDURES[i][1] for i in procedure_index], dtype=object)
    episodes = _Episodes(
        ids=episode_ids,
        patient_ids=patient_ids,
        surgery=surgery,
        today=today,
        zones=zones,
        procedures=procedures,
        instruments=instruments,
        last_day=days - 1,
        offpath=rng.random(total) < 0.1,
    )
    created = _stamp(plan.now)

    users = pd.DataFrame(
        {
            "id": np.concatenate([staff_ids, patient_ids]),
            "password": "!bench-unusable",
            "last_login": None,
            "is_superuser": False,
            "email": [f"bench-cohort-staff-{n}@example.org" for n in range(6)]
            + [f"bench-cohort-{n:06d}@example.org" for n in range(total)],
            "full_name": ["Dr Cohort", "Dr Year", "Physio 1", "Physio 2", "Physio 3", "Physio 4"]
            + [f"Cohort Patient {n:06d}" for n in range(total)],
            "role": ["surgeon", "surgeon"] + ["physiotherapist"] * 4 + ["patient"] * total,
            "is_active": True,
            "date_joined": created,
            "clinic_id": plan.clinic_id,
        }
    )
    profiles = pd.DataFrame(
        {
            "user_id": patient_ids,
            "date_of_birth": date(1965, 6, 1),
            "time_zone": zones,
            "preferred_language": "en",
        }
    )
    surgeons = np.full(total, cohort_surgeon, dtype=object)
    if plan.year_days:
        surgeons[-1] = year_surgeon
    episode_frame = pd.DataFrame(
        {
            "id": episode_ids,
            "levels": np.where(procedures == "acdf", '["C5-C6"]', '["L4-L5"]'),
            "surgery_date": surgery,
            "status": "recovering",
            "created_at": created,
            "updated_at": created,
            "clinic_id": plan.clinic_id,
            "created_by_id": surgeons,
            "patient_id": patient_ids,
            "surgeon_id": surgeons,
            "procedure_id": procedures,
        }
    )
    care_teams = pd.DataFrame(
        {"episode_id": episode_ids, "user_id": physios[np.arange(total) % len(physios)]}
    )
    assignments, logs = _rehab(plan, rng, prefix, episodes, surgeons)
    tables = {
        "accounts_user": users,
        "accounts_patientprofile": profiles,
        "episodes_episode": episode_frame,
        "episodes_episode_physiotherapists": care_teams,
        "checkins_checkin": _checkins(rng, prefix, episodes),
        "rehab_assignment": assignments,
        "rehab_exerciselog": logs,
        "proms_questionnaireresponse": _responses(rng, prefix, episodes),
        "reminders_walklog": _walks(rng, prefix, episodes),
        "trajectories_milestoneevent": _milestones(rng, prefix, episodes, created),
    }
    return Seed(
        tables=tables,
        cohort_surgeon_id=str(cohort_surgeon),
        year_surgeon_id=str(year_surgeon),
        year_episode_id=str(episode_ids[-1]) if plan.year_days else None,
    )


def _grid(episodes: _Episodes, first_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (episode index, post-op day) from ``first_day`` to the episode's last data day."""
    spans = np.maximum(episodes.last_day - first_day + 1, 0)
    index = np.repeat(np.arange(len(spans)), spans)
    starts = np.cumsum(spans) - spans
    day = np.arange(spans.sum()) - np.repeat(starts, spans) + first_day
    return index, day


def _checkins(rng: np.random.Generator, prefix: int, episodes: _Episodes) -> pd.DataFrame:
    index, day = _grid(episodes, -PRE_OP_DAYS)
    keep = rng.random(len(day)) < 0.85
    second = rng.random(len(day)) < 0.15
    index = np.concatenate([index[keep], index[second]])
    day = np.concatenate([day[keep], day[second]])
    n = len(day)
    local = episodes.surgery[index] + day.astype("timedelta64[D]")
    seconds = rng.integers(7 * 3600, 22 * 3600, size=n)
    recorded = _local_to_utc(local, seconds, episodes.zones[index])
    post = np.maximum(day, 0).astype("float64")
    slow = episodes.offpath[index]
    # Pre-operative pain is high; after surgery it falls towards a floor (higher for the slow tenth).
    axial_level = np.where(day < 0, 6.5, np.where(slow, 4.5, 1.5) + 3.5 * np.exp(-post / 21.0))
    limb_level = np.where(day < 0, 7.0, np.where(slow, 4.0, 1.0) + 3.0 * np.exp(-post / 14.0))
    axial = np.clip(np.rint(axial_level + rng.normal(0, 1.2, n)), 0, 10).astype("int64")
    limb = np.clip(np.rint(limb_level + rng.normal(0, 1.2, n)), 0, 10).astype("int64")
    walking = np.clip(np.rint(10 + post * 0.5 + rng.normal(0, 8, n)), 0, 1440)
    steps = np.clip(np.rint(np.where(day < 0, 5000, 1500 + post * 45) + rng.normal(0, 900, n)), 0, 100000)
    sleep = np.clip(np.rint(6 + rng.normal(0, 1.5, n)), 0, 10)
    opioid = rng.random(n) < np.where(day < 0, 0.1, 0.8 * np.exp(-post / 10.0))
    opioid_answer = pd.array(opioid, dtype="boolean")
    opioid_answer[rng.random(n) < 0.3] = pd.NA
    red = np.where(rng.random(n) < 0.001, '["fever"]', "[]")
    deleted = rng.random(n) < 0.005
    recorded_text = recorded.dt.strftime("%Y-%m-%d %H:%M:%S+00")
    return pd.DataFrame(
        {
            "id": _uuid_strings(prefix, 4, n),
            "recorded_at": recorded_text,
            "local_date": local,
            "axial_pain": axial,
            "limb_pain": limb,
            "walking_minutes": pd.array(np.where(rng.random(n) < 0.3, np.nan, walking), dtype="Int64"),
            "steps": pd.array(np.where(rng.random(n) < 0.4, np.nan, steps), dtype="Int64"),
            "sleep_quality": pd.array(np.where(rng.random(n) < 0.5, np.nan, sleep), dtype="Int64"),
            "took_opioid": opioid_answer,
            "red_flags": red,
            "note": "",
            "created_at": recorded_text,
            "updated_at": recorded_text,
            "deleted_at": np.where(deleted, recorded_text, None),
            "created_by_id": episodes.patient_ids[index],
            "episode_id": episodes.ids[index],
        }
    )


def _rehab(
    plan: Plan, rng: np.random.Generator, prefix: int, episodes: _Episodes, surgeons: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    total = len(episodes.ids)
    count = len(ASSIGNMENTS)
    assignment_ids = _uuid_strings(prefix, 5, total * count)
    rows: list[pd.DataFrame] = []
    log_frames: list[pd.DataFrame] = []
    ended_half = np.arange(total) % 2 == 0
    for k, spec in enumerate(ASSIGNMENTS):
        ids = assignment_ids[k::count]
        ended = (
            np.where(
                ended_half,
                (episodes.surgery + np.timedelta64(spec.ended_day, "D")).astype("datetime64[D]"),
                np.datetime64("NaT"),
            )
            if spec.ended_day is not None
            else np.full(total, np.datetime64("NaT"), dtype="datetime64[D]")
        )
        rows.append(
            pd.DataFrame(
                {
                    "id": ids,
                    "sets": 2,
                    "reps": 10,
                    "hold_seconds": None,
                    "load_kg": None,
                    "sessions_per_day": spec.sessions_per_day,
                    "days_of_week": json.dumps([WEEKDAY_CODES[d] for d in spec.weekdays]),
                    "start_day": spec.start_day,
                    "end_day": spec.end_day,
                    "notes": "",
                    "created_at": _stamp(plan.now),
                    "updated_at": _stamp(plan.now),
                    "ended_on": ended,
                    "ended_by_id": None,
                    "episode_id": episodes.ids,
                    "prescribed_by_id": surgeons,
                    "exercise_id": plan.exercise_ids[spec.exercise],
                }
            )
        )
        # Due days up to the episode's last data day (the weekday and window rules of the plan).
        index, day = _grid(episodes, spec.start_day)
        local = episodes.surgery[index] + day.astype("timedelta64[D]")
        weekday = (local.astype("int64") - 4) % 7  # 1970-01-01 was a Thursday (Monday = 0)
        due = np.isin(weekday, spec.weekdays)
        if spec.end_day is not None:
            due &= day <= spec.end_day
        if spec.ended_day is not None:
            due &= ~(ended_half[index] & (day >= spec.ended_day))
        index, local = index[due], local[due]
        sessions = rng.binomial(spec.sessions_per_day, 0.75, size=len(index))
        attempt = rng.random(len(index)) < 0.02
        extra = rng.random(len(index)) < 0.01
        log_index = np.concatenate([np.repeat(index, sessions), index[attempt], index[extra]])
        log_local = np.concatenate([np.repeat(local, sessions), local[attempt], local[extra]])
        sets = np.concatenate(
            [np.full(sessions.sum(), 2), np.zeros(attempt.sum(), dtype="int64"), np.full(extra.sum(), 2)]
        )
        log_frames.append(
            pd.DataFrame({"index": log_index, "local": log_local, "sets": sets, "assignment": ids[log_index]})
        )
    assignments = pd.concat(rows, ignore_index=True)
    logs = pd.concat(log_frames, ignore_index=True)
    n = len(logs)
    seconds = rng.integers(7 * 3600, 22 * 3600, size=n)
    performed = _local_to_utc(
        logs["local"].to_numpy(dtype="datetime64[D]"), seconds, episodes.zones[logs["index"].to_numpy()]
    ).dt.strftime("%Y-%m-%d %H:%M:%S+00")
    log_table = pd.DataFrame(
        {
            "id": _uuid_strings(prefix, 6, n),
            "performed_at": performed,
            "local_date": logs["local"].to_numpy(dtype="datetime64[D]"),
            "sets_completed": logs["sets"].to_numpy(),
            "reps_completed": 10,
            "hold_seconds": None,
            "pain_during": None,
            "difficulty": "ok",
            "note": "",
            "created_at": performed,
            "assignment_id": logs["assignment"].to_numpy(),
            "created_by_id": episodes.patient_ids[logs["index"].to_numpy()],
            "episode_id": episodes.ids[logs["index"].to_numpy()],
        }
    )
    return assignments, log_table


def _responses(rng: np.random.Generator, prefix: int, episodes: _Episodes) -> pd.DataFrame:
    frames: list[pd.DataFrame] = []
    total = len(episodes.ids)
    baseline = np.clip(rng.normal(46, 12, total), 10, 90)
    for key, label, target, is_baseline in TIMEPOINTS:
        answered = (target <= episodes.last_day) & (rng.random(total) < 0.85)
        index = np.flatnonzero(answered)
        if not len(index):
            continue
        gain = 0.0 if is_baseline else min(1.0, target / 91)
        percent = baseline[index] - gain * np.clip(rng.normal(22, 10, len(index)), -5, 60)
        raw = np.clip(np.rint(np.clip(percent, 0, 100) / 2), 0, 50).astype("int64")
        local = episodes.surgery[index] + np.timedelta64(target, "D")
        seconds = rng.integers(9 * 3600, 20 * 3600, size=len(index))
        submitted = _local_to_utc(local, seconds, episodes.zones[index]).dt.strftime("%Y-%m-%d %H:%M:%S+00")
        instruments = episodes.instruments[index]
        frames.append(
            pd.DataFrame(
                {
                    "id": _uuid_strings(prefix, 7, len(index), start=len(frames) * total),
                    "instrument_version": "mobilize-plain-1",
                    "timepoint": key,
                    "timepoint_label": label,
                    "is_baseline": is_baseline,
                    "answers": [
                        _answers(str(instrument), int(r))
                        for instrument, r in zip(instruments, raw, strict=True)
                    ],
                    "raw_score": raw,
                    "answered": 10,
                    "missing": 0,
                    "percent": raw * 2,
                    "submitted_at": submitted,
                    "local_date": local,
                    "created_at": submitted,
                    "created_by_id": episodes.patient_ids[index],
                    "episode_id": episodes.ids[index],
                    "instrument_id": instruments,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _answers(instrument: str, raw: int) -> str:
    """Ten item answers (0-5) adding up to ``raw``."""
    base, extra = divmod(raw, 10)
    items = INSTRUMENT_ITEMS[instrument]
    return json.dumps({key: base + (1 if n < extra else 0) for n, key in enumerate(items)})


def _walks(rng: np.random.Generator, prefix: int, episodes: _Episodes) -> pd.DataFrame:
    spans = np.minimum(episodes.last_day, 14) + 1
    index = np.repeat(np.arange(len(spans)), spans)
    day = np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans, spans)
    per_day = rng.integers(0, 5, size=len(day))
    index, day = np.repeat(index, per_day), np.repeat(day, per_day)
    local = episodes.surgery[index] + day.astype("timedelta64[D]")
    seconds = rng.integers(8 * 3600, 20 * 3600, size=len(day))
    at = _local_to_utc(local, seconds, episodes.zones[index]).dt.strftime("%Y-%m-%d %H:%M:%S+00")
    return pd.DataFrame(
        {
            "id": _uuid_strings(prefix, 8, len(day)),
            "at": at,
            "minutes": rng.integers(5, 30, size=len(day)),
            "delivery_id": None,
            "episode_id": episodes.ids[index],
        }
    )


def _milestones(rng: np.random.Generator, prefix: int, episodes: _Episodes, created: str) -> pd.DataFrame:
    frames: list[pd.DataFrame] = []
    total = len(episodes.ids)
    for k, (key, share, first, last) in enumerate(
        (
            ("discharge", 1.0, 0, 2),
            ("formal_physio", 0.6, 14, 28),
            ("desk_work", 0.5, 28, 60),
            ("driving", 0.5, 14, 42),
        )
    ):
        day = rng.integers(first, last + 1, size=total)
        index = np.flatnonzero((rng.random(total) < share) & (day <= episodes.last_day))
        frames.append(
            pd.DataFrame(
                {
                    "id": _uuid_strings(prefix, 9, len(index), start=k * total),
                    "key": key,
                    "achieved_on": episodes.surgery[index] + day[index].astype("timedelta64[D]"),
                    "recorded_at": created,
                    "episode_id": episodes.ids[index],
                    "recorded_by_id": episodes.patient_ids[index],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Writing (needs a psycopg 3 connection; no Django models)
# ---------------------------------------------------------------------------------------------


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as PostgreSQL ``COPY ... (FORMAT csv)`` input: unquoted empty fields are NULL."""
    out = io.StringIO()
    frame.to_csv(out, index=False, header=False, na_rep="", date_format="%Y-%m-%d")
    return out.getvalue().encode("utf-8")


def write(
    cursor: Any, tables: dict[str, pd.DataFrame], order: Sequence[str] | None = None
) -> dict[str, float]:
    """COPY every frame into its table (column names = the frame's); returns seconds per table."""
    import time

    from psycopg import sql

    timings: dict[str, float] = {}
    for table in order or list(tables):
        frame = tables[table]
        started = time.perf_counter()
        # An unquoted empty field is NULL in CSV; columns with no missing value (empty notes) say so.
        filled = [c for c in frame.columns if not frame[c].isna().any()]
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, FORCE_NOT_NULL ({}))").format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns),
            sql.SQL(", ").join(sql.Identifier(c) for c in filled),
        )
        payload = csv_bytes(frame)
        with cursor.copy(statement) as copy:
            view = memoryview(payload)
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])
        timings[table] = time.perf_counter() - started
    return timings
