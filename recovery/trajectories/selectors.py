"""Reads for trajectories and the cohort: chart-ready trajectories, the cohort list, cohort outcomes,
the research export and the signals frame the alert rules run on.

Invariants:
- Scoping: callers pass an episode they already resolved through ``recovery.episodes.access``, or a
  user, whose episodes come from ``episodes_for(user, Action.VIEW_TRAJECTORY)`` (their own care-team
  episodes; never another clinic's).
- Constant queries: data comes from ``recovery.trajectories.frames.load_frames`` (a fixed number of
  queries for any number of episodes), the expected recovery from
  ``recovery.protocols.selectors.expected_recoveries`` (at most 3 per clinic) and open alerts from
  ``recovery.alerts.selectors.open_alerts_for`` (1). The export streams in chunks of episodes, so
  memory stays flat and queries grow with the number of chunks only.
- Numbers come from ``recovery.analytics`` (pure pandas); this module only loads, joins and shapes.
- No writes, no side effects.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
from django.contrib.auth.models import AnonymousUser

from recovery.analytics import cohort as cohort_analytics
from recovery.analytics import trajectory as tr
from recovery.episodes.access import Action, episodes_for
from recovery.episodes.models import Episode
from recovery.protocols.types import ExpectedRecovery, PainPoint, Source

if TYPE_CHECKING:
    from recovery.accounts.models import User

Audience = Literal["clinician", "patient"]

EXPORT_CHUNK: Final = 200
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


def analyse(frames: Any, *, now: datetime, outcomes: bool = True) -> Analysis:
    """Run the trajectory analytics over loaded frames (one pass for every episode in them).
    ``outcomes=False`` skips milestones and questionnaire changes (empty frames) for callers that
    only need the series, signals and status."""
    episodes = frames.episodes.copy()
    recoveries = _recoveries(episodes)
    episodes["procedure_code"] = episodes["procedure"]
    episodes["procedure"] = [
        _protocol_key(c, p) for c, p in zip(episodes["clinic_id"], episodes["procedure"], strict=True)
    ]
    episodes["region"] = episodes["procedure"].map({k: r.region for k, r in recoveries.items()}).fillna("")
    episodes["episode_id"] = episodes["episode_id"].astype(object).map(str)

    daily = tr.daily_series(frames.checkins, frames.adherence, episodes)
    last_day = int(max(daily["post_op_day"].max(), 0)) if len(daily) else 0
    banded = tr.with_band(daily, episodes, tr.bands_frame(recoveries, last_day))
    signals = tr.signals(
        banded, episodes, frames.scores, frames.missed, checkins=frames.checkins, now=pd.Timestamp(now)
    )
    status = tr.assess(signals)
    if outcomes:
        milestones = tr.milestone_states(
            daily,
            episodes,
            tr.milestone_specs_frame(recoveries),
            frames.milestones,
            getattr(frames, "walks", None),
        )
        proms, prom_thresholds = tr.prom_changes(frames.scores, episodes, tr.thresholds_frame(recoveries))
    else:
        milestones = pd.DataFrame(columns=list(tr.MILESTONE_COLUMNS))
        proms = pd.DataFrame(columns=list(tr.PROM_COLUMNS))
        prom_thresholds = pd.DataFrame(columns=list(tr.REACHED_COLUMNS))
    return Analysis(episodes, daily, banded, signals, status, milestones, proms, prom_thresholds, recoveries)


def signals_for_episodes(episode_ids: Sequence[uuid.UUID], *, now: datetime) -> pd.DataFrame:
    """The ``signals()`` frame (one row per episode) for the alert rules, in constant queries.
    ``episode_id`` is a string; callers scope the ids themselves."""
    if not episode_ids:
        return pd.DataFrame(columns=list(tr.SIGNAL_COLUMNS))
    return analyse(_load(episode_ids, now), now=now, outcomes=False).signals


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


def _source(source: Source) -> dict[str, Any]:
    return {
        "reference": source.reference,
        "interpolated": source.interpolated,
        "method": source.method,
        "confidence": source.confidence,
        "overridden_by": source.overridden_by or None,
        "overridden_at": source.overridden_at,
    }


def _points(points: Iterable[PainPoint]) -> list[dict[str, Any]]:
    return [
        {"post_op_day": p.post_op_day, "center": p.center, "upper": p.upper, "source": _source(p.source)}
        for p in sorted(points, key=lambda p: p.post_op_day)
    ]


def _column(frame: pd.DataFrame, name: str) -> list[float | None]:
    return [_num(v) for v in frame[name].to_numpy()]


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
        "target": None if spec is None else spec.target,
        "window_days": None if spec is None else spec.window_days,
        "expected_by_day": None if pd.isna(row.expected_by_day) else int(row.expected_by_day),
        "expected_by": _day(row.expected_by),
        "achieved_on": _day(row.achieved_on),
        "achieved_day": None if pd.isna(row.achieved_day) else int(row.achieved_day),
        "state": row.state,
        "late": bool(row.late),
        "evaluable": bool(row.evaluable),
        "recorded": bool(row.recorded),
        "source": source,
    }


def _questionnaires(analysis: Analysis, episode_id: str, recovery: ExpectedRecovery | None) -> dict[str, Any]:
    scores = analysis.proms[analysis.proms["episode_id"] == episode_id]
    thresholds = {t.kind: t for t in recovery.thresholds} if recovery else {}
    return {
        "instrument": recovery.instrument if recovery else None,
        "scores": [
            {
                "timepoint": row.timepoint,
                "instrument": row.instrument,
                "score": _num(row.score),
                "answered_at": row.answered_at,
                "baseline": _num(row.baseline),
                "change": _num(row.change),
                "reached": [
                    {"kind": kind, "label": thresholds[kind].label if kind in thresholds else kind}
                    for kind in row.reached
                ],
            }
            for row in scores.itertuples(index=False)
        ],
        "expected": [
            {
                "timepoint": p.timepoint,
                "post_op_day": p.post_op_day,
                "instrument": p.instrument,
                "expected_score": p.expected_score,
                "source": _source(p.source),
            }
            for p in (recovery.proms if recovery else ())
        ],
        "thresholds": [
            {
                "instrument": t.instrument,
                "kind": t.kind,
                "improvement": t.improvement,
                "label": t.label,
                "source": _source(t.source),
            }
            for t in (recovery.thresholds if recovery else ())
        ],
    }


def _reasons(reasons: list[dict[str, Any]], audience: Audience) -> list[dict[str, Any]]:
    return [{"code": r["code"], "level": r["level"], "text": r[audience]} for r in reasons]


def trajectory_payload(analysis: Analysis, episode_id: str, *, audience: Audience) -> dict[str, Any]:
    ep = analysis.episodes.set_index("episode_id").loc[episode_id]
    recovery = analysis.recoveries.get(ep["procedure"])
    daily = analysis.banded[analysis.banded["episode_id"] == episode_id]
    signal = analysis.signals.set_index("episode_id").loc[episode_id]
    verdict = analysis.status.set_index("episode_id").loc[episode_id]
    latest = daily[daily["checkins"] > 0].tail(1)
    position = None
    if len(latest):
        row = latest.iloc[0]
        position = {
            "date": _day(row["local_date"]),
            "post_op_day": int(row["post_op_day"]),
            **{
                f"{site}_{part}": _num(row[f"{site}_{part}"])
                for site in ("axial", "limb")
                for part in ("mean", "mean_7d", "center", "upper")
            },
            "axial_above_upper": bool(row["axial_above_upper"]),
            "limb_above_upper": bool(row["limb_above_upper"]),
        }
    payload: dict[str, Any] = {
        "episode": uuid.UUID(episode_id),
        "procedure": ep["procedure_code"],
        "region": ep["region"] or None,
        "surgery_date": _day(ep["surgery_date"]),
        "as_of": _day(ep["today"]),
        "post_op_day": int(signal["post_op_day"]),
        "audience": audience,
        "series": {
            "post_op_day": [int(v) for v in daily["post_op_day"]],
            "date": [_day(v) for v in daily["local_date"]],
            "checkins": [int(v) for v in daily["checkins"]],
            **{name: _column(daily, name) for name in SERIES_COLUMNS},
        },
        "expected": {
            "post_op_day": [int(v) for v in daily["post_op_day"]],
            **{name: _column(daily, name) for name in tr.BAND_VALUE_COLUMNS},
            "method": BAND_METHOD,
            "protocol_version": recovery.version if recovery else None,
            "axial_points": _points(recovery.axial) if recovery else [],
            "limb_points": _points(recovery.limb) if recovery else [],
        },
        "position": position,
        "milestones": [
            _milestone_payload(row, recovery, audience)
            for row in analysis.milestones[analysis.milestones["episode_id"] == episode_id].itertuples(
                index=False
            )
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
            "last_checkin_date": _day(signal["last_checkin_date"]),
            "days_without_checkin": int(signal["days_without_checkin"]),
            "axial_above_run": int(signal["axial_above_run"]),
            "limb_above_run": int(signal["limb_above_run"]),
            "pain_rise": _num(signal["pain_rise"]),
            "pain_rise_site": signal["pain_rise_site"],
            "adherence_week": _num(signal["adherence_week"]),
            "missed_timepoints": list(signal["missed_timepoints"]),
            "red_flags_last_24h": int(signal["red_flags_last_24h"]),
        }
    return payload


def trajectory_for(episode: Episode, *, audience: Audience, now: datetime) -> dict[str, Any]:
    """The chart-ready trajectory of one episode the caller already resolved through the policy."""
    analysis = analyse(_load([episode.pk], now), now=now)
    return trajectory_payload(analysis, str(episode.pk), audience=audience)


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
    analysis = analyse(_load(ids, now), now=now, outcomes=False)
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
