"""The Celery application. Settings live in ``recovery.settings`` under the ``CELERY_`` prefix."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery.settings")

app = Celery("recovery")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
