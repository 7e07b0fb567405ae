"""Read-only admin for recorded milestones, scoped by the access policy like every other admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.episodes.access import Action, episodes_for
from recovery.trajectories.models import MilestoneEvent


@admin.register(MilestoneEvent)
class MilestoneEventAdmin(StaffAdmin):
    list_display = ["episode", "key", "achieved_on", "recorded_by", "recorded_at"]
    list_filter = ["key"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[MilestoneEvent]:
        actor = actor_of(request)
        qs = MilestoneEvent.objects.all()
        if not actor.is_superuser:
            qs = qs.filter(episode__in=episodes_for(actor, Action.VIEW_TRAJECTORY))
        return qs.select_related("episode", "recorded_by")
