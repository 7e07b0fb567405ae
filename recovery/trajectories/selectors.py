"""Reads for trajectories and the cohort: chart-ready trajectories, the cohort list, cohort outcomes,
the research export and the signals frame the alert rules run on.

Invariants:
- Scoping: callers pass an episode they already resolved through ``recovery.episodes.access``, or a
  user, whose episodes come from ``episodes_for(user, Action.VIEW_TRAJECTORY)`` (their own care-team
  episodes; never another clinic's).
- Constant queries: data comes from ``recovery.trajectories.frames.load_frames`` (a fixed number of
  queries for any number of episodes), the expected recovery from
  ``recovery.protocols.selectors.expected_recoveries`` (at most 3 per clinic; none for one
  episode's trajectory when this process built it already for the same protocol rows:
  ``_recoveries_of``) and open alerts from ``recovery.alerts.selectors.open_alerts_for`` (1). The
  export streams in chunks of episodes, so memory stays flat and queries grow with the number of
  chunks only.
- Numbers come from ``recovery.analytics`` (pure pandas); this module only loads, joins and shapes.
- No writes to the database (the trajectory's cache entry and the process's protocol cache only).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import orjson
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
from django.contrib.auth.models import AnonymousUser

from recovery.analytics import cohort as cohort_analytics
from recovery.analytics import trajectory as tr
from recovery.core import jsonbytes
from recovery.episodes.access import Action, episodes_for
from recovery.episodes.models import Episode
from recovery.protocols.types import ExpectedRecovery, PainPoint, Source

if TYPE_CHECKING:
    from recovery.accounts.models import User

Audience = Literal["clinician", "patient"]
logger = logging.getLogger(__name__)

EXPORT_CHUNK: Final = 200
#: Computed trajectories are cached (``trajectory_json``); bump the version when the payload or its
#: computation changes, so that entries of the previous code are never served.
TRAJECTORY_CACHE_VERSION: Final = 3
TRAJECTORY_CACHE_SECONDS: Final = 3600
#: The cohort list and the alert rules read this many days up to each episode's last check-in day
#: (``recent_analysis``); at least two weeks (``frames.RECENT_MIN_DAYS``). Three weeks leave a week
#: of margin before an episode's run above the band forces a second read of its whole history.
RECENT_DAYS: Final = 21
#: ExpectedRecovery.band's rule, as shown next to the per-day expected values.
BAND_METHOD: Final = (
    "Per post-op day: linear interpolation between the listed points (each with its own source), "
    "held flat after the last listed point."
)
STATUS_WORDING: Final[dict[str, dict[str, str]]] = {
    "clinician": {"on_track": "On track", "watch": "Watch", "off_track": "Off track"},
    "patient": {
        "on_track": "You are on track",
        "watch": "A few things to look at together",
        "off_track": "Your care team is looking at your recovery with you",
    },
}
THRESHOLD_RULE: Final = (
    "Status thresholds (watch / off track) are clinic defaults, not evidence: the clinical reference "
    "found no published triage thresholds for post-operative spine apps (section 7)."
)


@dataclass(frozen=True)
class Analysis:
    episodes: pd.DataFrame
    daily: pd.DataFrame
    banded: pd.DataFrame
    signals: pd.DataFrame
    status: pd.DataFrame
    milestones: pd.DataFrame
    proms: pd.DataFrame
    prom_thresholds: pd.DataFrame
    recoveries: dict[str, ExpectedRecovery]  # by protocol key (see ``_protocol_key``)


# ---------------------------------------------------------------------------------------------
# loading and analysis


def _protocol_key(clinic_id: Any, procedure: Any) -> str:
    # Two clinics may use different versions or overrides of one procedure's protocol; the analytics
    # join bands on "procedure", so the clinic goes into that key.
    return f"{clinic_id}|{procedure}"


def _load(episode_ids: Sequence[uuid.UUID], now: datetime) -> Any:
    from recovery.trajectories.frames import load_frames  # type: ignore[import-not-found,unused-ignore]

    return load_frames(list(episode_ids), now=now)


def _recoveries(episodes: pd.DataFrame) -> dict[str, ExpectedRecovery]:
    from recovery.protocols.selectors import expected_recoveries

    found: dict[str, ExpectedRecovery] = {}
    for clinic_id, codes in episodes.groupby("clinic_id")["procedure"].unique().items():
        clinic = clinic_id if isinstance(clinic_id, uuid.UUID) else uuid.UUID(str(clinic_id))
        for code, recovery in expected_recoveries(clinic_id=clinic, procedure_codes=list(codes)).items():
            found[_protocol_key(clinic_id, code)] = recovery
    return found


def _keyed_episodes(loaded: pd.DataFrame, recoveries: Mapping[str, ExpectedRecovery]) -> pd.DataFrame:
    """The loaded episodes with ``procedure`` keyed by clinic (``_protocol_key``), the procedure's
    code in ``procedure_code``, its ``region`` ("" without a protocol) and ids as text."""
    index = pd.RangeIndex(len(loaded))
    codes = tr.column_array(loaded, "procedure", object)
    keys = [
        _protocol_key(c, p) for c, p in zip(tr.column_array(loaded, "clinic_id", object), codes, strict=True)
    ]
    region_of = {key: recovery.region for key, recovery in recoveries.items()}

    def text(values: Iterable[Any]) -> pd.Series:
        return pd.Series(np.asarray(list(values), dtype=object), index=index, dtype=object, copy=False)

    # Arrays on one index: no alignment (the frame has a few columns and, for a trajectory, one row).
    columns: dict[str, Any] = {name: loaded[name].array for name in loaded.columns}
    columns["clinic_id"] = text(tr.column_array(loaded, "clinic_id", object))
    columns["episode_id"] = pd.Series(
        [str(value) for value in tr.column_array(loaded, "episode_id", object)], index=index, dtype="str"
    )
    columns["procedure"] = pd.Series(keys, index=index, dtype="str")
    columns["procedure_code"] = text(codes)
    columns["region"] = text(region_of.get(key, "") for key in keys)
    return pd.DataFrame(columns, index=index, copy=False)


def analyse(
    frames: Any,
    *,
    now: datetime,
    outcomes: bool = True,
    recoveries: dict[str, ExpectedRecovery] | None = None,
    protocol: ProtocolFrames | None = None,
) -> Analysis:
    """Run the trajectory analytics over loaded frames (one pass for every episode in them).
    ``outcomes=False`` skips milestones and questionnaire changes (empty frames) for callers that
    only need the series, signals and status. ``recoveries``: already looked up (no query);
    ``protocol``: the same with the frames made from them (``_recoveries_of``)."""
    if protocol is None:
        protocol = ProtocolFrames(_recoveries(frames.episodes) if recoveries is None else recoveries)
    recoveries = protocol.recoveries
    episodes = _keyed_episodes(frames.episodes, recoveries)

    daily = tr.daily_series(frames.checkins, frames.adherence, episodes)
    last_day = int(max(daily["post_op_day"].max(), 0)) if len(daily) else 0
    banded = tr.with_band(daily, episodes, protocol.bands(last_day))
    signals = tr.signals(
        banded, episodes, frames.scores, frames.missed, checkins=frames.checkins, now=pd.Timestamp(now)
    )
    status = tr.assess(signals)
    if outcomes:
        milestones = tr.milestone_states(
            daily,
            episodes,
            protocol.specs(),
            frames.milestones,
            getattr(frames, "walks", None),
        )
        proms, prom_thresholds = tr.prom_changes(frames.scores, episodes, protocol.thresholds())
    else:
        milestones = pd.DataFrame(columns=list(tr.MILESTONE_COLUMNS))
        proms = pd.DataFrame(columns=list(tr.PROM_COLUMNS))
        prom_thresholds = pd.DataFrame(columns=list(tr.REACHED_COLUMNS))
    return Analysis(episodes, daily, banded, signals, status, milestones, proms, prom_thresholds, recoveries)


def recent_analysis(episode_ids: Sequence[uuid.UUID], *, now: datetime) -> Analysis:
    """The signals, status and latest values of many episodes (the cohort list, the alert rules)
    from their recent data only: the same signals and status as ``analyse`` over the whole history.

    Every signal looks back a bounded number of days from the last check-in day or from today
    (7-day means on the last check-in day and 7 days before it, the adherence week, red flags of
    the last 24 hours), except the run of days above the band, which can reach back to surgery.
    So the frames are read from each episode's ``since`` day (``RECENT_DAYS`` days up to its last
    check-in day, and at least a week before today: ``frames.recent_since``), and an episode whose
    run above the band reaches back to that day is analysed again on its whole history. That second
    read is issued every time, for no episode most of the time, so the queries stay the same.

    ``daily`` and ``banded`` hold each episode's rows from its ``since`` day on (the whole series
    for the episodes read again); milestones and questionnaire changes are not computed."""
    from recovery.trajectories.frames import load_frames

    frames = load_frames(list(episode_ids), now=now, recent_days=RECENT_DAYS, outcomes=False)
    recent = analyse(frames, now=now, outcomes=False)
    signals = recent.signals
    last = signals["last_checkin_date"].to_numpy(dtype="datetime64[D]")
    since = recent.episodes["since"].to_numpy(dtype="datetime64[D]")
    reach = (last - since).astype("int64") + 1
    run = np.maximum(signals["axial_above_run"].to_numpy(), signals["limb_above_run"].to_numpy())
    again = signals["episode_id"].to_numpy(dtype=object)[~np.isnat(last) & (run >= reach)]
    full = analyse(
        load_frames([uuid.UUID(key) for key in again], now=now, outcomes=False, constant_queries=True),
        now=now,
        outcomes=False,
        recoveries=recent.recoveries,
    )
    if not len(again):
        return recent
    redo = set(again.tolist())

    def spliced(part: pd.DataFrame, whole: pd.DataFrame, *, in_order: bool) -> pd.DataFrame:
        kept = part[~part["episode_id"].isin(redo)]
        joined = pd.concat([kept, whole[list(part.columns)]], ignore_index=True)
        if not in_order:
            return joined
        at = pd.Index(joined["episode_id"]).get_indexer(part["episode_id"])
        return joined.iloc[at].reset_index(drop=True)

    return Analysis(
        episodes=recent.episodes,
        daily=spliced(recent.daily, full.daily, in_order=False),
        banded=spliced(recent.banded, full.banded, in_order=False),
        signals=spliced(signals, full.signals, in_order=True),
        status=spliced(recent.status, full.status, in_order=True),
        milestones=recent.milestones,
        proms=recent.proms,
        prom_thresholds=recent.prom_thresholds,
        recoveries=recent.recoveries,
    )


def signals_for_episodes(episode_ids: Sequence[uuid.UUID], *, now: datetime) -> pd.DataFrame:
    """The ``signals()`` frame (one row per episode) for the alert rules, in constant queries.
    ``episode_id`` is a string; callers scope the ids themselves."""
    if not episode_ids:
        return pd.DataFrame(columns=list(tr.SIGNAL_COLUMNS))
    return recent_analysis(episode_ids, now=now).signals


# ---------------------------------------------------------------------------------------------
# JSON shaping


def _num(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, np.integer):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else round(number, 2)


def _day(value: Any) -> date | None:
    if value is None or pd.isna(value):
        return None
    day: date = pd.Timestamp(value).date()
    return day


# The payload is what the API answers, as its serializer (``api.trajectory.TrajectorySerializer``)
# would render it (a test holds the two equal): dates as ISO text, instants as ISO text in UTC with
# "Z", floats as floats. So the view answers it as it is, without running the nested serializers.


def _iso_day(value: Any) -> str | None:
    day = _day(value)
    return None if day is None else day.isoformat()


def _iso_instant(value: Any) -> str | None:
    """An instant as DRF's ``DateTimeField`` renders it (ISO 8601 in UTC, "Z" for +00:00)."""
    if value is None or pd.isna(value):
        return None
    instant = pd.Timestamp(value)
    instant = instant.tz_localize("UTC") if instant.tzinfo is None else instant.tz_convert("UTC")
    text: str = instant.to_pydatetime().isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _float(value: Any) -> float | None:
    number = _num(value)
    return None if number is None else float(number)


