"""Writes for alerts: raising (red flag from a check-in, trend rules from the signals frame),
acknowledging, resolving, escalating, and notifying the care team.

Invariants:

- At most one unresolved alert per (episode, rule): the partial unique index
  ``alert_one_unresolved_per_rule`` decides, not a read-then-write. Every insert runs in a savepoint
  and a duplicate-key error means "already open"; two evaluators racing raise once.
- Red flags (urgent): raised from the check-in by a task enqueued on commit. The alert's
  ``data["checkins"]`` lists every check-in (with its red flags) it stands for. A check-in whose flags
  are already in any red-flag alert of the episode raises nothing (replays of the task or of the
  check-in). A new red-flag check-in while a red-flag alert is unresolved is appended to that alert
  (an ``updated`` event, and the care team is notified again) instead of a second alert: one place for
  the clinician to see every report, and the de-duplication rule stays one per (episode, rule).
- Trend rules: a hit raises an alert unless the same rule's alert on the episode is unresolved, or was
  resolved while the condition still held (``cleared_at`` null): a clinician who resolves "pain above
  band" is not re-alerted every 15 minutes for the same episode of pain; the rule raises again once
  the condition has cleared and come back. A missed questionnaire raises once per timepoint. When a
  condition clears, the alert is not resolved automatically: ``cleared_at`` is set and a clinician
  resolves it with a note.
- Acknowledge and resolve are the care team's (``Action.HANDLE_ALERTS``). Acknowledging an
  acknowledged alert and resolving a resolved one change nothing (replay-safe); acknowledging a
  resolved one is a ``Conflict``. Resolving needs a note. Every change is an ``AlertEvent``.
- Escalation: an urgent alert still ``open`` 2 hours after it was raised is escalated once, to the
  surgeon: the conditional UPDATE on ``escalated_at IS NULL`` picks the single winner.
- Notifications (urgent alerts only) go out after commit, one ``AlertNotice`` per (event, recipient)
  claimed by insert before sending, so a replayed task never notifies twice. A failed send (SMTP or
  network) is recorded as failed, not retried: a retry could notify twice, and escalation follows.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
from django.db import IntegrityError, transaction
from django.utils import timezone

from recovery.accounts.models import User
from recovery.alerts import rules
from recovery.alerts.models import (
    Alert,
    AlertEvent,
    AlertNotice,
    AlertRule,
    AlertState,
    EventKind,
    NoticeState,
    Severity,
)
from recovery.checkins.models import CheckIn
from recovery.checkins.vocabulary import RED_FLAGS
from recovery.core.errors import Conflict, NotPermitted, ValidationFailed
from recovery.episodes.access import Action, can
from recovery.episodes.models import Episode
from recovery.notifications.push import PushPayload
from recovery.notifications.services import notify_user
from recovery.outbox import services as outbox

logger = logging.getLogger(__name__)

#: An urgent alert not acknowledged this long after it was raised goes to the surgeon again
#: (the issue's 2 hours; clinic default, not evidence).
ESCALATE_AFTER: Final = timedelta(hours=2)
NOTE_MAX_LENGTH: Final = 2000
_LABELS: Final = {flag.code: flag.label for flag in RED_FLAGS}
_CONCERNS: Final = {flag.code: flag.concern for flag in RED_FLAGS}


class RaiseOutcome(StrEnum):
    CREATED = "created"
    APPENDED = "appended"
    ALREADY = "already"
    NOTHING = "nothing"


@dataclass(frozen=True)
class EvaluationResult:
    raised: int
    skipped: int


def _event(
    alert: Alert,
    kind: EventKind,
    *,
    at: datetime,
    from_state: str = "",
    by: User | None = None,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> AlertEvent:
    return AlertEvent.objects.create(
        alert=alert, from_state=from_state, to_state=kind, by=by, note=note, data=data or {}, at=at
    )


def _notify_on_commit(event: AlertEvent) -> None:
    """Notify the care team through the outbox (in this transaction; published after commit, or
    relayed later when the broker is down). ``event_notify`` claims each recipient once, so a second
    publication notifies nobody twice."""
    from recovery.alerts.tasks import notify_event

    outbox.enqueue(notify_event, event.pk, dedupe_key=f"alert-event:{event.pk}")


# --- red flags --------------------------------------------------------------------------------------


def _checkin_entry(checkin: CheckIn) -> dict[str, Any]:
    return {
        "checkin_id": str(checkin.pk),
        "recorded_at": checkin.recorded_at.isoformat(),
        "local_date": checkin.local_date.isoformat(),
        "red_flags": list(checkin.red_flags),
    }


def _red_flag_reason(codes: list[str]) -> str:
    symptoms = "; ".join(f"{_LABELS.get(c, c)} (possible {_CONCERNS.get(c, 'complication')})" for c in codes)
    return f"Red flag reported: {symptoms}. Contact the patient now."


def _already_alerted(episode_id: uuid.UUID, checkin: CheckIn) -> bool:
    """Whether every red flag of this check-in is already in some red-flag alert of the episode."""
    covered: set[str] = set()
    for data in Alert.objects.filter(episode_id=episode_id, rule=AlertRule.RED_FLAG).values_list(
        "data", flat=True
    ):
        for entry in data.get("checkins", []):
            if entry.get("checkin_id") == str(checkin.pk):
                covered.update(entry.get("red_flags", []))
    return set(checkin.red_flags) <= covered


@transaction.atomic
def alert_raise_red_flag(*, checkin_id: uuid.UUID | str, now: datetime | None = None) -> RaiseOutcome:
    """Raise (or extend) the urgent red-flag alert for one check-in. Safe to run any number of times."""
    now = now or timezone.now()
    checkin = CheckIn.objects.select_related("episode").filter(pk=checkin_id).first()
    if checkin is None or checkin.deleted_at is not None or not checkin.red_flags:
        return RaiseOutcome.NOTHING
    episode = checkin.episode
    if _already_alerted(episode.pk, checkin):
        return RaiseOutcome.ALREADY
    entry = _checkin_entry(checkin)
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                episode=episode,
                rule=AlertRule.RED_FLAG,
                severity=rules.SEVERITY[AlertRule.RED_FLAG],
                reason=_red_flag_reason(entry["red_flags"]),
                data={"checkins": [entry], "red_flags": entry["red_flags"]},
                raised_at=now,
            )
    except IntegrityError:
        pass  # An unresolved red-flag alert exists: add this check-in to it below.
    else:
        _notify_on_commit(_event(alert, EventKind.OPEN, at=now, data={"checkin_id": entry["checkin_id"]}))
        return RaiseOutcome.CREATED
    alert = (
        Alert.objects.select_for_update()
        .exclude(state=AlertState.RESOLVED)
        .get(episode=episode, rule=AlertRule.RED_FLAG)
    )
    # Re-check under the lock: a concurrent run for the same check-in may have appended it meanwhile.
    if _already_alerted(episode.pk, checkin):
        return RaiseOutcome.ALREADY
    entries = [e for e in alert.data.get("checkins", []) if e.get("checkin_id") != entry["checkin_id"]]
    entries.append(entry)
    flags = list(dict.fromkeys([*alert.data.get("red_flags", []), *entry["red_flags"]]))
    alert.data = {**alert.data, "checkins": entries, "red_flags": flags}
    alert.reason = _red_flag_reason(flags)
    alert.save(update_fields=["data", "reason"])
    event = _event(
        alert,
        EventKind.UPDATED,
        at=now,
        from_state=alert.state,
        note="Another check-in reported red flags.",
        data={"checkin_id": entry["checkin_id"], "red_flags": entry["red_flags"]},
    )
    _notify_on_commit(event)
    return RaiseOutcome.APPENDED


# --- trend rules ------------------------------------------------------------------------------------


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


@transaction.atomic
def alerts_evaluate(
    *, signals: pd.DataFrame, banded: pd.DataFrame | None = None, now: datetime | None = None
) -> EvaluationResult:
    """Apply every trend rule to a signals frame (one row per episode) and raise what is new. With the
    banded daily frame, a pain-above-band alert also carries each day's mean pain and expected band."""
    now = now or timezone.now()
    if signals.empty:
        return EvaluationResult(0, 0)
    episode_ids = {_as_uuid(v) for v in signals["episode_id"]}
    hits = rules.all_hits(signals)
    if banded is not None:
        hits = rules.with_band_days(hits, banded)
    hit_keys = {(_as_uuid(h.episode_id), h.rule) for h in hits}
    for rule in rules.TREND_RULES:
        held = {e for e, r in hit_keys if r == rule}
        # The condition is gone: note it (the alert stays for a clinician) and allow a future re-raise.
        Alert.objects.filter(episode_id__in=episode_ids - held, rule=rule, cleared_at__isnull=True).update(
            cleared_at=now
        )
        # The condition is back on an unresolved alert: it holds again.
        Alert.objects.filter(episode_id__in=held, rule=rule, cleared_at__isnull=False).exclude(
            state=AlertState.RESOLVED
        ).update(cleared_at=None)
    blocked: set[tuple[uuid.UUID, str]] = set()
    asked: dict[uuid.UUID, set[str]] = {}
    hit_episodes = {e for e, _ in hit_keys}
    for episode_id, rule, state, cleared_at, data in Alert.objects.filter(
        episode_id__in=hit_episodes, rule__in=list(rules.TREND_RULES)
    ).values_list("episode_id", "rule", "state", "cleared_at", "data"):
        if rule == AlertRule.MISSED_QUESTIONNAIRE:
            asked.setdefault(episode_id, set()).update(data.get("timepoints", []))
            if state != AlertState.RESOLVED:
                blocked.add((episode_id, rule))
        elif state != AlertState.RESOLVED or cleared_at is None:
            blocked.add((episode_id, rule))
    raised = skipped = 0
    for hit in hits:
        episode_id = _as_uuid(hit.episode_id)
        data, reason = hit.data, hit.reason
        if hit.rule == AlertRule.MISSED_QUESTIONNAIRE:
            # One alert per timepoint: only the ones no alert has named yet.
            new = [t for t in data.get("timepoints", []) if t not in asked.get(episode_id, set())]
            if not new:
                skipped += 1
                continue
            data, reason = {**data, "timepoints": new}, rules.missed_reason(new)
        if (episode_id, hit.rule) in blocked:
            skipped += 1
            continue
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    episode_id=episode_id,
                    rule=hit.rule,
                    severity=hit.severity,
                    reason=reason,
                    data=data,
                    raised_at=now,
                )
                event = _event(alert, EventKind.OPEN, at=now)
        except IntegrityError:
            skipped += 1  # Raised meanwhile by a concurrent evaluation.
            continue
        if alert.severity == Severity.URGENT:
            _notify_on_commit(event)
        raised += 1
    return EvaluationResult(raised, skipped)


