"""Bulk loading of the trajectory analytics' input frames (``recovery.analytics.trajectory``) for many
episodes at once: one episode's trajectory and a clinician's whole cohort use the same code.

Callers pass episode ids they obtained through the access policy (``recovery.episodes.access``);
nothing here checks access again. Ids that are not episodes are ignored.

Invariants:

- A constant number of queries whatever the number of episodes and rows: 3 on PostgreSQL (the small
  reads - episodes, assignment plan, questionnaire scores and misses, milestones, walks counted per
  day - as one multi-statement round trip, then one COPY each for check-ins and exercise logs;
  ``outcomes=False`` reads no milestones and no walks), 8 elsewhere (SQLite, the demo). Each query
  takes the whole id list.
- No model instances. On PostgreSQL the large frames (check-ins, exercise logs) come through
  ``COPY (SELECT key, array_agg(...), ... GROUP BY key) TO STDOUT (FORMAT BINARY)``: one row per
  episode (or assignment) with an array per column, so two million values make ten thousand COPY
  rows, and the values are gathered with numpy (``parse_grouped_copy``), no Python per value.
  Missing values travel as -1, which no stored value can be (arrays with NULLs are refused). Episode
  ids are mapped back to their strings with one ``take``. The small frames (episodes, questionnaire
  scores and misses, milestones, the assignment plan) are plain ``fetchall``.
  Measured on the bench data (10,000 episodes, 1.86 million check-ins, the check-ins alone; a
  shared, busy 2-core machine, so only the order matters): ``pd.read_sql`` 33 s, ``fetchall`` into
  a frame 16 s, COPY CSV + ``read_csv`` 12 s, COPY binary one row per check-in + ``frombuffer``
  4-5 s (about 1 s of it psycopg reading 1.9 million COPY rows in Python), COPY binary one row per
  episode with arrays 2.4-3.8 s. ``load_checkins_floor`` is that last one.
- Only check-ins that were not deleted (``deleted_at IS NULL``).
- ``episodes.today`` is ``now`` in each patient's own zone (``PatientProfile.time_zone``; UTC for a
  patient without a profile), as a date.
- ``adherence`` has exactly the semantics of ``recovery.analytics.adherence`` (read its docstring):
  one row per episode and local day on which something was prescribed, from the earliest
  assignment's first day up to the patient's today; prescribed = sum of ``sessions_per_day`` of the
  assignments active that day, completed = per active assignment the sessions logged that day with
  at least one set, capped at its ``sessions_per_day``, summed. Both paths load the assignment plan
  (a row per assignment) and the logged days, then expand each assignment's due days with numpy
  (``adherence_rows``): faster here than ``generate_series`` in the database (9.7 s against 1.3 s
  on the bench data, most of the difference being 1.3 million result rows). A test keeps both paths
  equal to ``daily_adherence``.
- ``missed``: the timepoints of the clinic's schedule (its own active timepoints if it has any, else
  the shipped default: ``recovery.proms.selectors.schedule_for_clinic``) whose window closed before
  the patient's today with no response filed under that timepoint (``recovery.proms.timepoints``).
- ``scores``: every stored questionnaire response: ``score`` is its percentage (0-100, lower is
  better; NDI thresholds published on 0-50 are half of it, see ``recovery.proms.scoring``),
  ``answered_at`` its ``submitted_at``.
- ``walks``: walks confirmed from walk reminders (``recovery.reminders.models.WalkLog``) per patient-local
  day.

Recent frames (``load_frames(recent_days=N)``, the cohort list and the alert rules through
``recovery.trajectories.selectors.recent_analysis``): each episode's rows from its ``since`` day on,
``since`` = the earlier of (its last non-deleted check-in day - (N - 1)) and (its today - 7), or today
- 7 without check-ins (``recent_since``; N >= 14). Check-ins, exercise logs and adherence rows
before ``since`` are not read; everything from ``since`` on is read exactly as in the full frames
(``recent_frames`` cuts full frames the same way; a test holds both equal). The episodes frame
carries ``since`` (a day); the other frames are complete. The last check-in day is one backward
step of the (episode, local_date) index per episode; the check-ins and logs are read with one range
of the (episode, local_date) and (assignment, local_date) indexes per episode and assignment
(``CROSS JOIN LATERAL``: a plain join made PostgreSQL sort the whole check-in table). On the bench
data (10,000 episodes of 180 days) the check-ins read fall from 1.86 million rows to 0.21 million,
the exercise logs from 1.5 million to 0.1 million.

Column names and dtypes are ``*_COLUMNS`` below; rows are sorted by episode (in the order of the
ids given) and then by time. Reads only; no side effects.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
from django.db import connection
from django.db.models import Q

from recovery.accounts.models import PatientProfile
from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode
from recovery.proms.models import QuestionnaireResponse, ScheduleTimepoint
from recovery.rehab.models import Assignment, ExerciseLog
from recovery.rehab.vocabulary import WEEKDAYS
from recovery.reminders.models import WalkLog
from recovery.trajectories.models import MilestoneEvent

OBJECT: Final = "object"
#: Recent frames: the window holds at least two rolling weeks (the pain rise compares the 7-day
#: mean on the last check-in day with the one 7 days earlier) and starts at least 7 days before
#: today (the adherence week, and red flags of the last 24 hours whatever the time zone).
RECENT_MIN_DAYS: Final = 14
RECENT_TODAY_MARGIN: Final = 7
NO_CHECKIN: Final = np.iinfo("int64").min
DAY: Final = "datetime64[ns]"
INSTANT: Final = "datetime64[ns, UTC]"

EPISODE_COLUMNS: Final = {
    "episode_id": OBJECT,
    "procedure": OBJECT,
    "surgery_date": DAY,
    "today": DAY,
    "clinic_id": OBJECT,
}
CHECKIN_COLUMNS: Final = {
    "episode_id": OBJECT,
    "local_date": DAY,
    "recorded_at": INSTANT,
    "axial_pain": "float64",
    "limb_pain": "float64",
    "walking_minutes": "float64",
    "steps": "float64",
    "took_opioid": "float64",
    "red_flag_count": "int64",
}
ADHERENCE_COLUMNS: Final = {
    "episode_id": OBJECT,
    "local_date": DAY,
    "prescribed": "int64",
    "completed": "int64",
}
SCORE_COLUMNS: Final = {
    "episode_id": OBJECT,
    "timepoint": OBJECT,
    "instrument": OBJECT,
    "score": "float64",
    "answered_at": INSTANT,
}
MISSED_COLUMNS: Final = {"episode_id": OBJECT, "timepoint": OBJECT, "closed_on": DAY}
MILESTONE_COLUMNS: Final = {"episode_id": OBJECT, "key": OBJECT, "achieved_on": DAY}
WALK_COLUMNS: Final = {"episode_id": OBJECT, "local_date": DAY, "walks": "int64"}


@dataclass(frozen=True)
class Frames:
    checkins: pd.DataFrame
    episodes: pd.DataFrame
    adherence: pd.DataFrame
    scores: pd.DataFrame
    missed: pd.DataFrame
    milestones: pd.DataFrame
    walks: pd.DataFrame


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    return _frame(
        {
            name: pd.DatetimeIndex([], dtype=dtype).array
            if dtype == INSTANT
            else (_text([]) if dtype == OBJECT else np.empty(0, dtype=dtype))
            for name, dtype in columns.items()
        }
    )


def load_frames(
    episode_ids: Sequence[uuid.UUID],
    *,
    now: datetime,
    recent_days: int | None = None,
    outcomes: bool = True,
    constant_queries: bool = False,
) -> Frames:
    """Every input frame of the trajectory analytics for ``episode_ids``, as of ``now``.

    ``recent_days``: only the recent rows of each episode (read the module docstring, "Recent
    frames"); the episodes frame then has a ``since`` column. ``outcomes=False``: no milestones and
    no walks (empty frames, no query), for callers that need only the series, signals and status.
    ``constant_queries``: on PostgreSQL, query even for an empty id list, and through the same path
    for any number of ids, so that a caller loading a data-dependent subset issues the same queries
    whatever the data."""
    keys = _distinct(episode_ids)
    if connection.vendor == "postgresql" and (keys or constant_queries):
        loader = _PostgresLoader(keys, now, recent_days=recent_days, small=not constant_queries)
        return loader.frames(outcomes=outcomes)
    if not keys:
        episodes = empty_frame(EPISODE_COLUMNS)
        if recent_days is not None:
            episodes["since"] = pd.Series([], dtype=DAY)
        return Frames(
            checkins=empty_frame(CHECKIN_COLUMNS),
            episodes=episodes,
            adherence=empty_frame(ADHERENCE_COLUMNS),
            scores=empty_frame(SCORE_COLUMNS),
            missed=empty_frame(MISSED_COLUMNS),
            milestones=empty_frame(MILESTONE_COLUMNS),
            walks=empty_frame(WALK_COLUMNS),
        )
    frames = _portable_frames(keys, now)
    if not outcomes:
        frames = replace(frames, milestones=empty_frame(MILESTONE_COLUMNS), walks=empty_frame(WALK_COLUMNS))
    return frames if recent_days is None else recent_frames(frames, recent_days)


def recent_since(
    last_checkin: np.ndarray[Any, Any], today: np.ndarray[Any, Any], days: int
) -> np.ndarray[Any, Any]:
    """The first day of the recent window (days after 1970-01-01) per episode: ``days`` days up to
    the last check-in day, and never after ``today - RECENT_TODAY_MARGIN``. ``last_checkin`` is
    ``NO_CHECKIN`` for an episode without check-ins."""
    if days < RECENT_MIN_DAYS:
        raise ValueError(f"a recent window needs at least {RECENT_MIN_DAYS} days")
    from_today = today - RECENT_TODAY_MARGIN
    return np.where(last_checkin == NO_CHECKIN, from_today, np.minimum(last_checkin - (days - 1), from_today))


def recent_frames(frames: Frames, days: int) -> Frames:
    """``frames`` (full history) cut to their recent window, as ``load_frames(recent_days=days)``
    reads them from the database: the reference the SQL path is tested against."""
    episodes = frames.episodes.copy()
    ids = episodes["episode_id"].astype(object).map(str)
    position = pd.Index(ids)
    checkin_day = frames.checkins["local_date"].to_numpy(dtype="datetime64[D]").astype("int64")
    checkin_episode = position.get_indexer(frames.checkins["episode_id"].astype(object).map(str))
    last = np.full(len(episodes), NO_CHECKIN, dtype="int64")
    np.maximum.at(last, checkin_episode[checkin_episode >= 0], checkin_day[checkin_episode >= 0])
    today = episodes["today"].to_numpy(dtype="datetime64[D]").astype("int64")
    since = recent_since(last, today, days)
    episodes["since"] = pd.Series(since.astype("datetime64[D]").astype(DAY), index=episodes.index)

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        where = position.get_indexer(frame["episode_id"].astype(object).map(str))
        day = frame["local_date"].to_numpy(dtype="datetime64[D]").astype("int64")
        wanted = (where >= 0) & (day >= since[np.maximum(where, 0)])
        return frame[wanted].reset_index(drop=True)

    return replace(
        frames, episodes=episodes, checkins=keep(frames.checkins), adherence=keep(frames.adherence)
    )


def load_checkins_floor(episode_ids: Sequence[uuid.UUID]) -> pd.DataFrame:
    """The benchmark floor: the non-deleted check-ins of ``episode_ids`` in a DataFrame, the fastest
    way we have (PostgreSQL only): the very query and reader ``load_frames`` uses for its check-ins,
    with no other frame and no sort. Same columns and values, in the database's order."""
    keys = _distinct(episode_ids)
    if not keys:
        return empty_frame(CHECKIN_COLUMNS)
    return _PostgresLoader(keys, None).checkins(sort=False)


def _distinct(episode_ids: Iterable[uuid.UUID]) -> list[str]:
    seen: dict[str, None] = {}
    for episode_id in episode_ids:
        seen.setdefault(str(uuid.UUID(str(episode_id))), None)
    return list(seen)


# ---------------------------------------------------------------------------------------------
# PostgreSQL: binary COPY into numpy
# ---------------------------------------------------------------------------------------------

#: PostgreSQL epoch (2000-01-01) in days and microseconds after the Unix epoch.
_PG_EPOCH_DAYS: Final = 10_957
_PG_EPOCH_MICROSECONDS: Final = 946_684_800_000_000
#: Up to this many episodes' whole history (a trajectory, a handful of exports) is read in one
#: round trip, the large arrays as text; more go through binary COPY (``frames``).
SMALL_LOAD: Final = 8
#: Above this many (episode, day) bins adherence groups by sorting instead of counting (memory).
_DENSE_BINS: Final = 20_000_000
_COPY_SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00"
#: Array element types a grouped COPY may carry: (type oid, width in bytes).
_ELEMENTS: Final = {
    "int2": (21, 2),
    "int4": (23, 4),
    "int8": (20, 8),
    "date": (1082, 4),
    "timestamptz": (1184, 8),
}


@dataclass(frozen=True)
class Grouped:
    """Rows of (key, array, array, ...) from a binary COPY: the keys in row order, each array column
    concatenated over the rows (int64), and ``group`` giving each value's row."""

    keys: list[bytes]
    group: np.ndarray[Any, Any]
    columns: list[np.ndarray[Any, Any]]


def parse_grouped_copy(data: bytes, types: Sequence[str]) -> Grouped:
    """A ``COPY (SELECT key, array_agg(a), array_agg(b) ... GROUP BY key) TO STDOUT (FORMAT BINARY)``.

    One row per group instead of one per value: two million values cost ten thousand rows, each
    read with a few ``struct`` calls, and the values are gathered with numpy. The key is any
    non-NULL value (its raw bytes: a uuid's 16, an int4's 4); every array must be one-dimensional,
    of the given element type (``_ELEMENTS``), without NULLs, and as long as the row's first array.
    Anything else is refused."""
    if not data.startswith(_COPY_SIGNATURE) or len(data) < 21 or data[-2:] != b"\xff\xff":
        raise ValueError("not a binary COPY stream")
    try:
        return _parse_grouped(data, types)
    except struct.error as exc:  # a row runs past the end of the stream
        raise ValueError(f"grouped COPY stream cut short: {exc}") from None


def _big_endian(raw: np.ndarray[Any, Any], at: np.ndarray[Any, Any], width: int) -> np.ndarray[Any, Any]:
    """The signed big-endian integers of ``width`` bytes starting at each of ``at``, as int64."""
    return np.frombuffer(raw[at[:, None] + np.arange(width)].tobytes(), dtype=f">i{width}").astype("int64")


def _elements(
    data: bytes, starts: np.ndarray[Any, Any], sizes: np.ndarray[Any, Any], width: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The (int32 length, value) elements of each row's array (``sizes[r]`` of them from
    ``starts[r]``), concatenated, as two int64 arrays: the rows' element bytes joined, then one
    structured view (a byte-by-byte numpy gather is five times slower)."""
    record = np.dtype([("length", ">i4"), ("value", f">i{width}")])
    view = memoryview(data)
    joined = b"".join(
        view[start : start + size * record.itemsize]
        for start, size in zip(starts.tolist(), sizes.tolist(), strict=True)
    )
    elements = np.frombuffer(joined, dtype=record)
    return elements["length"].astype("int64"), elements["value"].astype("int64")


def _parse_grouped(data: bytes, types: Sequence[str]) -> Grouped:
    # Python reads two headers per row (the row's and its first array's, for the element count);
    # every other array's place follows from that count, and all headers are checked with numpy.
    unpack = struct.unpack_from
    widths = [_ELEMENTS[kind][1] for kind in types]
    position = 19 + unpack(">i", data, 15)[0]
    end = len(data) - 2
    keys: list[bytes] = []
    counts: list[int] = []
    blocks: list[int] = []
    while position < end:
        fields, key_size = unpack(">hi", data, position)
        if fields != 1 + len(types) or key_size < 0:
            raise ValueError("grouped COPY rows must be (key, arrays...) with a key")
        position += 6
        keys.append(data[position : position + key_size])
        position += key_size
        dimensions = unpack(">i", data, position + 4)[0]
        count = unpack(">i", data, position + 16)[0] if dimensions == 1 else 0
        blocks.append(position)
        counts.append(count)
        position += sum(4 + (20 + count * (4 + width) if count else 12) for width in widths)
    if position != end:
        raise ValueError("grouped COPY stream does not end where its rows do")
    sizes = np.array(counts, dtype="int64")
    header = np.array(blocks, dtype="int64")
    raw = np.frombuffer(data, dtype=np.uint8)
    group = np.repeat(np.arange(len(sizes)), sizes)
    columns = []
    for column, (kind, width) in enumerate(zip(types, widths, strict=True)):
        expected = np.where(sizes > 0, 20 + sizes * (4 + width), 12)
        fine = (
            (_big_endian(raw, header, 4) == expected)
            & (_big_endian(raw, header + 4, 4) == (sizes > 0))
            & (_big_endian(raw, header + 8, 4) == 0)
            & (_big_endian(raw, header + 12, 4) == _ELEMENTS[kind][0])
        )
        if sizes.any():
            fine[sizes > 0] &= _big_endian(raw, header[sizes > 0] + 16, 4) == sizes[sizes > 0]
        if not fine.all():
            raise ValueError(f"grouped COPY array {column} is not a one-dimensional {kind}[] without NULLs")
        # Elements are (int32 length, value): check the lengths, keep the values.
        lengths, values = _elements(data, header + 24, sizes, width)
        if not (lengths == width).all():
            raise ValueError(f"grouped COPY array {column} holds values that are not {kind}")
        columns.append(values)
        header = header + 4 + expected
    return Grouped(keys=keys, group=group, columns=columns)


def episode_time_order(
    row_episode: np.ndarray[Any, Any], group: np.ndarray[Any, Any], instant: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """Indices putting grouped values (value i in row ``group[i]``, rows contiguous) in order of
    their row's episode position (``row_episode``), then time.

    PostgreSQL's index walk usually hands each episode's values already in time order (ascending or
    descending): then the blocks are only reordered, in linear time. Otherwise one argsort of a
    combined key (or ``lexsort`` when that key would overflow)."""
    sizes = np.bincount(group, minlength=len(row_episode))
    starts = np.cumsum(sizes) - sizes
    blocks = np.argsort(row_episode, kind="stable")
    lengths = sizes[blocks]
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    inside = group[1:] == group[:-1]
    step = np.diff(instant)[inside]
    if (step >= 0).all():
        return np.repeat(starts[blocks], lengths) + within
    if (step <= 0).all():
        return np.repeat(starts[blocks] + lengths - 1, lengths) - within
    episode = row_episode[group].astype("int64")
    first = int(instant.min())
    span = int(instant.max()) - first + 1
    if span * (int(episode.max()) + 1) < 2**62:
        return np.argsort(episode * span + (instant.astype("int64") - first), kind="stable")
    return np.lexsort((instant, episode))


def _epoch_days(values: Sequence[int]) -> np.ndarray[Any, Any]:
    """Dates sent as days after 1970-01-01 (integers parse far faster than ISO text) as midnights."""
    return np.array(values, dtype="int64").astype("datetime64[D]").astype(DAY)


def _days(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """PostgreSQL binary dates (days after 2000-01-01) as datetime64[ns] midnights."""
    return (values.astype("int64") + _PG_EPOCH_DAYS).astype("datetime64[D]").astype(DAY)


def _instants(values: np.ndarray[Any, Any]) -> pd.Series:
    """PostgreSQL binary timestamptz (microseconds after 2000-01-01 UTC) as UTC instants."""
    micro = (
        (values.astype("int64") + _PG_EPOCH_MICROSECONDS).astype("datetime64[us]").astype("datetime64[ns]")
    )
    return pd.Series(pd.DatetimeIndex(micro).tz_localize("UTC"), copy=False)


def _text(values: Any) -> np.ndarray[Any, Any]:
    """An object column (``_frame`` keeps it object: pandas would infer its string dtype)."""
    return np.asarray(values, dtype=object)


def _frame(columns: dict[str, Any]) -> pd.DataFrame:
    """One DataFrame from columns of the same length, not copied, on one RangeIndex (no alignment):
    object arrays stay object, a Series gives its values."""
    index = pd.RangeIndex(len(next(iter(columns.values()))) if columns else 0)
    data: dict[str, Any] = {}
    for name, values in columns.items():
        if isinstance(values, pd.Series):
            values = values.to_numpy() if values.dtype == object else values.array
        if isinstance(values, np.ndarray) and values.dtype == object:
            values = pd.Series(values, index=index, dtype=object, copy=False)
        data[name] = values
    return pd.DataFrame(data, index=index, copy=False)


def _missing(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """-1 (the NULL stand-in of the queries) as NaN."""
    out = values.astype("float64")
    out[values < 0] = np.nan
    return out


def _date_value(value: date | datetime | None) -> Any:
    return np.datetime64(value, "D").astype(DAY) if value is not None else np.datetime64("NaT", "ns")


class _PostgresLoader:
    """One loader per call: the id list goes to every query as one comma-joined text parameter and
    comes back as each row's position in it (``ids.n``, 1-based)."""

    def __init__(
        self, keys: list[str], now: datetime | None, *, recent_days: int | None = None, small: bool = True
    ) -> None:
        self.keys = np.array(keys, dtype=object)
        self.params: dict[str, Any] = {"ids": ",".join(keys), "now": now}
        self.recent_days = recent_days
        #: Recent frames: each position's first day (days after 1970-01-01), set by ``episodes()``.
        self.since: np.ndarray[Any, Any] | None = None
        #: Rows of queries already run by ``_prefetch``, by query text.
        self._prefetched: dict[str, list[tuple[Any, ...]]] = {}
        #: A few episodes' whole history (one trajectory): everything in one round trip.
        #: (Not for ``constant_queries``: their callers want the same queries whatever the ids.)
        self.small = small and recent_days is None and 0 < len(keys) <= SMALL_LOAD
        episodes = Episode._meta.db_table
        profiles = PatientProfile._meta.db_table
        self.ids = "unnest(string_to_array(%(ids)s, ',')::uuid[]) WITH ORDINALITY AS ids(id, n)"
        # Each episode with its patient's local today.
        self.ep = (
            f"SELECT ids.n, e.id, e.clinic_id, e.procedure_id, e.surgery_date, "  # noqa: S608 - table names from model _meta, values as parameters
            f"(%(now)s::timestamptz AT TIME ZONE COALESCE(p.time_zone, 'UTC'))::date AS today, "
            "COALESCE(p.time_zone, 'UTC') AS time_zone "
            f"FROM {self.ids} JOIN {episodes} e ON e.id = ids.id "
            f"LEFT JOIN {profiles} p ON p.user_id = e.patient_id"
        )

    def episode_ids(self, positions: np.ndarray[Any, Any]) -> pd.Series:
        return pd.Series(self.keys.take(positions.astype("int64") - 1), dtype=object)

    # --- queries ------------------------------------------------------------------------------

    def _copy_bytes(self, query: str, params: dict[str, Any] | None = None) -> bytes:
        statement = f"COPY ({query}) TO STDOUT (FORMAT BINARY)"
        started = time.perf_counter()
        buffer = bytearray()
        # The psycopg cursor: Django's wrapper has no COPY.
        with connection.cursor() as cursor, cursor.cursor.copy(statement, params or self.params) as copy:
            for block in copy:
                buffer += block
        _log_query(statement, started)
        return bytes(buffer)

    def _fetch(self, query: str) -> list[tuple[Any, ...]]:
        if query in self._prefetched:
            return self._prefetched.pop(query)
        with connection.cursor() as cursor:
            cursor.execute(query, self.params)
            return list(cursor.fetchall())

    def _prefetch(self, queries: list[str]) -> None:
        """Run the small reads in one round trip (the statements one after the other, as one
        query); ``_fetch`` then answers each from its result."""
        with connection.cursor() as cursor:
            cursor.execute(";\n".join(queries), self.params)
            for query in queries:
                self._prefetched[query] = list(cursor.fetchall())
                cursor.nextset()

    def frames(self, *, outcomes: bool = True) -> Frames:
        queries = [self._episodes_sql(), self._plan_sql(), self._scores_sql(), self._missed_sql()]
        if outcomes:
            queries += [self._milestones_sql(), self._walks_sql()]
        if self.small:
            queries += [self._checkins_small_sql(), self._logs_small_sql()]
        self._prefetch(queries)
        # The episodes first: recent frames need each episode's window before the large reads.
        episodes = self.episodes()
        return Frames(
            checkins=self.checkins(sort=True),
            episodes=episodes,
            adherence=self.adherence(),
            scores=self.scores(),
            missed=self.missed(),
            milestones=self.milestones() if outcomes else empty_frame(MILESTONE_COLUMNS),
            walks=self.walks() if outcomes else empty_frame(WALK_COLUMNS),
        )

    def _episodes_sql(self) -> str:
        # The last check-in day per episode: one backward step on the (episode, local_date) index each.
        last = (
            ", (SELECT max(c.local_date) - date '1970-01-01' FROM "  # noqa: S608 - _meta names
            f"{CheckIn._meta.db_table} c WHERE c.episode_id = ep.id AND c.deleted_at IS NULL)"
            if self.recent_days is not None
            else ""
        )
        return (
            "SELECT ep.n, ep.procedure_id, ep.surgery_date - date '1970-01-01', "  # noqa: S608 - _meta names
            f"ep.today - date '1970-01-01', ep.clinic_id::text{last} "
            f"FROM ({self.ep}) ep ORDER BY ep.n"
        )

    def episodes(self) -> pd.DataFrame:
        recent = self.recent_days is not None
        rows = self._fetch(self._episodes_sql())
        if recent:
            assert self.recent_days is not None
            self.since = np.full(len(self.keys), np.iinfo("int64").max, dtype="int64")
            if rows:
                positions = np.array([row[0] for row in rows], dtype="int64") - 1
                self.since[positions] = recent_since(
                    np.array([NO_CHECKIN if row[5] is None else row[5] for row in rows], dtype="int64"),
                    np.array([row[3] for row in rows], dtype="int64"),
                    self.recent_days,
                )
        if not rows:
            frame = empty_frame(EPISODE_COLUMNS)
            if recent:
                frame["since"] = pd.Series([], dtype=DAY)
            return frame
        n, procedure, surgery, today, clinic = zip(*(row[:5] for row in rows), strict=True)
        frame = _frame(
            {
                "episode_id": self.episode_ids(np.array(n)),
                "procedure": _text(procedure),
                "surgery_date": _epoch_days(surgery),
                "today": _epoch_days(today),
                "clinic_id": _text(clinic),
            },
        )
        if self.since is not None:
            frame["since"] = _epoch_days(self.since[np.array(n, dtype="int64") - 1].tolist())
        return frame

    def _window(self) -> str:
        """The ids with each one's first day, for the recent reads (a far future day for an id
        that is no episode)."""
        assert self.since is not None
        self.params["since"] = ",".join(str(min(day, 2_000_000)) for day in self.since.tolist())
        return (
            "unnest(string_to_array(%(ids)s, ',')::uuid[], string_to_array(%(since)s, ',')::int4[]) "
            "AS w(id, since)"
        )

    def checkins(self, *, sort: bool) -> pd.DataFrame:
        table = CheckIn._meta.db_table
        # One row per episode with an array per column. ``= ANY`` of a constant array and the
        # ordered subquery let PostgreSQL walk the (episode, -recorded_at) index and aggregate each
        # episode as it comes: no sort, no hash table to spill, and each episode's values usually
        # in time order already (``episode_time_order`` checks, and sorts when they are not).
        arrays = _checkin_arrays("c.local_date", "c.recorded_at")
        if self.since is None:
            query = self._checkins_sql(arrays)
        else:
            # Recent frames: one range of the (episode, local_date) index per episode (a join lets
            # the planner sort the whole table instead), aggregated there; no row when it is empty.
            query = (
                f"SELECT w.id, x.* FROM {self._window()} CROSS JOIN LATERAL ("  # noqa: S608 - _meta
                f"SELECT {arrays} FROM (SELECT * FROM {table} c WHERE c.episode_id = w.id "
                "AND c.local_date >= date '1970-01-01' + w.since AND c.deleted_at IS NULL "
                "ORDER BY c.local_date, c.recorded_at) c HAVING count(*) > 0) x"
            )
        grouped = (
            _grouped_rows(self._fetch(self._checkins_small_sql()), 8)
            if self.small
            else parse_grouped_copy(
                self._copy_bytes(query),
                ("date", "timestamptz", "int2", "int2", "int2", "int4", "int2", "int4"),
            )
        )
        position = {uuid.UUID(key).bytes: n for n, key in enumerate(self.keys)}
        row_episode = np.array([position[key] for key in grouped.keys], dtype="int64")
        episode = row_episode[grouped.group]
        local, recorded, axial, limb, walking, steps, opioid, red = grouped.columns
        if sort and len(episode):
            # Sorted here: ORDER BY inside each array_agg made PostgreSQL sort every column apart
            # (check-ins 2.3 s -> 4.0 s on the bench data).
            order = episode_time_order(row_episode, grouped.group, recorded)
            episode, local, recorded, axial, limb, walking, steps, opioid, red = (
                column[order]
                for column in (episode, local, recorded, axial, limb, walking, steps, opioid, red)
            )
        return _frame(
            {
                "episode_id": _text(self.keys.take(episode)),
                "local_date": _days(local),
                "recorded_at": _instants(recorded),
                "axial_pain": axial.astype("float64"),
                "limb_pain": limb.astype("float64"),
                "walking_minutes": _missing(walking),
                "steps": _missing(steps),
                "took_opioid": _missing(opioid),
                "red_flag_count": red,
            },
        )

    def _plan_sql(self) -> str:
        assignments = Assignment._meta.db_table
        mask = " + ".join(f"(a.days_of_week ? '{code}')::int * {1 << n}" for n, code in enumerate(WEEKDAYS))
        # Each assignment with the last post-op day it can be due (its end day, the day before it was
        # ended, the patient's today) and its weekdays as a bit mask (Monday = bit 0).
        return f"""
            WITH ep AS ({self.ep})
            SELECT a.id::text, ep.n - 1, a.sessions_per_day, a.start_day,
                   LEAST(a.end_day, ep.today - ep.surgery_date, a.ended_on - ep.surgery_date - 1),
                   CASE WHEN jsonb_typeof(a.days_of_week) = 'array' THEN {mask} ELSE 0 END,
                   ep.surgery_date - date '1970-01-01'
            FROM ep JOIN {assignments} a ON a.episode_id = ep.id
            ORDER BY ep.n, a.id
            """  # noqa: S608 - table names from model _meta, values as parameters

    def _checkins_sql(self, arrays: str) -> str:
        return (
            f"SELECT c.episode_id, {arrays} "  # noqa: S608 - _meta
            f"FROM (SELECT * FROM {CheckIn._meta.db_table} c "
            "WHERE c.episode_id = ANY(string_to_array(%(ids)s, ',')::uuid[]) AND c.deleted_at IS NULL "
            "ORDER BY c.episode_id, c.recorded_at DESC) c GROUP BY c.episode_id"
        )

    def _checkins_small_sql(self) -> str:
        """``checkins``' query for a small load, fetched as text: the same arrays as integers
        (days and microseconds after the PostgreSQL epoch, 2000-01-01, as the binary COPY has them)."""
        return self._checkins_sql(
            _checkin_arrays(
                "c.local_date - date '2000-01-01'",
                "(extract(epoch FROM c.recorded_at - timestamptz '2000-01-01 00:00:00+00') * 1000000)::int8",
            )
        )

    def _logs_small_sql(self) -> str:
        """The logged days of every assignment of the episodes (days after 2000-01-01), for a small
        load: found through the episodes, so it needs no assignment list first."""
        return (
            "SELECT l.assignment_id, array_agg(l.local_date - date '2000-01-01') "  # noqa: S608 - _meta
            f"FROM {ExerciseLog._meta.db_table} l WHERE l.assignment_id IN (SELECT a.id FROM "
            f"{Assignment._meta.db_table} a WHERE a.episode_id = ANY(string_to_array(%(ids)s, ',')::uuid[])) "
            "AND l.sets_completed > 0 GROUP BY l.assignment_id"
        )

    def adherence(self) -> pd.DataFrame:
        logs = ExerciseLog._meta.db_table
        plan = self._fetch(self._plan_sql())
        # The local days of the sessions logged with at least one set, one row per assignment (an
        # array each: a million logs make thirty thousand rows). ``= ANY`` of a constant array is
        # hashed by PostgreSQL, so the logs are read once. Always one query, even with no assignment.
        if self.since is None:
            log_query = (
                "SELECT l.assignment_id, array_agg(l.local_date) "  # noqa: S608 - _meta
                f"FROM {logs} l WHERE l.assignment_id = ANY(string_to_array(%(assignments)s, ',')::uuid[]) "
                "AND l.sets_completed > 0 GROUP BY l.assignment_id"
            )
            log_params = {"assignments": ",".join(row[0] for row in plan)}
        else:
            # Recent frames: the logs from the episode's first day, a range of the (assignment,
            # local_date) index per assignment.
            log_query = (
                "SELECT w.id, x.days FROM unnest(string_to_array(%(assignments)s, ',')::uuid[], "  # noqa: S608 - _meta
                "string_to_array(%(since)s, ',')::int4[]) AS w(id, since) CROSS JOIN LATERAL ("
                f"SELECT array_agg(l.local_date) AS days FROM {logs} l WHERE l.assignment_id = w.id "
                "AND l.local_date >= date '1970-01-01' + w.since AND l.sets_completed > 0 "
                "HAVING count(*) > 0) x"
            )
            log_params = {
                "assignments": ",".join(row[0] for row in plan),
                "since": ",".join(str(int(self.since[row[1]])) for row in plan),
            }
        logged = (
            _grouped_rows(self._fetch(self._logs_small_sql()), 1)
            if self.small
            else parse_grouped_copy(self._copy_bytes(log_query, log_params), ("date",))
        )
        position = {uuid.UUID(row[0]).bytes: k for k, row in enumerate(plan)}
        log_assignment = np.array([position.get(key, -1) for key in logged.keys], dtype="int64")[logged.group]
        columns = list(zip(*plan, strict=True)) if plan else [()] * 7
        rows = adherence_rows(
            AssignmentPlan(
                episode=np.array(columns[1], dtype="int64"),
                sessions=np.array(columns[2], dtype="int64"),
                start_day=np.array(columns[3], dtype="int64"),
                last_day=np.array(columns[4], dtype="int64"),
                weekday_mask=np.array(columns[5], dtype="int64"),
                surgery=np.array(columns[6], dtype="int64"),
            ),
            log_assignment=log_assignment,
            log_day=logged.columns[0] + _PG_EPOCH_DAYS,
            log_count=np.ones(len(logged.group), dtype="int64"),
        )
        if self.since is not None and len(rows.day):
            # Days before the window would count none of their (unread) logs: left out.
            wanted = rows.day >= self.since[rows.episode]
            rows = AdherenceRows(
                rows.episode[wanted], rows.day[wanted], rows.prescribed[wanted], rows.completed[wanted]
            )
        return rows.frame(self.keys)

    def _scores_sql(self) -> str:
        table = QuestionnaireResponse._meta.db_table
        return (
            "SELECT ids.n, r.timepoint, r.instrument_id, r.percent::float8, "  # noqa: S608 - _meta names
            "(extract(epoch FROM r.submitted_at) * 1000000)::int8 "
            f"FROM {self.ids} JOIN {table} r ON r.episode_id = ids.id ORDER BY ids.n, r.submitted_at, r.id"
        )

    def scores(self) -> pd.DataFrame:
        rows = self._fetch(self._scores_sql())
        if not rows:
            return empty_frame(SCORE_COLUMNS)
        n, timepoint, instrument, score, submitted = zip(*rows, strict=True)
        return _frame(
            {
                "episode_id": self.episode_ids(np.array(n)),
                "timepoint": _text(timepoint),
                "instrument": _text(instrument),
                "score": np.array(score, dtype="float64"),
                "answered_at": _instants(np.array(submitted, dtype="int64") - _PG_EPOCH_MICROSECONDS),
            },
        )

    def _missed_sql(self) -> str:
        timepoints = ScheduleTimepoint._meta.db_table
        responses = QuestionnaireResponse._meta.db_table
        return f"""
            WITH ep AS ({self.ep})
            SELECT ep.n, t.key, ep.surgery_date + t.closes_day - date '1970-01-01'
            FROM ep JOIN {timepoints} t ON t.is_active AND (
                t.clinic_id = ep.clinic_id
                OR (t.clinic_id IS NULL AND NOT EXISTS (
                    SELECT 1 FROM {timepoints} own WHERE own.is_active AND own.clinic_id = ep.clinic_id)))
            WHERE ep.surgery_date + t.closes_day < ep.today
              AND NOT EXISTS (SELECT 1 FROM {responses} r WHERE r.episode_id = ep.id AND r.timepoint = t.key)
            ORDER BY ep.n, t.opens_day, t.key
            """  # noqa: S608 - table names from model _meta, values as parameters

    def missed(self) -> pd.DataFrame:
        rows = self._fetch(self._missed_sql())
        if not rows:
            return empty_frame(MISSED_COLUMNS)
        n, key, closed = zip(*rows, strict=True)
        return _frame(
            {
                "episode_id": self.episode_ids(np.array(n)),
                "timepoint": _text(key),
                "closed_on": _epoch_days(closed),
            },
        )

    def _milestones_sql(self) -> str:
        table = MilestoneEvent._meta.db_table
        return (
            "SELECT ids.n, m.key, m.achieved_on - date '1970-01-01' "  # noqa: S608 - table names from model _meta, values as parameters
            f"FROM {self.ids} JOIN {table} m ON m.episode_id = ids.id ORDER BY ids.n, m.achieved_on, m.key"
        )

    def milestones(self) -> pd.DataFrame:
        rows = self._fetch(self._milestones_sql())
        if not rows:
            return empty_frame(MILESTONE_COLUMNS)
        n, key, achieved = zip(*rows, strict=True)
        return _frame(
            {
                "episode_id": self.episode_ids(np.array(n)),
                "key": _text(key),
                "achieved_on": _epoch_days(achieved),
            },
        )

    def _walks_sql(self) -> str:
        # One row per episode and patient-local day with walks, and their number.
        return f"""
            WITH ep AS ({self.ep})
            SELECT ep.n, (w.at AT TIME ZONE ep.time_zone)::date - date '1970-01-01' AS day, count(*)
            FROM ep JOIN {WalkLog._meta.db_table} w ON w.episode_id = ep.id
            GROUP BY ep.n, day ORDER BY ep.n, day
            """  # noqa: S608 - table names from model _meta, values as parameters

    def walks(self) -> pd.DataFrame:
        rows = self._fetch(self._walks_sql())
        if not rows:
            return empty_frame(WALK_COLUMNS)
        n, day, count = zip(*rows, strict=True)
        return _frame(
            {
                "episode_id": _text(self.keys.take(np.array(n, dtype="int64") - 1)),
                "local_date": _epoch_days(day),
                "walks": np.array(count, dtype="int64"),
            },
        )


def _checkin_arrays(local_date: str, recorded_at: str) -> str:
    """The check-in columns as arrays, one row per episode (``local_date`` and ``recorded_at``: how
    those two are written)."""
    return (
        f"array_agg({local_date}), array_agg({recorded_at}), "
        "array_agg(c.axial_pain::int2), array_agg(c.limb_pain::int2), "
        "array_agg(COALESCE(c.walking_minutes, -1)::int2), array_agg(COALESCE(c.steps, -1)::int4), "
        "array_agg(COALESCE(c.took_opioid::int, -1)::int2), "
        "array_agg((CASE WHEN jsonb_typeof(c.red_flags) = 'array' "
        "THEN jsonb_array_length(c.red_flags) ELSE 0 END)::int4)"
    )


def _grouped_rows(rows: list[tuple[Any, ...]], arrays: int) -> Grouped:
    """Rows of (uuid key, ``arrays`` integer arrays) fetched as text: the ``Grouped`` a binary COPY
    of the same query would give (keys as raw uuid bytes, values as int64)."""
    if not rows:
        return Grouped(
            keys=[], group=np.zeros(0, dtype="int64"), columns=[np.zeros(0, dtype="int64")] * arrays
        )
    lengths = [len(row[1]) for row in rows]
    return Grouped(
        keys=[uuid.UUID(str(row[0])).bytes for row in rows],
        group=np.repeat(np.arange(len(rows), dtype="int64"), lengths),
        columns=[
            np.fromiter((value for row in rows for value in row[index]), dtype="int64", count=sum(lengths))
            for index in range(1, len(rows[0]))
        ],
    )


def _log_query(sql: str, started: float) -> None:
    """COPY bypasses Django's cursor wrapper; record it like any query so that query counts
    (``CaptureQueriesContext``, ``django_assert_num_queries``, the debug toolbar) include it."""
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.perf_counter() - started:.3f}"})


