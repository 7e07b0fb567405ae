"""Read-only admin for check-ins: only what the access policy lets the staff member read."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.checkins.models import CheckIn, CheckInRevision
from recovery.episodes.access import Action, episodes_for


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RevisionInline(_ReadOnly, admin.TabularInline[CheckInRevision, CheckIn]):
    model = CheckInRevision
    extra = 0
    readonly_fields = ["action", "previous", "changed_by", "changed_at"]


@admin.register(CheckIn)
class CheckInAdmin(_ReadOnly, StaffAdmin):
    list_display = ["episode", "recorded_at", "axial_pain", "limb_pain", "red_flags", "deleted_at"]
    list_filter = ["local_date"]
    inlines = [RevisionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CheckIn]:
        actor = actor_of(request)
        qs = CheckIn.objects.all()
        if not actor.is_superuser:
            qs = qs.filter(episode__in=episodes_for(actor, Action.VIEW_CHECKINS))
        return qs.select_related("episode", "episode__patient")
