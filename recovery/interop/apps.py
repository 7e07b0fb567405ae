from __future__ import annotations

from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "recovery.interop"
    label = "interop"
    verbose_name = "Interoperability (FHIR)"
    default_auto_field = "django.db.models.BigAutoField"
