"""Reads for notifications. Everything here is the signed-in user's own data: no episode scoping."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connection
from django.db.models import QuerySet

from recovery.accounts.models import User
from recovery.notifications.models import ConsentKind, NotificationConsent, PushSubscription

#: Consent rows returned by the history endpoint, newest first.
CONSENT_HISTORY_LIMIT = 100


def subscriptions_for(*, user: User) -> QuerySet[PushSubscription]:
    return PushSubscription.objects.filter(user=user).order_by("-updated_at", "id")


def consent_current(*, user: User, kind: ConsentKind) -> NotificationConsent | None:
    """The latest consent row of one kind, or None if the person never answered."""
    return NotificationConsent.objects.filter(user=user, kind=kind).order_by("-at", "-id").first()


def consents_current(*, user_ids: Iterable[uuid.UUID]) -> dict[tuple[uuid.UUID, str], NotificationConsent]:
    """``consent_current`` for many people in one query: ``(user id, kind)`` -> latest row."""
    ordered = NotificationConsent.objects.filter(user_id__in=list(user_ids)).order_by(
        "user_id", "kind", "-at", "-id"
    )
    if connection.vendor == "postgresql":
        return {(row.user_id, row.kind): row for row in ordered.distinct("user_id", "kind")}
    # Elsewhere (the demo's SQLite) no DISTINCT ON: the first row of each pair in the same order wins.
    latest: dict[tuple[uuid.UUID, str], NotificationConsent] = {}
    for row in ordered:
        latest.setdefault((row.user_id, row.kind), row)
    return latest


def consent_state(*, user: User) -> dict[ConsentKind, NotificationConsent | None]:
    return {kind: consent_current(user=user, kind=kind) for kind in ConsentKind}


def consent_history(*, user: User) -> QuerySet[NotificationConsent]:
    return NotificationConsent.objects.filter(user=user).order_by("-at", "-id")[:CONSENT_HISTORY_LIMIT]