# ---------------------------------------------------------------------------------------------
# Any other database (SQLite in the demo): the ORM's values_list and pandas, same frames
# ---------------------------------------------------------------------------------------------


def _object(values: Iterable[Any]) -> pd.Series:
    return pd.Series([str(value) for value in values], dtype=object)


def _day_series(values: Iterable[date | datetime | None]) -> pd.Series:
    return pd.Series(np.array([_date_value(value) for value in values], dtype=DAY))


def _portable_frames(keys: list[str], now: datetime) -> Frames:
    order = {key: n for n, key in enumerate(keys)}
    ids = [uuid.UUID(key) for key in keys]
    episode_rows = sorted(
        Episode.objects.filter(id__in=ids)
        .order_by()
        .values_list(
            "id", "procedure_id", "surgery_date", "clinic_id", "patient__patient_profile__time_zone"
        ),
        key=lambda row: order[str(row[0])],
    )
    zones = {str(row[0]): row[4] or "UTC" for row in episode_rows}
    today = {key: now.astimezone(ZoneInfo(zone)).date() for key, zone in zones.items()}
    surgery = {str(row[0]): row[2] for row in episode_rows}
    clinic_of = {str(row[0]): row[3] for row in episode_rows}
    episodes = (
        pd.DataFrame(
            {
                "episode_id": _object(row[0] for row in episode_rows),
                "procedure": _object(row[1] for row in episode_rows),
                "surgery_date": _day_series(row[2] for row in episode_rows),
                "today": _day_series(today[str(row[0])] for row in episode_rows),
                "clinic_id": _object(row[3] for row in episode_rows),
            }
        )
        if episode_rows
        else empty_frame(EPISODE_COLUMNS)
    )

    checkin_rows = list(
        CheckIn.objects.filter(episode_id__in=ids, deleted_at__isnull=True)
        .order_by()
        .values_list(
            "episode_id",
            "local_date",
            "recorded_at",
            "axial_pain",
            "limb_pain",
            "walking_minutes",
            "steps",
            "took_opioid",
            "red_flags",
        )
    )
    checkin_rows.sort(key=lambda row: (order[str(row[0])], row[2]))
    checkins = (
        pd.DataFrame(
            {
                "episode_id": _object(row[0] for row in checkin_rows),
                "local_date": _day_series(row[1] for row in checkin_rows),
                "recorded_at": pd.Series(pd.to_datetime([row[2] for row in checkin_rows], utc=True)).astype(
                    INSTANT
                ),
                "axial_pain": pd.Series([row[3] for row in checkin_rows], dtype="float64"),
                "limb_pain": pd.Series([row[4] for row in checkin_rows], dtype="float64"),
                "walking_minutes": pd.Series(
                    [np.nan if row[5] is None else row[5] for row in checkin_rows], dtype="float64"
                ),
                "steps": pd.Series(
                    [np.nan if row[6] is None else row[6] for row in checkin_rows], dtype="float64"
                ),
                "took_opioid": pd.Series(
                    [np.nan if row[7] is None else float(row[7]) for row in checkin_rows], dtype="float64"
                ),
                "red_flag_count": pd.Series(
                    [len(row[8]) if isinstance(row[8], list) else 0 for row in checkin_rows], dtype="int64"
                ),
            }
        )
        if checkin_rows
        else empty_frame(CHECKIN_COLUMNS)
    )

    adherence = _portable_adherence(ids, order, surgery, today)

    response_rows = sorted(
        QuestionnaireResponse.objects.filter(episode_id__in=ids)
        .order_by()
        .values_list("episode_id", "timepoint", "instrument_id", "percent", "submitted_at", "id"),
        key=lambda row: (order[str(row[0])], row[4], str(row[5])),
    )
    scores = (
        pd.DataFrame(
            {
                "episode_id": _object(row[0] for row in response_rows),
                "timepoint": _object(row[1] for row in response_rows),
                "instrument": _object(row[2] for row in response_rows),
                "score": pd.Series([float(row[3]) for row in response_rows], dtype="float64"),
                "answered_at": pd.Series(pd.to_datetime([row[4] for row in response_rows], utc=True)).astype(
                    INSTANT
                ),
            }
        )
        if response_rows
        else empty_frame(SCORE_COLUMNS)
    )

    answered = {(str(row[0]), row[1]) for row in response_rows}
    clinic_ids = set(clinic_of.values())
    timepoint_rows = list(
        ScheduleTimepoint.objects.filter(Q(clinic_id__in=clinic_ids) | Q(clinic__isnull=True), is_active=True)
        .order_by()
        .values_list("clinic_id", "key", "opens_day", "closes_day")
    )
    own: dict[Any, list[tuple[str, int, int]]] = {}
    shipped: list[tuple[str, int, int]] = []
    for clinic_id, key, opens_day, closes_day in timepoint_rows:
        (shipped if clinic_id is None else own.setdefault(clinic_id, [])).append((key, opens_day, closes_day))
    missed_rows: list[tuple[str, str, date]] = []
    for row in episode_rows:
        key = str(row[0])
        schedule = sorted(own.get(clinic_of[key]) or shipped, key=lambda tp: (tp[1], tp[0]))
        for timepoint, _opens, closes in schedule:
            closed_on = pd.Timestamp(surgery[key]) + pd.Timedelta(days=closes)
            if closed_on.date() < today[key] and (key, timepoint) not in answered:
                missed_rows.append((key, timepoint, closed_on.date()))
    missed = (
        pd.DataFrame(
            {
                "episode_id": _object(row[0] for row in missed_rows),
                "timepoint": _object(row[1] for row in missed_rows),
                "closed_on": _day_series(row[2] for row in missed_rows),
            }
        )
        if missed_rows
        else empty_frame(MISSED_COLUMNS)
    )

    milestone_rows = sorted(
        MilestoneEvent.objects.filter(episode_id__in=ids)
        .order_by()
        .values_list("episode_id", "key", "achieved_on"),
        key=lambda row: (order[str(row[0])], row[2], row[1]),
    )
    milestones = (
        pd.DataFrame(
            {
                "episode_id": _object(row[0] for row in milestone_rows),
                "key": _object(row[1] for row in milestone_rows),
                "achieved_on": _day_series(row[2] for row in milestone_rows),
            }
        )
        if milestone_rows
        else empty_frame(MILESTONE_COLUMNS)
    )

    walk_counts: dict[tuple[str, date], int] = {}
    for episode_id, at in (
        WalkLog.objects.filter(episode_id__in=ids).order_by().values_list("episode_id", "at")
    ):
        key = str(episode_id)
        local = at.astimezone(ZoneInfo(zones[key])).date()
        walk_counts[(key, local)] = walk_counts.get((key, local), 0) + 1
    walk_rows = sorted(walk_counts.items(), key=lambda item: (order[item[0][0]], item[0][1]))
    walks = (
        pd.DataFrame(
            {
                "episode_id": _object(key for (key, _), _ in walk_rows),
                "local_date": _day_series(day for (_, day), _ in walk_rows),
                "walks": pd.Series([count for _, count in walk_rows], dtype="int64"),
            }
        )
        if walk_rows
        else empty_frame(WALK_COLUMNS)
    )
    return Frames(
        checkins=checkins,
        episodes=episodes,
        adherence=adherence,
        scores=scores,
        missed=missed,
        milestones=milestones,
        walks=walks,
    )


