from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "recovery.audit"
    label = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from recovery.audit.recording import watch_episode_models

        watch_episode_models()
