"""Read-only admin for alerts and their history: only what the access policy lets the staff member
read (the care team's episodes; clinic admins see none, as they do not read clinical data)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.alerts.models import Alert, AlertEvent
from recovery.episodes.access import Action, episodes_for


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EventInline(_ReadOnly, admin.TabularInline[AlertEvent, Alert]):
    model = AlertEvent
    extra = 0
    readonly_fields = ["at", "from_state", "to_state", "by", "note", "data"]


@admin.register(Alert)
class AlertAdmin(_ReadOnly, StaffAdmin):
    list_display = ["episode", "rule", "severity", "state", "raised_at", "escalated_at", "resolved_at"]
    list_filter = ["state", "severity", "rule"]
    inlines = [EventInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Alert]:
        actor = actor_of(request)
        qs = Alert.objects.all()
        if not actor.is_superuser:
            qs = qs.filter(episode__in=episodes_for(actor, Action.VIEW_ALERTS))
        return qs.select_related("episode", "episode__patient")