# --- clinician actions ------------------------------------------------------------------------------


def _locked(actor: User, alert: Alert) -> Alert:
    locked = Alert.objects.select_for_update().select_related("episode").get(pk=alert.pk)
    if not can(actor, Action.HANDLE_ALERTS, locked.episode):
        raise NotPermitted("Only the patient's care team handles their alerts.")
    return locked


@transaction.atomic
def alert_acknowledge(*, actor: User, alert: Alert, note: str = "", now: datetime | None = None) -> Alert:
    now = now or timezone.now()
    alert = _locked(actor, alert)
    if alert.state == AlertState.ACKNOWLEDGED:
        return alert  # A replayed request: nothing changes.
    if alert.state == AlertState.RESOLVED:
        raise Conflict({"state": ["This alert is already resolved; it cannot be acknowledged."]})
    alert.state, alert.acknowledged_at, alert.acknowledged_by = AlertState.ACKNOWLEDGED, now, actor
    alert.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
    _event(alert, EventKind.ACKNOWLEDGED, at=now, from_state=AlertState.OPEN, by=actor, note=note.strip())
    return alert


@transaction.atomic
def alert_resolve(*, actor: User, alert: Alert, note: str, now: datetime | None = None) -> Alert:
    now = now or timezone.now()
    note = note.strip()
    if not note:
        raise ValidationFailed({"note": ["Say what was done: a note is required to resolve an alert."]})
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationFailed(
            {"note": [f"Ensure this field has no more than {NOTE_MAX_LENGTH} characters."]}
        )
    alert = _locked(actor, alert)
    if alert.state == AlertState.RESOLVED:
        return alert  # A replayed request: nothing changes.
    previous = alert.state
    alert.state, alert.resolved_at, alert.resolved_by, alert.resolution_note = (
        AlertState.RESOLVED,
        now,
        actor,
        note,
    )
    alert.save(update_fields=["state", "resolved_at", "resolved_by", "resolution_note"])
    _event(alert, EventKind.RESOLVED, at=now, from_state=previous, by=actor, note=note)
    return alert