def _portable_adherence(
    ids: list[uuid.UUID], order: dict[str, int], surgery: dict[str, date], today: dict[str, date]
) -> pd.DataFrame:
    """The same rows as on PostgreSQL: the plan and the logged sessions from the ORM, then
    ``adherence_rows``."""
    plan_rows = sorted(
        (
            row
            for row in Assignment.objects.filter(episode_id__in=ids)
            .order_by()
            .values_list(
                "id", "episode_id", "sessions_per_day", "start_day", "end_day", "ended_on", "days_of_week"
            )
            if str(row[1]) in surgery
        ),
        key=lambda row: (order[str(row[1])], str(row[0])),
    )
    position = {str(row[0]): k for k, row in enumerate(plan_rows)}
    epoch = date(1970, 1, 1)
    last_days = []
    for _, episode_id, _, _, end_day, ended_on, _ in plan_rows:
        key = str(episode_id)
        bounds = [(today[key] - surgery[key]).days]
        if end_day is not None:
            bounds.append(end_day)
        if ended_on is not None:
            bounds.append((ended_on - surgery[key]).days - 1)
        last_days.append(min(bounds))
    plan = AssignmentPlan(
        episode=np.array([order[str(row[1])] for row in plan_rows], dtype="int64"),
        sessions=np.array([row[2] for row in plan_rows], dtype="int64"),
        start_day=np.array([row[3] for row in plan_rows], dtype="int64"),
        last_day=np.array(last_days, dtype="int64"),
        weekday_mask=np.array(
            [
                sum(1 << WEEKDAYS.index(code) for code in set(row[6]) if code in WEEKDAYS)
                if isinstance(row[6], list)
                else 0
                for row in plan_rows
            ],
            dtype="int64",
        ),
        surgery=np.array([(surgery[str(row[1])] - epoch).days for row in plan_rows], dtype="int64"),
    )
    logged: dict[tuple[int, int], int] = {}
    for assignment_id, local_date in (
        ExerciseLog.objects.filter(assignment_id__in=[row[0] for row in plan_rows], sets_completed__gt=0)
        .order_by()
        .values_list("assignment_id", "local_date")
    ):
        slot = (position[str(assignment_id)], (local_date - epoch).days)
        logged[slot] = logged.get(slot, 0) + 1
    rows = adherence_rows(
        plan,
        log_assignment=np.array([slot[0] for slot in logged], dtype="int64"),
        log_day=np.array([slot[1] for slot in logged], dtype="int64"),
        log_count=np.array(list(logged.values()), dtype="int64"),
    )
    return rows.frame(np.array(list(order), dtype=object))