def _source(source: Source) -> dict[str, Any]:
    return {
        "reference": source.reference,
        "interpolated": source.interpolated,
        "method": source.method,
        "confidence": source.confidence,
        "overridden_by": source.overridden_by or None,
        "overridden_at": _iso_instant(source.overridden_at),
    }


def _points(points: Iterable[PainPoint]) -> list[dict[str, Any]]:
    return [
        {
            "post_op_day": int(p.post_op_day),
            "center": float(p.center),
            "upper": float(p.upper),
            "source": _source(p.source),
        }
        for p in sorted(points, key=lambda p: p.post_op_day)
    ]


def _column(frame: pd.DataFrame, name: str) -> np.ndarray[Any, Any] | list[Any]:
    """``_num`` of every value of a column (a year of days is 365 values per column, twenty
    columns): numbers stay a numpy array, rounded to 2 decimals for display (numpy's rounding: x *
    100 to the nearest even, / 100), which ``recovery.core.jsonbytes`` writes as they are, a gap
    (NaN) as null."""
    values = tr.column_array(frame, name)
    if values.dtype.kind == "f":
        return np.asarray(np.round(values.astype("float64"), 2))
    if values.dtype.kind in "iu":
        return np.asarray(values, dtype="int64")
    return [_num(v) for v in values]


