from __future__ import annotations

from django.apps import AppConfig


class PromsConfig(AppConfig):
    name = "recovery.proms"
    label = "proms"
    verbose_name = "Outcome questionnaires"