# ---------------------------------------------------------------------------------------------
# Adherence arithmetic, shared by both paths (numpy; the rule of recovery.analytics.adherence)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignmentPlan:
    """One entry per assignment; days are post-op days, ``surgery`` is days after 1970-01-01."""

    episode: np.ndarray[Any, Any]
    sessions: np.ndarray[Any, Any]
    start_day: np.ndarray[Any, Any]
    #: The last post-op day it can be due: its end day, the day before it was ended, today.
    last_day: np.ndarray[Any, Any]
    #: Bit d set when it is prescribed on weekday d (Monday = 0).
    weekday_mask: np.ndarray[Any, Any]
    surgery: np.ndarray[Any, Any]


@dataclass(frozen=True)
class AdherenceRows:
    episode: np.ndarray[Any, Any]
    day: np.ndarray[Any, Any]
    prescribed: np.ndarray[Any, Any]
    completed: np.ndarray[Any, Any]

    def frame(self, keys: np.ndarray[Any, Any]) -> pd.DataFrame:
        return _frame(
            {
                "episode_id": _text(keys.take(self.episode)),
                "local_date": self.day.astype("datetime64[D]").astype(DAY),
                "prescribed": np.asarray(self.prescribed, dtype="int64"),
                "completed": np.asarray(self.completed, dtype="int64"),
            }
        )


