"""Admin for procedures and episodes. Episodes are listed through the access policy."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.accounts.models import Role, User
from recovery.episodes.access import episodes_for
from recovery.episodes.models import Episode, Procedure


@admin.register(Procedure)
class ProcedureAdmin(StaffAdmin):
    list_display = ["code", "name", "region", "is_active"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return actor_of(request).is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return actor_of(request).is_superuser


@admin.register(Episode)
class EpisodeAdmin(StaffAdmin):
    list_display = ["patient", "procedure", "surgery_date", "status", "surgeon"]
    list_filter = ["status", "procedure"]
    search_fields = ["patient__full_name", "patient__email"]
    readonly_fields = ["clinic", "patient", "created_by", "created_at", "updated_at"]
    filter_horizontal = ["physiotherapists"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Episode]:
        actor = actor_of(request)
        qs = Episode.objects.all() if actor.is_superuser else episodes_for(actor)
        return qs.select_related("patient", "procedure", "surgeon")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        actor = actor_of(request)
        if db_field.name == "surgeon" and not actor.is_superuser:
            kwargs["queryset"] = User.objects.filter(clinic_id=actor.tenant_id, role=Role.SURGEON)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        actor = actor_of(request)
        if db_field.name == "physiotherapists" and not actor.is_superuser:
            kwargs["queryset"] = User.objects.filter(clinic_id=actor.tenant_id, role=Role.PHYSIOTHERAPIST)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        actor = actor_of(request)
        return actor.is_superuser or actor.role in (Role.CLINIC_ADMIN, Role.SURGEON)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Enrolment creates accounts and invitations: it goes through the API's enrol service.
        return False