def _dates(series: pd.Series) -> list[date | None]:
    """``_day`` of every value of a datetime64 column (NaT -> None)."""
    return list(series.to_numpy(dtype="datetime64[D]").tolist())


SERIES_COLUMNS: Final = (
    "axial_mean",
    "axial_max",
    "limb_mean",
    "limb_max",
    "walking_minutes",
    "steps",
    "opioid",
    "adherence",
    "axial_mean_7d",
    "limb_mean_7d",
    "walking_minutes_7d",
    "steps_7d",
    "adherence_7d",
)


def _milestone_payload(row: Any, recovery: ExpectedRecovery | None, audience: Audience) -> dict[str, Any]:
    spec = recovery.milestone(row.key) if recovery is not None else None
    if spec is None:
        label = row.key.replace("_", " ").capitalize()
        source: dict[str, Any] | None = None
    else:
        label = spec.patient_label if audience == "patient" else spec.label
        source = _source(spec.source)
    return {
        "key": row.key,
        "label": label,
        "metric": row.metric,
        "target": None if spec is None or spec.target is None else float(spec.target),
        "window_days": None if spec is None or spec.window_days is None else int(spec.window_days),
        "expected_by_day": None if pd.isna(row.expected_by_day) else int(row.expected_by_day),
        "expected_by": _iso_day(row.expected_by),
        "achieved_on": _iso_day(row.achieved_on),
        "achieved_day": None if pd.isna(row.achieved_day) else int(row.achieved_day),
        "state": row.state,
        "late": bool(row.late),
        "evaluable": bool(row.evaluable),
        "recorded": bool(row.recorded),
        "source": source,
    }


