from __future__ import annotations

from django.apps import AppConfig


class CheckinsConfig(AppConfig):
    name = "recovery.checkins"
    label = "checkins"
    verbose_name = "Check-ins"