# --- escalation -------------------------------------------------------------------------------------


def escalation_due_ids(*, now: datetime, limit: int = 500) -> list[uuid.UUID]:
    return list(
        Alert.objects.filter(
            severity=Severity.URGENT,
            state=AlertState.OPEN,
            escalated_at__isnull=True,
            raised_at__lte=now - ESCALATE_AFTER,
        )
        .order_by("raised_at")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def alert_escalate(*, alert_id: uuid.UUID | str, now: datetime | None = None) -> bool:
    """Escalate one overdue urgent alert to the surgeon; False if someone acknowledged, resolved or
    escalated it first (the conditional UPDATE decides, so only one caller ever escalates)."""
    now = now or timezone.now()
    claimed = Alert.objects.filter(
        pk=alert_id,
        severity=Severity.URGENT,
        state=AlertState.OPEN,
        escalated_at__isnull=True,
        raised_at__lte=now - ESCALATE_AFTER,
    ).update(escalated_at=now)
    if not claimed:
        return False
    alert = Alert.objects.get(pk=alert_id)
    event = _event(
        alert,
        EventKind.ESCALATED,
        at=now,
        from_state=alert.state,
        note=f"Not acknowledged within {int(ESCALATE_AFTER.total_seconds() // 3600)} hours.",
    )
    _notify_on_commit(event)
    return True


# --- notifications ----------------------------------------------------------------------------------


def _recipients(event: AlertEvent) -> list[User]:
    episode: Episode = event.alert.episode
    if event.to_state == EventKind.ESCALATED:
        return [episode.surgeon]
    return [episode.surgeon, *episode.physiotherapists.order_by("pk")]


def _payload(event: AlertEvent) -> PushPayload:
    alert = event.alert
    patient = alert.episode.patient.full_name
    prefix = "Escalated: " if event.to_state == EventKind.ESCALATED else ""
    title = f"{prefix}{alert.get_severity_display()} alert: {patient}"
    return PushPayload(
        title=title[:120],
        body=alert.reason[:400],
        url=f"/clinician/alerts/{alert.pk}/",
        tag=f"alert-{alert.pk}",
        data={"alert_id": str(alert.pk), "kind": "alert", "event": event.to_state},
    )


def event_notify(*, event_id: int) -> int:
    """Notify each recipient of one alert event once; returns how many were notified now."""
    event = (
        AlertEvent.objects.select_related("alert__episode__surgeon", "alert__episode__patient")
        .filter(pk=event_id)
        .first()
    )
    if event is None:
        return 0
    payload = _payload(event)
    sent = 0
    for recipient in _recipients(event):
        try:
            with transaction.atomic():
                notice = AlertNotice.objects.create(event=event, recipient=recipient)
        except IntegrityError:
            continue  # Claimed by an earlier run of this task.
        try:
            result = notify_user(
                user=recipient,
                payload=payload,
                email_subject=f"Mobilize: {payload.title}",
                email_body=f"{payload.body}\n\nOpen Mobilize: {payload.url}\n",
            )
        except OSError as exc:  # SMTP and network errors: recorded, not retried (see module docstring)
            logger.warning("Alert notice %s failed: %s", notice.pk, exc)
            AlertNotice.objects.filter(pk=notice.pk).update(
                state=NoticeState.FAILED, channel_results={"error": type(exc).__name__}
            )
            continue
        AlertNotice.objects.filter(pk=notice.pk).update(
            state=NoticeState.SENT if result.delivered else NoticeState.FAILED,
            sent_at=timezone.now(),
            channel_results={
                "push": [str(r.outcome) for r in result.push],
                "push_skipped": str(result.push_skipped) if result.push_skipped else None,
                "email": str(result.email),
            },
        )
        sent += 1
    return sent