def _questionnaires(analysis: Analysis, episode_id: str, recovery: ExpectedRecovery | None) -> dict[str, Any]:
    scores = _of_episode(analysis.proms, episode_id)
    thresholds = {t.kind: t for t in recovery.thresholds} if recovery else {}
    return {
        "instrument": recovery.instrument if recovery else None,
        "scores": [
            {
                "timepoint": row.timepoint,
                "instrument": row.instrument,
                "score": _float(row.score),
                "answered_at": _iso_instant(row.answered_at),
                "baseline": _float(row.baseline),
                "change": _float(row.change),
                "reached": [
                    {"kind": kind, "label": thresholds[kind].label if kind in thresholds else kind}
                    for kind in row.reached
                ],
            }
            for row in _records(scores)
        ],
        "expected": [
            {
                "timepoint": p.timepoint,
                "post_op_day": int(p.post_op_day),
                "instrument": p.instrument,
                "expected_score": float(p.expected_score),
                "source": _source(p.source),
            }
            for p in (recovery.proms if recovery else ())
        ],
        "thresholds": [
            {
                "instrument": t.instrument,
                "kind": t.kind,
                "improvement": float(t.improvement),
                "label": t.label,
                "source": _source(t.source),
            }
            for t in (recovery.thresholds if recovery else ())
        ],
    }


def _reasons(reasons: list[dict[str, Any]], audience: Audience) -> list[dict[str, Any]]:
    return [{"code": r["code"], "level": r["level"], "text": r[audience]} for r in reasons]


POSITION_COLUMNS: Final = (
    "local_date",
    "post_op_day",
    *(f"{site}_{part}" for site in ("axial", "limb") for part in ("mean", "mean_7d", "center", "upper")),
    "axial_above_upper",
    "limb_above_upper",
)


def _of_episode(frame: pd.DataFrame, episode_id: str) -> pd.DataFrame:
    """The rows of one episode (the frame itself when it holds no other: one episode's view)."""
    mine = tr.column_array(frame, "episode_id", object) == episode_id
    return frame if mine.all() else frame[mine]


def _row_of(frame: pd.DataFrame, episode_id: str, columns: Iterable[str]) -> dict[str, Any]:
    """``columns`` of the one row of an episode in a frame with one row per episode, as a dict."""
    at = int(np.flatnonzero(tr.column_array(frame, "episode_id", object) == episode_id)[0])
    return {name: tr.column_array(frame, name)[at] for name in columns}


