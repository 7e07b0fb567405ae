"""What a clinician's daily digest lists: their episodes needing attention (a read, scoped by the
access policy: the episodes whose check-ins they may read, so surgeons and physiotherapists on the
care team, never a clinic admin).

An episode needs attention when, in the last 24 hours, a check-in reported a red flag (the
vocabulary of the clinical reference, section 4), or when the patient has been silent for
``SILENT_DAYS`` days since surgery. Three days is a clinic default, not evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max

from recovery.accounts.models import User
from recovery.checkins.models import CheckIn
from recovery.episodes.access import Action, episodes_for
from recovery.episodes.models import Episode, EpisodeStatus

SILENT_DAYS = 3
SILENT_DAYS_SOURCE = "clinic default, not evidence"


@dataclass(frozen=True)
class Attention:
    episode: Episode
    reasons: tuple[str, ...]


def episodes_needing_attention(*, user: User, now: datetime) -> list[Attention]:
    episodes = list(
        episodes_for(user, Action.VIEW_CHECKINS)
        .filter(status__in=[EpisodeStatus.PLANNED, EpisodeStatus.RECOVERING])
        .select_related("patient__patient_profile")
        .order_by("surgery_date", "id")
    )
    if not episodes:
        return []
    visible = CheckIn.objects.filter(episode__in=episodes, deleted_at__isnull=True)
    flagged = set(
        visible.filter(recorded_at__gte=now - timedelta(hours=24))
        .exclude(red_flags=[])
        .values_list("episode_id", flat=True)
    )
    last = dict(
        visible.values("episode_id").annotate(last=Max("recorded_at")).values_list("episode_id", "last")
    )
    found: list[Attention] = []
    for episode in episodes:
        reasons: list[str] = []
        if episode.pk in flagged:
            reasons.append("red flag reported in the last 24 hours")
        if episode.post_op_day(now) >= SILENT_DAYS:
            latest = last.get(episode.pk)
            if latest is None or now - latest > timedelta(days=SILENT_DAYS):
                reasons.append(f"no check-in for {SILENT_DAYS} days or more")
        if reasons:
            found.append(Attention(episode, tuple(reasons)))
    return found