def adherence_rows(
    plan: AssignmentPlan,
    *,
    log_assignment: np.ndarray[Any, Any],
    log_day: np.ndarray[Any, Any],
    log_count: np.ndarray[Any, Any],
) -> AdherenceRows:
    """Prescribed and completed sessions per episode and local day with something due, sorted.

    ``log_*``: sessions logged with at least one set, per assignment (its position in ``plan``)
    and local day (days after 1970-01-01), in any order and repeated or not. Every active (assignment, day) is expanded with
    ``np.repeat`` (no Python loop per assignment or day); a log on a day its assignment is not
    active finds no slot and is ignored, and each slot counts at most ``sessions`` sessions.
    """
    spans = np.maximum(plan.last_day - plan.start_day + 1, 0)
    which = np.repeat(np.arange(len(spans)), spans)
    offsets = np.arange(int(spans.sum())) - np.repeat(np.cumsum(spans) - spans, spans)
    day = plan.surgery[which] + plan.start_day[which] + offsets
    weekday = (day - 4) % 7  # 1970-01-01 was a Thursday (3 with Monday = 0)
    active = (plan.weekday_mask[which] >> weekday) & 1 == 1
    which, day = which[active], day[active]
    if not len(which):
        empty = np.array([], dtype="int64")
        return AdherenceRows(empty, empty, empty, empty)
    # Slots are sorted by (assignment, day) by construction: find each log's slot by bisection.
    first = int(min(day.min(), log_day.min() if len(log_day) else day.min()))
    width = int(max(day.max(), log_day.max() if len(log_day) else day.max())) - first + 1
    slot_key = which * width + (day - first)
    log_key = log_assignment * width + (log_day - first)
    # Sorted needles keep the bisection cache-friendly (3x faster on a million logs).
    order = np.argsort(log_key, kind="stable")
    log_key, log_count = log_key[order], log_count[order]
    position = np.searchsorted(slot_key, log_key)
    found = position < len(slot_key)
    found[found] = slot_key[position[found]] == log_key[found]
    logged = np.zeros(len(slot_key), dtype="int64")
    np.add.at(logged, position[found], log_count[found])
    sessions = plan.sessions[which]
    completed = np.minimum(logged, sessions)
    group_key = plan.episode[which] * width + (day - first)
    bins = (int(plan.episode.max()) + 1) * width
    groups: np.ndarray[Any, Any]
    prescribed: np.ndarray[Any, Any]
    completed_sum: np.ndarray[Any, Any]
    if bins <= _DENSE_BINS:
        # Counting into one bin per (episode, day) is linear; np.unique would sort two million keys.
        prescribed_all = np.bincount(group_key, weights=sessions, minlength=bins)
        completed_all = np.bincount(group_key, weights=completed, minlength=bins)
        groups = np.flatnonzero(np.bincount(group_key, minlength=bins))
        prescribed, completed_sum = prescribed_all[groups], completed_all[groups]
    else:
        found = np.unique(group_key, return_inverse=True)
        groups, inverse = found[0], found[1]
        prescribed = np.bincount(inverse, weights=sessions)
        completed_sum = np.bincount(inverse, weights=completed)
    return AdherenceRows(
        episode=groups // width,
        day=groups % width + first,
        prescribed=prescribed.astype("int64"),
        completed=completed_sum.astype("int64"),
    )


