"""Notification tasks. Each takes ids and plain JSON, fetches, and calls one function.

``send_push`` retries transient failures (429, 5xx, connection errors, timeouts) with exponential
backoff, or after the push service's Retry-After when it gave one. A subscription deleted meanwhile
(the browser unsubscribed, or another send found it gone) ends the task quietly. Running it twice sends
twice: the reminder engine claims its slot before enqueuing.
"""

from __future__ import annotations

from typing import Any

import requests
from celery import Task, shared_task

from recovery.notifications.models import PushSubscription
from recovery.notifications.push import PushPayload, PushRetryable, push_send

MAX_RETRIES = 6
#: The longest wait between attempts, also for a Retry-After: beyond an hour a reminder is stale.
MAX_RETRY_DELAY_SECONDS = 3600


@shared_task(
    bind=True,
    autoretry_for=(PushRetryable, requests.ConnectionError, requests.Timeout),
    retry_backoff=True,
    retry_backoff_max=MAX_RETRY_DELAY_SECONDS,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def send_push(self: Task[Any, Any], subscription_id: str, payload: dict[str, Any]) -> str:
    subscription = PushSubscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        return "gone"
    try:
        result = push_send(subscription=subscription, payload=PushPayload.from_dict(payload))
    except PushRetryable as exc:
        if exc.retry_after is None:
            raise  # autoretry_for applies the exponential backoff
        raise self.retry(exc=exc, countdown=min(exc.retry_after, MAX_RETRY_DELAY_SECONDS)) from exc
    return str(result.outcome)
