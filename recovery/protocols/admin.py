"""Admin for expected-recovery protocols: read-only, scoped to the staff member's clinic.

Shipped versions change only through the protocol files (``manage.py load_protocols``); adoptions
and overrides only through the API, where the service validates them and records who and when.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.protocols.models import (
    ClinicProtocolAdoption,
    ClinicProtocolOverride,
    Protocol,
    ProtocolVersion,
)


class _ReadOnly(StaffAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _ClinicScoped(_ReadOnly):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        actor = actor_of(request)
        return qs if actor.is_superuser else qs.filter(clinic_id=actor.clinic_id)


@admin.register(Protocol)
class ProtocolAdmin(_ReadOnly):
    list_display = ["procedure_code", "created_at"]


@admin.register(ProtocolVersion)
class ProtocolVersionAdmin(_ReadOnly):
    list_display = ["protocol", "version", "content_hash", "loaded_at"]
    list_filter = ["protocol"]


@admin.register(ClinicProtocolAdoption)
class ClinicProtocolAdoptionAdmin(_ClinicScoped):
    list_display = ["clinic", "protocol", "version", "adopted_by", "adopted_at"]


@admin.register(ClinicProtocolOverride)
class ClinicProtocolOverrideAdmin(_ClinicScoped):
    list_display = ["clinic", "version", "target", "old_value", "new_value", "created_by", "created_at"]
    search_fields = ["target", "reason"]