# ---------------------------------------------------------------------------------------------
# Fingerprint of one episode's inputs (the trajectory cache's key)
# ---------------------------------------------------------------------------------------------


def _digest(table: str, where: str, row: str = "t") -> str:
    """Row count and sum of 64-bit hashes of the rows' text: any insert, delete or change of any
    column changes it (barring a hash collision). ``table``: a table name (aliased ``t``) or a
    FROM clause."""
    if " " not in table:
        table = f"{table} t"
    return (
        f"(SELECT count(*)::text || ':' || COALESCE(sum(hashtextextended({row}::text, 0)), 0)::text "  # noqa: S608 - _meta
        f"FROM {table} WHERE {where})"
    )


#: A row version's identity: the transaction that wrote it and where it lies. Every insert and
#: update writes a new version (another ``xmin`` or another ``ctid``: the old version keeps its
#: slot until it is dead to every transaction, and a slot freed by VACUUM is reused by a later
#: transaction); a delete removes one. Hashing it is four to six times cheaper than hashing the
#: row's text (a year of check-ins: 0.3 ms against 1.3 ms), and a rewrite of the table (VACUUM
#: FULL, a restore) only costs one recomputation.
ROW_VERSION: Final = "(t.xmin::text || t.ctid::text)"


@dataclass(frozen=True)
class Fingerprint:
    """What ``trajectory_fingerprint`` found: ``digest`` of every input of one episode's trajectory,
    and ``protocol``, the part that decides its expected recovery (the clinic's adoptions and
    overrides, with their authors' names, and the shipped versions of the procedure's protocol)."""

    digest: str
    protocol: str


