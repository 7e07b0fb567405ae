"""Alert tasks. Each takes ids, fetches, and calls one service; each is safe to run twice.

- ``raise_red_flag_alert(checkin_id)``: enqueued on commit when a check-in with red flags is stored or
  gains red flags; the service raises at most once per check-in's flags.
- ``notify_event(event_id)``: pushes (or emails) an urgent alert's event to its recipients; each
  (event, recipient) is claimed by a unique row before sending, so a replay sends nothing.
- ``evaluate_alerts()``: beat, every 15 minutes (expiring): the trend rules over the signals of every
  active episode, in chunks; de-duplication is the database's partial unique index.
- ``escalate_alerts()``: beat, every minute (expiring): urgent alerts still open 2 hours after they
  were raised go to the surgeon again, once (conditional UPDATE on ``escalated_at IS NULL``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
from celery import shared_task
from django.utils import timezone

from recovery.alerts import services
from recovery.episodes.models import Episode, EpisodeStatus

#: Episodes per signals computation: bounds memory while keeping the analytics vectorised.
EVALUATE_CHUNK: Final = 500
ESCALATE_BATCH: Final = 500


@shared_task
def raise_red_flag_alert(checkin_id: str) -> str:
    return str(services.alert_raise_red_flag(checkin_id=checkin_id))


@shared_task
def notify_event(event_id: int) -> int:
    return services.event_notify(event_id=event_id)


def analyse_recent(ids: list[uuid.UUID], *, now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The signals of ``ids`` and their banded days (so that a pain alert shows the days and the
    band), from each episode's recent data: the same signals as over the whole history, at a
    fraction of the reads (``recovery.trajectories.selectors.recent_analysis``)."""
    from recovery.trajectories.selectors import recent_analysis

    analysis = recent_analysis(ids, now=now)
    return analysis.signals, analysis.banded


def evaluate_all(*, now: datetime, chunk: int = EVALUATE_CHUNK) -> dict[str, int]:
    active = Episode.objects.filter(status__in=[EpisodeStatus.PLANNED, EpisodeStatus.RECOVERING]).order_by(
        "pk"
    )
    ids: list[uuid.UUID] = list(active.values_list("pk", flat=True))
    totals = {"episodes": len(ids), "raised": 0, "skipped": 0}
    for start in range(0, len(ids), chunk):
        signals, banded = analyse_recent(ids[start : start + chunk], now=now)
        result = services.alerts_evaluate(signals=signals, banded=banded, now=now)
        totals["raised"] += result.raised
        totals["skipped"] += result.skipped
    return totals


@shared_task
def evaluate_alerts() -> dict[str, int]:
    return evaluate_all(now=timezone.now())


@shared_task
def escalate_alerts() -> int:
    now = timezone.now()
    return sum(
        services.alert_escalate(alert_id=alert_id, now=now)
        for alert_id in services.escalation_due_ids(now=now, limit=ESCALATE_BATCH)
    )
