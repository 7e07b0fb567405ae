"""Reminders: the signed-in person's own list, snooze and done, their preferences, and the care team's
walking-reminder rule per episode.

- ``GET /api/v1/reminders/``: ``upcoming`` (the next occurrences of your active schedules in the next
  24 hours, computed) and ``recent`` (your reminders of the last 7 days with their states).
- ``POST /api/v1/reminders/{id}/snooze/`` ``{"minutes": 5..240}``: send it again then, through the
  same engine; snoozing again moves the time. Only a reminder that went out (409 otherwise).
- ``POST /api/v1/reminders/{id}/done/``: idempotent; on a walk reminder it records the walk.
  Someone else's reminder is 404.
- ``GET|PUT /api/v1/me/reminder-preferences/``: quiet hours, channels, muted kinds, check-in time and
  waking window (local times).
- ``GET|PUT /api/v1/episodes/{id}/reminder-settings/``: walking interval, window and last post-op day;
  the care team writes (as for prescriptions), the patient reads.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.urls import URLPattern, path
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import EpisodeScopedView, current_user
from api.fields import StrictBooleanField, StrictIntegerField, StrictSerializer
from recovery.episodes.access import Action
from recovery.reminders import selectors, services
from recovery.reminders.models import (
    DeliveryState,
    EpisodeReminderSettings,
    ReminderDelivery,
    ReminderKind,
    ReminderPreferences,
)
from recovery.reminders.selectors import Upcoming


@extend_schema_field({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "19:00"})
class LocalTimeField(serializers.TimeField):
    """A wall-clock time read and written as HH:MM. Not OpenAPI's ``format: time``: that is RFC 3339's
    full-time, with seconds and a UTC offset, which these local times do not have."""


def _time() -> Any:
    return LocalTimeField(format="%H:%M", help_text="Local time, HH:MM.")


class DeliverySerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=ReminderKind.choices, source="schedule.kind")
    episode = serializers.UUIDField(
        source="schedule.episode_id", allow_null=True, help_text="Null for a digest."
    )
    due_at = serializers.DateTimeField(source="slot", help_text="When it was due (UTC).")
    state = serializers.ChoiceField(choices=DeliveryState.choices)
    title = serializers.CharField(source="payload.title", default="")
    body = serializers.CharField(source="payload.body", default="")
    url = serializers.CharField(source="payload.url", default="")
    tag = serializers.CharField(source="payload.tag", default="")
    sent_at = serializers.DateTimeField(allow_null=True)
    done_at = serializers.DateTimeField(allow_null=True)
    snoozed_until = serializers.DateTimeField(allow_null=True)


class UpcomingSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=ReminderKind.choices, source="schedule.kind")
    episode = serializers.UUIDField(
        source="schedule.episode_id", allow_null=True, help_text="Null for a digest."
    )
    due_at = serializers.DateTimeField()


class ReminderListSerializer(serializers.Serializer[Any]):
    upcoming = UpcomingSerializer(many=True)
    recent = DeliverySerializer(many=True)


class SnoozeInputSerializer(StrictSerializer):
    minutes = StrictIntegerField(min_value=5, max_value=240)


class PreferencesSerializer(StrictSerializer):
    quiet_start = LocalTimeField(format="%H:%M", allow_null=True, help_text="Local HH:MM or null.")
    quiet_end = LocalTimeField(format="%H:%M", allow_null=True, help_text="Local HH:MM or null.")
    push = StrictBooleanField(help_text="Web Push allowed.")
    email = StrictBooleanField(help_text="Email allowed (also the fallback without a push subscription).")
    muted_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=ReminderKind.choices), max_length=10
    )
    checkin_time = _time()
    waking_start = _time()
    waking_end = _time()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs["quiet_start"] is None) != (attrs["quiet_end"] is None):
            raise serializers.ValidationError(
                {"quiet_end": ["Give both ends of the quiet hours, or neither."]}
            )
        if attrs["waking_start"] >= attrs["waking_end"]:
            raise serializers.ValidationError({"waking_end": ["Must be after waking_start."]})
        attrs["muted_kinds"] = sorted(set(attrs["muted_kinds"]))
        return attrs


class EpisodeSettingsSerializer(StrictSerializer):
    walk_interval_minutes = StrictIntegerField(min_value=15, max_value=720)
    walk_window_start = LocalTimeField(
        format="%H:%M", allow_null=True, help_text="Local HH:MM; null: the patient's waking window."
    )
    walk_window_end = LocalTimeField(format="%H:%M", allow_null=True)
    walk_until_day = StrictIntegerField(
        min_value=0, max_value=90, help_text="Last post-op day with walk reminders."
    )
    source = serializers.CharField(read_only=True, help_text="Where the numbers come from.")  # type: ignore[assignment]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs["walk_window_start"], attrs["walk_window_end"]
        if (start is None) != (end is None):
            raise serializers.ValidationError(
                {"walk_window_end": ["Give both ends of the window, or neither."]}
            )
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError({"walk_window_end": ["Must be after walk_window_start."]})
        return attrs


def _preferences(row: ReminderPreferences) -> dict[str, Any]:
    return dict(PreferencesSerializer(row).data)


def _delivery(request: Request, delivery_id: UUID) -> ReminderDelivery:
    delivery = selectors.deliveries_for(user=current_user(request)).filter(pk=delivery_id).first()
    if delivery is None:
        raise exceptions.NotFound("Reminder not found.")
    return delivery


class ReminderListView(APIView):
    @extend_schema(responses={200: ReminderListSerializer}, summary="My upcoming and recent reminders")
    def get(self, request: Request) -> Response:
        user, now = current_user(request), timezone.now()
        upcoming: list[Upcoming] = selectors.upcoming_reminders(user=user, now=now)
        recent = selectors.recent_deliveries(user=user, now=now)
        return Response(ReminderListSerializer({"upcoming": upcoming, "recent": recent}).data)


class ReminderSnoozeView(APIView):
    @extend_schema(
        request=SnoozeInputSerializer, responses={200: DeliverySerializer}, summary="Remind me again later"
    )
    def post(self, request: Request, reminder_id: UUID) -> Response:
        delivery = _delivery(request, reminder_id)
        data = SnoozeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        delivery = services.reminder_snooze(delivery=delivery, minutes=data.validated_data["minutes"])
        return Response(DeliverySerializer(delivery).data)


class ReminderDoneView(APIView):
    @extend_schema(request=None, responses={200: DeliverySerializer}, summary="Done (a walk: recorded)")
    def post(self, request: Request, reminder_id: UUID) -> Response:
        delivery = services.reminder_done(delivery=_delivery(request, reminder_id))
        return Response(DeliverySerializer(delivery).data)


class ReminderPreferencesView(APIView):
    @extend_schema(responses={200: PreferencesSerializer}, summary="My reminder preferences")
    def get(self, request: Request) -> Response:
        return Response(_preferences(services.preferences_of(current_user(request))))

    @extend_schema(
        request=PreferencesSerializer,
        responses={200: PreferencesSerializer},
        summary="Replace my preferences",
    )
    def put(self, request: Request) -> Response:
        data = PreferencesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.preferences_save(user=current_user(request), values=dict(data.validated_data))
        return Response(_preferences(row))


class EpisodeReminderSettingsView(EpisodeScopedView):
    read_action = Action.VIEW_REHAB
    method_actions = {"PUT": Action.PRESCRIBE}

    def _payload(self, row: EpisodeReminderSettings) -> Any:
        return EpisodeSettingsSerializer(row).data

    @extend_schema(responses={200: EpisodeSettingsSerializer}, summary="The episode's walking-reminder rule")
    def get(self, request: Request, episode_id: str) -> Response:
        return Response(self._payload(services.settings_of(self.episode)))

    @extend_schema(
        request=EpisodeSettingsSerializer,
        responses={200: EpisodeSettingsSerializer},
        summary="Replace the walking-reminder rule (care team)",
    )
    def put(self, request: Request, episode_id: str) -> Response:
        data = EpisodeSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.episode_settings_save(episode=self.episode, values=dict(data.validated_data))
        return Response(self._payload(row))


urlpatterns: list[URLPattern] = [
    path("reminders/", ReminderListView.as_view(), name="reminder-list"),
    path("reminders/<uuid:reminder_id>/snooze/", ReminderSnoozeView.as_view(), name="reminder-snooze"),
    path("reminders/<uuid:reminder_id>/done/", ReminderDoneView.as_view(), name="reminder-done"),
    path("me/reminder-preferences/", ReminderPreferencesView.as_view(), name="reminder-preferences"),
    path(
        "episodes/<uuid:episode_id>/reminder-settings/",
        EpisodeReminderSettingsView.as_view(),
        name="episode-reminder-settings",
    ),
]
