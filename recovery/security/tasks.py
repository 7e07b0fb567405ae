"""Security tasks. Each calls one service and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from recovery.security import services


@shared_task
def purge_login_failures() -> int:
    """Drop sign-in failures and lockouts older than 30 days (the admin's history window)."""
    return services.login_failures_purge()
