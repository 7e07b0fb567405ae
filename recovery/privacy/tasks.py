"""Privacy tasks. Each calls one service and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from recovery.privacy import services


@shared_task
def purge_erased_data() -> int:
    """Delete erased patients' de-identified clinical data once their clinic's retention has passed."""
    return services.erased_data_purge()
