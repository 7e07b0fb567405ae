"""Read-only admin for reminders, scoped by the access policy like the check-in and alert pages.

Nothing here is editable: a change of rule or preference must go through the services, which re-time
the schedules (an edit in the admin would leave ``next_due_at`` on the old rule), and a delivery row
is the record of what was sent. Schedules and the care team's rule are operational: anyone related
to the episode sees them (clinic admins included). Deliveries (their text) and walks are what the
patient did and was told: the people who may read the rehabilitation plan (care team, patient). A
clinician's own digest is visible to that clinician only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.episodes.access import Action, episodes_for
from recovery.reminders.models import (
    EpisodeReminderSettings,
    ReminderDelivery,
    ReminderPreferences,
    ReminderSchedule,
    WalkLog,
)


class _ReadOnly(StaffAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReminderSchedule)
class ReminderScheduleAdmin(_ReadOnly):
    list_display = ["kind", "episode", "recipient", "target", "next_due_at", "active"]
    list_filter = ["kind", "active"]
    ordering = ["next_due_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReminderSchedule]:
        actor = actor_of(request)
        qs = ReminderSchedule.objects.all()
        if not actor.is_superuser:
            qs = qs.filter(
                Q(episode__in=episodes_for(actor, Action.VIEW_EPISODE))
                | Q(episode__isnull=True, recipient=actor)
            )
        return qs.select_related("episode", "recipient")


@admin.register(ReminderDelivery)
class ReminderDeliveryAdmin(_ReadOnly):
    list_display = ["schedule", "slot", "state", "sent_at", "done_at", "snoozed_until"]
    list_filter = ["state", "schedule__kind"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReminderDelivery]:
        actor = actor_of(request)
        qs = ReminderDelivery.objects.all()
        if not actor.is_superuser:
            qs = qs.filter(
                Q(schedule__episode__in=episodes_for(actor, Action.VIEW_REHAB))
                | Q(schedule__episode__isnull=True, schedule__recipient=actor)
            )
        return qs.select_related("schedule")


@admin.register(EpisodeReminderSettings)
class EpisodeReminderSettingsAdmin(_ReadOnly):
    list_display = [
        "episode",
        "walk_interval_minutes",
        "walk_window_start",
        "walk_window_end",
        "walk_until_day",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EpisodeReminderSettings]:
        actor = actor_of(request)
        qs = EpisodeReminderSettings.objects.all()
        if not actor.is_superuser:
            qs = qs.filter(episode__in=episodes_for(actor, Action.VIEW_EPISODE))
        return qs.select_related("episode")


@admin.register(ReminderPreferences)
class ReminderPreferencesAdmin(_ReadOnly):
    list_display = ["user", "checkin_time", "quiet_start", "quiet_end", "push", "email"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReminderPreferences]:
        actor = actor_of(request)
        qs = ReminderPreferences.objects.all()
        if not actor.is_superuser:
            patients = episodes_for(actor, Action.VIEW_EPISODE).values("patient")
            qs = qs.filter(Q(user__in=patients) | Q(user=actor))
        return qs.select_related("user")


@admin.register(WalkLog)
class WalkLogAdmin(_ReadOnly):
    list_display = ["episode", "at", "minutes"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WalkLog]:
        actor = actor_of(request)
        qs = WalkLog.objects.all()
        if not actor.is_superuser:
            qs = qs.filter(episode__in=episodes_for(actor, Action.VIEW_REHAB))
        return qs.select_related("episode")