def _records(frame: pd.DataFrame) -> list[SimpleNamespace]:
    """The rows of a (small) frame, each with its columns as attributes (what ``itertuples``
    gives, without making a namedtuple class per call)."""
    columns = {name: values.tolist() for name, values in frame.items()}
    return [
        SimpleNamespace(**dict(zip(columns, row, strict=True))) for row in zip(*columns.values(), strict=True)
    ]


def trajectory_payload(analysis: Analysis, episode_id: str, *, audience: Audience) -> dict[str, Any]:
    """The API's answer (``GET /episodes/{id}/trajectory/``) for one analysed episode, JSON-ready."""
    ep = _row_of(
        analysis.episodes, episode_id, ("procedure", "procedure_code", "region", "surgery_date", "today")
    )
    recovery = analysis.recoveries.get(ep["procedure"])
    daily = _of_episode(analysis.banded, episode_id)
    signal = _row_of(analysis.signals, episode_id, tr.SIGNAL_COLUMNS)
    verdict = _row_of(analysis.status, episode_id, ("status", "risk", "reasons"))
    checked = np.flatnonzero(tr.column_array(daily, "checkins") > 0)
    position = None
    if len(checked):
        at = int(checked[-1])
        row = {name: tr.column_array(daily, name)[at] for name in POSITION_COLUMNS}
        position = {
            "date": _iso_day(row["local_date"]),
            "post_op_day": int(row["post_op_day"]),
            **{
                f"{site}_{part}": _float(row[f"{site}_{part}"])
                for site in ("axial", "limb")
                for part in ("mean", "mean_7d", "center", "upper")
            },
            "axial_above_upper": bool(row["axial_above_upper"]),
            "limb_above_upper": bool(row["limb_above_upper"]),
        }
    post_op_days = _column(daily, "post_op_day")
    payload: dict[str, Any] = {
        "episode": episode_id,
        "procedure": ep["procedure_code"],
        "region": ep["region"] or None,
        "surgery_date": _iso_day(ep["surgery_date"]),
        "as_of": _iso_day(ep["today"]),
        "post_op_day": int(signal["post_op_day"]),
        "audience": audience,
        "series": {
            "post_op_day": post_op_days,
            "date": _dates(daily["local_date"]),
            "checkins": _column(daily, "checkins"),
            **{name: _column(daily, name) for name in SERIES_COLUMNS},
        },
        "expected": {
            "post_op_day": post_op_days,
            **{name: _column(daily, name) for name in tr.BAND_VALUE_COLUMNS},
            "method": BAND_METHOD,
            "protocol_version": int(recovery.version) if recovery else None,
            "axial_points": _points(recovery.axial) if recovery else [],
            "limb_points": _points(recovery.limb) if recovery else [],
        },
        "position": position,
        "milestones": [
            _milestone_payload(row, recovery, audience)
            for row in _records(_of_episode(analysis.milestones, episode_id))
        ],
        "questionnaires": _questionnaires(analysis, episode_id, recovery),
        "status": verdict["status"],
        "status_label": STATUS_WORDING[audience][verdict["status"]],
        "reasons": _reasons(verdict["reasons"], audience),
    }
    if audience == "clinician":
        payload["risk"] = round(float(verdict["risk"]), 2)
        payload["status_rule"] = THRESHOLD_RULE
        payload["signals"] = {
            "last_checkin_date": _iso_day(signal["last_checkin_date"]),
            "days_without_checkin": int(signal["days_without_checkin"]),
            "axial_above_run": int(signal["axial_above_run"]),
            "limb_above_run": int(signal["limb_above_run"]),
            "pain_rise": _float(signal["pain_rise"]),
            "pain_rise_site": signal["pain_rise_site"],
            "adherence_week": _float(signal["adherence_week"]),
            "missed_timepoints": [str(key) for key in signal["missed_timepoints"]],
            "red_flags_last_24h": int(signal["red_flags_last_24h"]),
        }
    return payload


def trajectory_for(episode: Episode, *, audience: Audience, now: datetime) -> dict[str, Any]:
    """``trajectory_json`` parsed: the chart-ready trajectory as the API answers it."""
    found: dict[str, Any] = orjson.loads(trajectory_json(episode, audience=audience, now=now))
    return found


