from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_after_migrate(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    # post_migrate also runs after a test-database flush, so the shipped protocols are always
    # there; loading is idempotent (see recovery.protocols.loading).
    from django.db import connections

    from recovery.protocols.loading import load_shipped_protocols
    from recovery.protocols.models import ProtocolVersion

    if ProtocolVersion._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated backwards past our tables
    load_shipped_protocols(using=using)


class ProtocolsConfig(AppConfig):
    name = "recovery.protocols"
    label = "protocols"
    verbose_name = "Expected recovery protocols"

    def ready(self) -> None:
        post_migrate.connect(_load_after_migrate, sender=self, dispatch_uid="protocols-load-shipped")
