"""Account tasks. Each takes ids, fetches, and calls one service; each is safe to run twice."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task

from recovery.accounts import services


@shared_task(
    autoretry_for=(SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def send_invitation(invitation_id: str) -> bool:
    return services.invitation_send(invitation_id=invitation_id)


@shared_task
def purge_expired_tokens() -> int:
    return services.tokens_purge_expired()
