from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"

    def ready(self) -> None:
        # Registers the OpenAPI description of bearer tokens with drf-spectacular.
        from api import authentication  # noqa: F401
