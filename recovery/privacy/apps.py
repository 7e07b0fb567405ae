from __future__ import annotations

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "recovery.privacy"
    label = "privacy"
    verbose_name = "Privacy"