def trajectory_json(episode: Episode, *, audience: Audience, now: datetime) -> bytes:
    """The chart-ready trajectory of one episode the caller already resolved through the policy,
    as the JSON the API answers (``trajectory_payload`` written by ``recovery.core.jsonbytes``).

    Cached (Django's cache, Redis outside the demo) under a key made of the audience and
    ``frames.trajectory_fingerprint``: a digest of every row the computation reads, the patient's
    local date and the red flags of the last 24 hours, taken in one query. Any write to any input,
    through any path (services, admin, SQL), gives another key, so no write path has to invalidate
    anything. One entry per episode and audience (the latest computed, as JSON bytes: nothing to
    rebuild or render on a repeated view), expiring after ``TRAJECTORY_CACHE_SECONDS``;
    ``services.trajectory_cache_forget`` drops an episode's entries at once (erasure). A cache that
    is down only costs the computation."""
    from recovery.trajectories.frames import trajectory_fingerprint

    fingerprint = trajectory_fingerprint(episode.pk, now=now)
    key = trajectory_cache_key(episode.pk, audience)
    digest = None
    protocol = None
    if fingerprint is not None:
        digest = hashlib.sha256(
            f"{TRAJECTORY_CACHE_VERSION}|{audience}|{fingerprint.digest}".encode()
        ).hexdigest()
        cached = _cache_get(key)
        # One entry per episode and audience, holding the digest it was computed for: the memory
        # stays bounded, and an entry computed from other data is never served.
        if isinstance(cached, tuple) and len(cached) == 2 and cached[0] == digest:
            found: bytes = cached[1]
            return found
        protocol = _recoveries_of(episode, fingerprint.protocol)
    analysis = analyse(_load([episode.pk], now), now=now, protocol=protocol)
    body = jsonbytes.dumps(trajectory_payload(analysis, str(episode.pk), audience=audience))
    if digest is not None:
        _cache_set(key, (digest, body))
    return body


class ProtocolFrames:
    """Expected recoveries (keyed as ``analyse`` wants them) with the frames the analytics read
    from them: the bands, the milestone specs and the questionnaire thresholds, each built on first
    use and handed out as copies (the analytics never see a shared frame)."""

    BANDS_KEPT: Final = 8

    def __init__(self, recoveries: dict[str, ExpectedRecovery]) -> None:
        self.recoveries = recoveries
        self._lock = threading.Lock()
        self._specs: pd.DataFrame | None = None
        self._thresholds: pd.DataFrame | None = None
        self._bands: OrderedDict[int, pd.DataFrame] = OrderedDict()

    def specs(self) -> pd.DataFrame:
        with self._lock:
            if self._specs is None:
                self._specs = tr.milestone_specs_frame(self.recoveries)
            return self._specs.copy()

    def thresholds(self) -> pd.DataFrame:
        with self._lock:
            if self._thresholds is None:
                self._thresholds = tr.thresholds_frame(self.recoveries)
            return self._thresholds.copy()

    def bands(self, last_day: int) -> pd.DataFrame:
        with self._lock:
            found = self._bands.get(last_day)
            if found is None:
                found = self._bands[last_day] = tr.bands_frame(self.recoveries, last_day)
                while len(self._bands) > self.BANDS_KEPT:
                    self._bands.popitem(last=False)
            else:
                self._bands.move_to_end(last_day)
            return found.copy()


#: Expected recoveries already built in this process, by clinic, procedure and the digest of the
#: rows they are made of (``frames.Fingerprint.protocol``): another adoption, override or shipped
#: version gives another key, so an entry is never stale. Least recently used out first.
_RECOVERIES: OrderedDict[tuple[str, str, str], ProtocolFrames] = OrderedDict()
RECOVERIES_KEPT: Final = 256
_RECOVERIES_LOCK = threading.Lock()


def _recoveries_of(episode: Episode, protocol_digest: str) -> ProtocolFrames:
    """``_recoveries`` of one episode and their frames, from the process's cache when its protocol
    rows have not changed: 3 queries, the protocol's parsing and its frames saved."""
    entry = (str(episode.clinic_id), str(episode.procedure_id), protocol_digest)
    with _RECOVERIES_LOCK:
        found = _RECOVERIES.get(entry)
        if found is not None:
            _RECOVERIES.move_to_end(entry)
            return found
    from recovery.protocols.selectors import expected_recoveries

    built = ProtocolFrames(
        {
            _protocol_key(episode.clinic_id, code): recovery
            for code, recovery in expected_recoveries(
                clinic_id=episode.clinic_id, procedure_codes=[episode.procedure_id]
            ).items()
        }
    )
    with _RECOVERIES_LOCK:
        _RECOVERIES[entry] = built
        while len(_RECOVERIES) > RECOVERIES_KEPT:
            _RECOVERIES.popitem(last=False)
    return built


