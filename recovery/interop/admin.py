"""Read-only admin for imported FHIR Observations: provenance, scoped by the access policy."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.episodes.access import Action, episodes_for
from recovery.interop.models import ImportedObservation


@admin.register(ImportedObservation)
class ImportedObservationAdmin(StaffAdmin):
    list_display = [
        "episode",
        "kind",
        "value",
        "effective_at",
        "identifier_system",
        "identifier_value",
        "checkin",
    ]
    list_filter = ["kind"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportedObservation]:
        actor = actor_of(request)
        qs = ImportedObservation.objects.all()
        if not actor.is_superuser:
            qs = qs.filter(episode__in=episodes_for(actor, Action.VIEW_CHECKINS))
        return qs.select_related("episode", "imported_by")
