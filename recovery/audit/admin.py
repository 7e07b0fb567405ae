"""The audit trail in the Django admin: read-only, for clinic admins (their clinic) and superusers.

No add, change or delete permission for anyone; search by the actor's email or name, the patient's
id, the episode's id; filter by action and date.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.audit.models import AuditEvent, AuditRecord
from recovery.episodes.access import ClinicAction, can_in_clinic


class AuditRecordInline(admin.TabularInline[AuditRecord, AuditEvent]):
    model = AuditRecord
    fields = ["episode_id", "patient_id"]
    readonly_fields = ["episode_id", "patient_id"]
    can_delete = False
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(StaffAdmin):
    list_display = ["at", "actor", "actor_role", "action", "resource", "status_code", "address"]
    list_filter = ["action", "actor_role", ("at", admin.DateFieldListFilter)]
    search_fields = ["actor__email", "actor__full_name", "resource", "path"]
    date_hierarchy = "at"
    inlines = [AuditRecordInline]
    readonly_fields = [
        "at",
        "actor",
        "actor_role",
        "clinic",
        "action",
        "method",
        "resource",
        "route",
        "path",
        "status_code",
        "address",
        "user_agent",
        "device",
    ]

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

    @staticmethod
    def _may_read(request: HttpRequest) -> bool:
        actor = actor_of(request)
        return actor.is_superuser or can_in_clinic(actor, ClinicAction.VIEW_AUDIT)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        qs = AuditEvent.objects.select_related("actor", "clinic")
        actor = actor_of(request)
        return qs if actor.is_superuser else qs.filter(clinic_id=actor.clinic_id)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent], search_term: str
    ) -> tuple[QuerySet[AuditEvent], bool]:
        """Also finds the events that touched a patient (by email or id) or an episode (by id)."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return results, may_have_duplicates
        touched = AuditRecord.objects.filter(event_id=OuterRef("pk"))
        condition = Q(Exists(touched.filter(patient__email__iexact=term)))
        try:
            key = UUID(term)
        except ValueError:
            key = None
        if key is not None:
            condition |= Exists(touched.filter(patient_id=key)) | Exists(touched.filter(episode_id=key))
        return results | queryset.filter(condition), may_have_duplicates
