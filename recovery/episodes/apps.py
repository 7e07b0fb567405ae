from __future__ import annotations

from django.apps import AppConfig


class EpisodesConfig(AppConfig):
    name = "recovery.episodes"
    label = "episodes"
    verbose_name = "Surgical episodes"