def trajectory_cache_key(episode_id: uuid.UUID, audience: Audience) -> str:
    """The cache entry of one episode's trajectory for one audience
    (``services.trajectory_cache_forget`` drops both audiences' entries)."""
    return f"trajectory:{episode_id}:{audience}"


def _cache_get(key: str) -> Any:
    from django.core.cache import cache
    from redis.exceptions import RedisError

    try:
        return cache.get(key)
    except RedisError:
        logger.warning("trajectory cache unavailable", exc_info=True)
        return None


def _cache_set(key: str, entry: tuple[str, bytes]) -> None:
    from django.core.cache import cache
    from redis.exceptions import RedisError

    try:
        cache.set(key, entry, timeout=TRAJECTORY_CACHE_SECONDS)
    except RedisError:
        logger.warning("trajectory cache unavailable", exc_info=True)


# ---------------------------------------------------------------------------------------------
# cohort


def _scoped(user: User | AnonymousUser) -> Any:
    return episodes_for(user, Action.VIEW_TRAJECTORY)


def _open_alerts(episode_ids: list[uuid.UUID]) -> Mapping[uuid.UUID, list[Any]]:
    from recovery.alerts.selectors import open_alerts_for

    return open_alerts_for(episode_ids)


def cohort_for(
    user: User | AnonymousUser, *, now: datetime, filters: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The user's episodes with post-op day, status, latest pains, adherence and open alerts,
    most at risk first. ``filters``: ``procedure`` (code), ``status`` (on_track|watch|off_track),
    ``episode_status`` (planned|recovering|completed)."""
    qs = _scoped(user)
    if filters.get("procedure"):
        qs = qs.filter(procedure_id=filters["procedure"])
    if filters.get("episode_status"):
        qs = qs.filter(status=filters["episode_status"])
    # Plain tuples, not model instances: the cohort can hold thousands of episodes.
    episodes = {
        str(row[0]): row
        for row in qs.values_list(
            "pk", "patient_id", "patient__full_name", "procedure_id", "surgery_date", "status"
        )
    }
    if not episodes:
        return []
    ids = [row[0] for row in episodes.values()]
    analysis = recent_analysis(ids, now=now)
    alerts = _open_alerts(ids)
    table = cohort_analytics.cohort_table(analysis.banded, analysis.signals, analysis.status)
    if filters.get("status"):
        table = table[table["status"] == filters["status"]]
    rows = []
    for row in table.itertuples(index=False):
        pk, patient_id, patient_name, procedure, surgery_date, episode_status = episodes[row.episode_id]
        open_alerts = alerts.get(pk, [])
        rows.append(
            {
                "episode": pk,
                "patient": {"id": patient_id, "name": patient_name},
                "procedure": procedure,
                "surgery_date": surgery_date,
                "episode_status": episode_status,
                "post_op_day": int(row.post_op_day),
                "status": row.status,
                "risk": round(float(row.risk), 2),
                "reasons": _reasons(row.reasons, "clinician"),
                "latest": {
                    "date": _day(row.latest_date),
                    "axial_mean": _num(row.latest_axial),
                    "limb_mean": _num(row.latest_limb),
                    "axial_mean_7d": _num(row.latest_axial_7d),
                    "limb_mean_7d": _num(row.latest_limb_7d),
                },
                "days_without_checkin": int(row.days_without_checkin),
                "adherence_week": _num(row.adherence_week),
                "open_alerts": [
                    {
                        "id": a.id,
                        "rule": a.rule,
                        "severity": a.severity,
                        "raised_at": a.raised_at,
                        "reason": a.reason,
                    }
                    for a in open_alerts
                ],
            }
        )
    # Open alerts break ties in risk: an episode someone must act on comes first.
    rows.sort(key=lambda r: (-r["risk"], -len(r["open_alerts"]), -r["post_op_day"], str(r["episode"])))
    return rows


def cohort_outcomes(user: User | AnonymousUser, *, procedure: str, now: datetime) -> dict[str, Any]:
    """Pain by post-op day (median, IQR) against the expected curve, milestone attainment and the
    share reaching each questionnaire threshold at 3 months, over the user's episodes of ``procedure``."""
    ids = list(_scoped(user).filter(procedure_id=procedure).values_list("pk", flat=True))
    base: dict[str, Any] = {"procedure": procedure, "episodes": len(ids)}
    if not ids:
        return {
            **base,
            "pain": [],
            "expected": None,
            "milestones": [],
            "thresholds": [],
            "questionnaire_timepoint": "month_3",
        }
    analysis = analyse(_load(ids, now), now=now)
    keys = analysis.episodes["procedure"].unique()
    recovery = analysis.recoveries.get(str(keys[0])) if len(keys) else None
    pain = cohort_analytics.pain_by_day(analysis.banded)
    attainment = cohort_analytics.milestone_attainment(analysis.milestones)
    shares = cohort_analytics.threshold_share(
        analysis.prom_thresholds, tr.thresholds_frame(analysis.recoveries), timepoint="month_3"
    )
    labels = {m.key: m.label for m in recovery.milestones} if recovery else {}
    threshold_labels = {t.kind: t for t in recovery.thresholds} if recovery else {}
    return {
        **base,
        "protocol_version": recovery.version if recovery else None,
        "pain": [
            {
                "post_op_day": int(row.post_op_day),
                "n": int(row.n),
                **{
                    f"{site}_{stat}": _num(getattr(row, f"{site}_{stat}"))
                    for site in ("axial", "limb")
                    for stat in ("median", "q1", "q3", "n")
                },
                **{name: _num(getattr(row, name)) for name in tr.BAND_VALUE_COLUMNS},
            }
            for row in pain.itertuples(index=False)
        ],
        "expected": {
            "method": BAND_METHOD,
            "axial_points": _points(recovery.axial),
            "limb_points": _points(recovery.limb),
        }
        if recovery
        else None,
        "milestones": [
            {
                "key": row.key,
                "label": labels.get(row.key, row.key),
                "met": int(row.met),
                "missed": int(row.missed),
                "pending": int(row.pending),
                "rate": _num(row.rate),
                "source": _source(recovery.milestone(row.key).source)  # type: ignore[union-attr]
                if recovery and recovery.milestone(row.key)
                else None,
            }
            for row in attainment.itertuples(index=False)
        ],
        "questionnaire_timepoint": "month_3",
        "thresholds": [
            {
                "instrument": row.instrument,
                "kind": row.kind,
                "label": row.label,
                "improvement": _num(row.improvement),
                "eligible": int(row.eligible),
                "reached": int(row.reached),
                "share": _num(row.share),
                "source": _source(threshold_labels[row.kind].source)
                if row.kind in threshold_labels
                else None,
            }
            for row in shares.itertuples(index=False)
        ],
    }


EXPORT_COLUMNS: Final = (
    "episode_id",
    "procedure",
    "post_op_day",
    "local_date",
    "checkins",
    "axial_mean",
    "axial_max",
    "limb_mean",
    "limb_max",
    "walking_minutes",
    "steps",
    "opioid",
    "prescribed",
    "completed",
    "adherence",
    "axial_mean_7d",
    "limb_mean_7d",
    "walking_minutes_7d",
    "steps_7d",
    "adherence_7d",
    "axial_center",
    "axial_upper",
    "limb_center",
    "limb_upper",
)


def export_rows(
    user: User | AnonymousUser, *, now: datetime, chunk: int = EXPORT_CHUNK
) -> Iterator[list[Any]]:
    """The daily series of every visible episode, one row per episode-day, pseudonymous (episode id
    and procedure only: no names, emails or dates of birth). Yields the header first, then rows,
    loading ``chunk`` episodes at a time so memory stays flat."""
    yield list(EXPORT_COLUMNS)
    ids = list(_scoped(user).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), chunk):
        analysis = analyse(_load(ids[start : start + chunk], now), now=now, outcomes=False)
        frame = analysis.banded.merge(
            analysis.episodes[["episode_id", "procedure_code"]], on="episode_id", how="left"
        )
        frame = frame.assign(procedure=frame["procedure_code"])
        for values in frame[list(EXPORT_COLUMNS)].itertuples(index=False, name=None):
            yield [_csv(v) for v in values]


def _csv(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else round(float(value), 3)
    if isinstance(value, np.integer):
        return int(value)
    return value