def trajectory_fingerprint(episode_id: uuid.UUID, *, now: datetime) -> Fingerprint | None:
    """A digest of everything ``load_frames`` and the expected recovery read for one episode, as of
    ``now``, in one query: the episode and its patient's time zone, its check-ins (deleted ones
    too), assignments and their exercise logs, questionnaire responses, milestones, walks (the
    versions of those rows: ``ROW_VERSION``), the questionnaire schedule in force, the clinic's
    protocol adoptions and overrides (with their authors' names, which the payload shows) and the
    shipped versions of its procedure's protocol (the text of those rows); plus the red flags of
    check-ins recorded in the 24 hours before ``now``, the only input that changes with the clock
    alone besides the patient-local date, which is in it too. PostgreSQL only (``xmin``, ``ctid``);
    None elsewhere, and when the episode does not exist."""
    from recovery.accounts.models import User
    from recovery.protocols.models import (
        ClinicProtocolAdoption,
        ClinicProtocolOverride,
        Protocol,
        ProtocolVersion,
    )

    if connection.vendor != "postgresql":
        return None
    checkins = CheckIn._meta.db_table
    clinic = f"(SELECT e.clinic_id FROM {Episode._meta.db_table} e WHERE e.id = %(id)s)"  # noqa: S608 - _meta
    data = [
        "(SELECT row(e.*, p.time_zone, "  # noqa: S608 - table names from model _meta, values as parameters
        "(%(now)s::timestamptz AT TIME ZONE COALESCE(p.time_zone, 'UTC'))::date)::text "
        f"FROM {Episode._meta.db_table} e LEFT JOIN {PatientProfile._meta.db_table} p "
        "ON p.user_id = e.patient_id WHERE e.id = %(id)s)",
        _digest(checkins, "t.episode_id = %(id)s", row=ROW_VERSION),
        _digest(Assignment._meta.db_table, "t.episode_id = %(id)s", row=ROW_VERSION),
        _digest(
            ExerciseLog._meta.db_table,
            f"t.assignment_id IN (SELECT a.id FROM {Assignment._meta.db_table} a WHERE a.episode_id = %(id)s)",  # noqa: S608 - _meta
            row=ROW_VERSION,
        ),
        _digest(QuestionnaireResponse._meta.db_table, "t.episode_id = %(id)s", row=ROW_VERSION),
        _digest(MilestoneEvent._meta.db_table, "t.episode_id = %(id)s", row=ROW_VERSION),
        _digest(WalkLog._meta.db_table, "t.episode_id = %(id)s", row=ROW_VERSION),
        _digest(ScheduleTimepoint._meta.db_table, f"t.clinic_id IS NULL OR t.clinic_id = {clinic}"),
        f"(SELECT COALESCE(sum(CASE WHEN jsonb_typeof(t.red_flags) = 'array' "  # noqa: S608 - _meta
        f"THEN jsonb_array_length(t.red_flags) ELSE 0 END), 0)::text FROM {checkins} t "
        "WHERE t.episode_id = %(id)s AND t.deleted_at IS NULL "
        "AND t.recorded_at > %(now)s::timestamptz - interval '24 hours' AND t.recorded_at <= %(now)s)",
    ]
    protocol = [
        _digest(ClinicProtocolAdoption._meta.db_table, f"t.clinic_id = {clinic}"),
        _digest(
            f"{ClinicProtocolOverride._meta.db_table} t LEFT JOIN {User._meta.db_table} u ON u.id = t.created_by_id",
            f"t.clinic_id = {clinic}",
            row="row(t.*, u.full_name, u.email)",
        ),
        _digest(
            ProtocolVersion._meta.db_table,
            f"t.protocol_id IN (SELECT pr.id FROM {Protocol._meta.db_table} pr JOIN {Episode._meta.db_table} e "  # noqa: S608 - _meta
            "ON pr.procedure_code = e.procedure_id WHERE e.id = %(id)s)",
            row="(t.id, t.version, t.content_hash)",
        ),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(data + protocol), {"id": episode_id, "now": now})
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return None
    return Fingerprint(
        digest="|".join(str(value) for value in row),
        protocol="|".join(str(value) for value in row[len(data) :]),
    )
