from __future__ import annotations

from django.apps import AppConfig


class TrajectoriesConfig(AppConfig):
    name = "recovery.trajectories"
    label = "trajectories"
    verbose_name = "Trajectories"
