"""Alerts: the clinician's worklist, one alert with its history, acknowledge and resolve.

- ``GET /api/v1/alerts/?state=&severity=&rule=&episode=``: alerts of the episodes on whose care team
  you are, most pressing first (severity, then oldest raised first), paginated. ``state``, ``severity``
  and ``rule`` take one value or several separated by commas; ``state`` defaults to the unresolved
  (``open,acknowledged``); ``state=all`` lists every state. Patients and clinic admins: 403.
- ``GET /api/v1/alerts/{id}/``: one alert with its history.
- ``POST /api/v1/alerts/{id}/acknowledge/`` (optional ``note``): open -> acknowledged; again: 200,
  nothing changes; a resolved alert: 409.
- ``POST /api/v1/alerts/{id}/resolve/`` ``{"note"}``: -> resolved; a note is required; again: 200.

An alert outside your care team is 404.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.urls import URLPattern, path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import current_user
from api.fields import StrictCharField, StrictSerializer
from api.pagination import Pagination
from api.params import query_uuid
from recovery.alerts import selectors, services
from recovery.alerts.models import Alert, AlertRule, AlertState, EventKind, Severity
from recovery.episodes.access import Action, role_may


class AlertPersonSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField(source="full_name")


class AlertEventSerializer(serializers.Serializer[Any]):
    from_state = serializers.CharField(help_text="The state before; empty when the alert was raised.")
    to_state = serializers.ChoiceField(
        choices=EventKind.choices, help_text="The state reached, or `escalated` / `updated`."
    )
    by = AlertPersonSerializer(allow_null=True, help_text="Null when the system did it.")
    note = serializers.CharField()
    data = serializers.JSONField()  # type: ignore[assignment]
    at = serializers.DateTimeField()


class AlertSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    episode = serializers.UUIDField(source="episode_id")
    patient = AlertPersonSerializer(source="episode.patient")
    post_op_day = serializers.SerializerMethodField(
        help_text="Days since surgery on the patient's own calendar, now."
    )
    rule = serializers.ChoiceField(choices=AlertRule.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    state = serializers.ChoiceField(choices=AlertState.choices)
    reason = serializers.CharField(help_text="In plain words, what to look at.")
    data = serializers.JSONField(help_text="What triggered the alert.")  # type: ignore[assignment]
    raised_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = AlertPersonSerializer(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = AlertPersonSerializer(allow_null=True)
    resolution_note = serializers.CharField()
    escalated_at = serializers.DateTimeField(
        allow_null=True, help_text="When it went to the surgeon again (urgent, unacknowledged after 2 h)."
    )
    condition_cleared_at = serializers.DateTimeField(
        source="cleared_at",
        allow_null=True,
        help_text="Trend rules: when the condition was last found gone (the alert stays until resolved).",
    )
    history = AlertEventSerializer(source="events.all", many=True)

    @extend_schema_field(OpenApiTypes.INT)
    def get_post_op_day(self, alert: Alert) -> int:
        return alert.episode.post_op_day()


class AcknowledgeInputSerializer(StrictSerializer):
    note = StrictCharField(required=False, allow_blank=True, max_length=services.NOTE_MAX_LENGTH)


class ResolveInputSerializer(StrictSerializer):
    note = StrictCharField(
        allow_blank=True, max_length=services.NOTE_MAX_LENGTH, help_text="What was done (required)."
    )


_FILTERS: dict[str, list[str]] = {
    "state": list(AlertState.values),
    "severity": list(Severity.values),
    "rule": list(AlertRule.values),
}
_UNRESOLVED = [AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value]


def _choices(request: Request, name: str) -> list[str] | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if name == "state" and raw == "all":
        return list(AlertState.values)
    values = [value.strip() for value in raw.split(",") if value.strip()]
    unknown = [value for value in values if value not in _FILTERS[name]]
    if unknown or not values:
        allowed = ", ".join(_FILTERS[name])
        raise exceptions.ValidationError({name: [f"Must be one or more of: {allowed} (comma-separated)."]})
    return values


def _filtered(request: Request, alerts: QuerySet[Alert]) -> QuerySet[Alert]:
    alerts = alerts.filter(state__in=_choices(request, "state") or _UNRESOLVED)
    if severities := _choices(request, "severity"):
        alerts = alerts.filter(severity__in=severities)
    if rules := _choices(request, "rule"):
        alerts = alerts.filter(rule__in=rules)
    if (episode := query_uuid(request, "episode")) is not None:
        alerts = alerts.filter(episode_id=episode)
    return alerts


def _alert(request: Request, alert_id: UUID) -> Alert:
    alert = selectors.alert_get(user=current_user(request), alert_id=alert_id)
    if alert is None:
        raise exceptions.NotFound("Alert not found.")
    return alert


def _fresh(request: Request, alert: Alert) -> dict[str, Any]:
    stored = _alert(request, alert.pk)
    data: dict[str, Any] = AlertSerializer(stored).data  # type: ignore[assignment]
    return data


def _list_param(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY, description=description)


class AlertListView(APIView):
    pagination_class = Pagination

    @extend_schema(
        parameters=[
            _list_param(
                "state", "open, acknowledged, resolved (comma-separated) or all; default open,acknowledged"
            ),
            _list_param("severity", "urgent, high, moderate, low (comma-separated)"),
            _list_param("rule", ", ".join(AlertRule.values) + " (comma-separated)"),
            OpenApiParameter("episode", OpenApiTypes.UUID, OpenApiParameter.QUERY, description="One episode"),
            OpenApiParameter("page", OpenApiTypes.INT, OpenApiParameter.QUERY),
            OpenApiParameter("page_size", OpenApiTypes.INT, OpenApiParameter.QUERY),
        ],
        responses={200: AlertSerializer(many=True)},
        summary="The alert worklist of your care-team episodes",
    )
    def get(self, request: Request) -> Response:
        user = current_user(request)
        if not role_may(user, Action.VIEW_ALERTS):
            raise exceptions.PermissionDenied("The alert worklist is for the care team.")
        alerts = _filtered(request, selectors.alerts_for(user))
        paginator = Pagination()
        page = paginator.paginate_queryset(alerts, request, view=self)
        return paginator.get_paginated_response(AlertSerializer(page, many=True).data)


class AlertDetailView(APIView):
    @extend_schema(responses={200: AlertSerializer}, summary="One alert with its history")
    def get(self, request: Request, alert_id: UUID) -> Response:
        return Response(AlertSerializer(_alert(request, alert_id)).data)


class AlertAcknowledgeView(APIView):
    @extend_schema(
        request=AcknowledgeInputSerializer,
        responses={200: AlertSerializer},
        summary="Acknowledge an alert (care team); again changes nothing",
    )
    def post(self, request: Request, alert_id: UUID) -> Response:
        alert = _alert(request, alert_id)
        data = AcknowledgeInputSerializer(data=request.data if request.data else {})
        data.is_valid(raise_exception=True)
        alert = services.alert_acknowledge(
            actor=current_user(request),
            alert=alert,
            note=data.validated_data.get("note", ""),
            now=timezone.now(),
        )
        return Response(_fresh(request, alert))


class AlertResolveView(APIView):
    @extend_schema(
        request=ResolveInputSerializer,
        responses={200: AlertSerializer},
        summary="Resolve an alert with a note (care team); again changes nothing",
    )
    def post(self, request: Request, alert_id: UUID) -> Response:
        alert = _alert(request, alert_id)
        data = ResolveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = services.alert_resolve(
            actor=current_user(request), alert=alert, note=data.validated_data["note"], now=timezone.now()
        )
        return Response(_fresh(request, alert))


urlpatterns: list[URLPattern] = [
    path("alerts/", AlertListView.as_view(), name="alert-list"),
    path("alerts/<uuid:alert_id>/", AlertDetailView.as_view(), name="alert-detail"),
    path("alerts/<uuid:alert_id>/acknowledge/", AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("alerts/<uuid:alert_id>/resolve/", AlertResolveView.as_view(), name="alert-resolve"),
]
