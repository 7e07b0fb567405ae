"""Erasure requests in the Django admin: read-only, for clinic admins (their clinic) and superusers.

Carrying an erasure out is done through the API (``POST /api/v1/clinic/erasure-requests/{id}/carry-out/``),
in one transaction with its audit event; the admin only shows the record.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.episodes.access import ClinicAction, can_in_clinic
from recovery.privacy.models import ErasureRequest


@admin.register(ErasureRequest)
class ErasureRequestAdmin(StaffAdmin):
    list_display = ["requested_at", "patient_id", "state", "carried_out_at", "carried_out_by", "purged_at"]
    list_filter = ["state"]
    readonly_fields = [
        "patient_id",
        "clinic",
        "requested_by",
        "requested_at",
        "state",
        "carried_out_by",
        "carried_out_at",
        "removed",
        "purged_at",
        "purged",
    ]
    exclude = ["patient"]

    @staticmethod
    def _may_read(request: HttpRequest) -> bool:
        actor = actor_of(request)
        return actor.is_superuser or can_in_clinic(actor, ClinicAction.MANAGE_PRIVACY)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) and self._may_read(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_read(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ErasureRequest]:
        qs = ErasureRequest.objects.select_related("clinic", "requested_by", "carried_out_by")
        actor = actor_of(request)
        if actor.is_superuser:
            return qs
        return qs.filter(clinic_id=actor.clinic_id) if actor.clinic_id is not None else qs.none()
