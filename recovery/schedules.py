"""Every periodic task in one place. Each entry expires so that a backlog never piles up."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "purge-expired-api-tokens": {
        "task": "recovery.accounts.tasks.purge_expired_tokens",
        "schedule": crontab(minute=17, hour=3),
        "options": {"expires": 3600},
    },
    "purge-login-failures": {
        "task": "recovery.security.tasks.purge_login_failures",
        "schedule": crontab(minute=27, hour=3),
        "options": {"expires": 3600},
    },
    "purge-erased-data": {
        "task": "recovery.privacy.tasks.purge_erased_data",
        "schedule": crontab(minute=37, hour=3),
        "options": {"expires": 3600},
    },
    "dispatch-due-reminders": {
        "task": "recovery.reminders.tasks.dispatch_due",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "sync-reminder-schedules": {
        "task": "recovery.reminders.tasks.sync_schedules",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 600},
    },
    "evaluate-alerts": {
        "task": "recovery.alerts.tasks.evaluate_alerts",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 600},
    },
    "escalate-urgent-alerts": {
        "task": "recovery.alerts.tasks.escalate_alerts",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "relay-outbox": {
        "task": "recovery.outbox.tasks.relay_outbox",
        "schedule": 15.0,
        "options": {"expires": 14},
    },
    "purge-outbox": {
        "task": "recovery.outbox.tasks.purge_outbox",
        "schedule": crontab(minute=47, hour=3),
        "options": {"expires": 3600},
    },
}
