from __future__ import annotations

from django.apps import AppConfig


class RehabConfig(AppConfig):
    name = "recovery.rehab"
    label = "rehab"
    verbose_name = "Rehabilitation"
