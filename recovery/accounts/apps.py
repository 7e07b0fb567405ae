from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "recovery.accounts"
    label = "accounts"
    verbose_name = "Clinics and accounts"
