"""The audit trail over HTTP, and the permission class that starts recording it.

- ``GET /api/v1/audit/?actor=&patient=&episode=&action=&from=&to=&page=&page_size=``: clinic admins
  search their own clinic's trail (others: 403), newest first, paginated.
- ``GET /api/v1/me/access-log/?page=&page_size=``: a patient sees which staff member read or changed
  their records, when, what and through what (staff: 403). The patient sees the staff member's name
  and role and the device name they signed in with, not their network address or browser string:
  those identify a colleague's network and machine and are for the clinic's admins.
- ``GET /api/v1/episodes/{episode_id}/access-log/?page=&page_size=``: the episode's care team (its
  surgeon and physiotherapists) sees which staff member read or changed this episode's records, when
  and what (``Action.VIEW_ACCESS_LOG``). The patient (who has their own log) and the clinic's admins
  (who search the whole trail) get 403; anyone outside the episode 404. No addresses, no browser strings.

Recording itself is automatic (``recovery/audit/recording.py``), started by ``api.audit_trail``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.urls import URLPattern, path
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import EpisodeScopedView, current_user
from api.pagination import Pagination
from api.params import query_bool, query_uuid
from recovery.audit.models import AuditAction, AuditEvent
from recovery.audit.selectors import access_log_for, audit_search, episode_access_log
from recovery.episodes.access import Action, ClinicAction, can, can_in_clinic


class AuditPersonSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField(source="full_name")
    email = serializers.EmailField()
    role = serializers.CharField()


class AuditPatientSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(source="patient_id")
    name = serializers.CharField(source="patient_name")
    email = serializers.EmailField(source="patient_email")


class AuditRecordSerializer(serializers.Serializer[Any]):
    episode = serializers.UUIDField(
        source="episode_id", allow_null=True, help_text="Null: the patient's account was read on its own."
    )
    patient = AuditPatientSerializer(source="*", help_text="The patient whose record it is.")


class AuditClientSerializer(serializers.Serializer[Any]):
    address = serializers.CharField(help_text="The client's address (behind trusted proxies: theirs).")
    user_agent = serializers.CharField()
    device = serializers.CharField(help_text="The name given to the bearer token used; empty otherwise.")


class AuditEventSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    at = serializers.DateTimeField()
    actor = AuditPersonSerializer()
    actor_role = serializers.CharField(help_text="The actor's role at the time.")
    action = serializers.ChoiceField(choices=AuditAction.choices)
    method = serializers.CharField()
    resource = serializers.CharField(help_text="The URL name, e.g. `api:checkin-list`.")
    route = serializers.CharField()
    path = serializers.CharField()
    status_code = serializers.IntegerField(help_text="403: a refused attempt on a record the actor can see.")
    client = serializers.SerializerMethodField()
    records = AuditRecordSerializer(many=True, source="records.all")

    @extend_schema_field(AuditClientSerializer)
    def get_client(self, event: AuditEvent) -> dict[str, str]:
        return {"address": event.address, "user_agent": event.user_agent, "device": event.device}


class AccessLogPersonSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(source="full_name")
    role = serializers.CharField(help_text="Their role now.")


class AccessLogEntrySerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    who = AccessLogPersonSerializer(source="actor")
    role = serializers.CharField(source="actor_role", help_text="Their role at the time.")
    action = serializers.ChoiceField(choices=AuditAction.choices)
    resource = serializers.CharField(help_text="What kind of record: the URL name, e.g. `api:checkin-list`.")
    episodes = serializers.SerializerMethodField()
    via = serializers.SerializerMethodField()
    device = serializers.CharField(help_text="The device name they signed in with, when they gave one.")

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_episodes(self, event: AuditEvent) -> list[str]:
        records = getattr(event, "patient_records", [])
        return [str(record.episode_id) for record in records if record.episode_id is not None]

    @extend_schema_field(serializers.ChoiceField(choices=["app", "admin"]))
    def get_via(self, event: AuditEvent) -> str:
        return "admin" if event.resource.startswith("admin:") else "app"


class EpisodeAccessLogPersonSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField(source="full_name")
    role = serializers.CharField(help_text="Their role now.")


class EpisodeAccessLogEntrySerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    at = serializers.DateTimeField()
    who = EpisodeAccessLogPersonSerializer(source="actor")
    role = serializers.CharField(source="actor_role", help_text="Their role at the time.")
    action = serializers.ChoiceField(choices=AuditAction.choices)
    resource = serializers.CharField(help_text="What kind of record: the URL name, e.g. `api:checkin-list`.")
    via = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=["app", "admin"]))
    def get_via(self, event: AuditEvent) -> str:
        return "admin" if event.resource.startswith("admin:") else "app"


def _instant(request: Request, name: str, *, end_of_day: bool) -> datetime | None:
    """An ISO 8601 instant with its offset, or a day (UTC): ``from`` its start, ``to`` its end."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        # A bare day first: Python's ISO parser would also read "2026-11-21" as a naive midnight.
        day = parse_date(raw) if len(raw) == 10 else None
        moment = None if day is not None else parse_datetime(raw)
    except ValueError:
        moment, day = None, None
    if moment is not None:
        if moment.tzinfo is None:
            raise exceptions.ValidationError(
                {name: ["Give the instant's UTC offset, e.g. 2026-03-01T08:00Z."]}
            )
        return moment
    if day is None:
        raise exceptions.ValidationError({name: ["Must be a date (YYYY-MM-DD) or an ISO 8601 instant."]})
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end_of_day else start


def _actions(request: Request) -> list[str] | None:
    raw = request.query_params.get("action")
    if raw is None or raw == "":
        return None
    values = [value.strip() for value in raw.split(",") if value.strip()]
    if not values or any(value not in AuditAction.values for value in values):
        allowed = ", ".join(AuditAction.values)
        raise exceptions.ValidationError(
            {"action": [f"Must be one or more of: {allowed} (comma-separated)."]}
        )
    return values


_SEARCH_PARAMETERS = [
    OpenApiParameter("actor", OpenApiTypes.UUID, description="The staff member's id."),
    OpenApiParameter("patient", OpenApiTypes.UUID, description="Events touching this patient's records."),
    OpenApiParameter("episode", OpenApiTypes.UUID, description="Events touching this episode."),
    OpenApiParameter(
        "action",
        OpenApiTypes.STR,
        description="One or more of view, list, create, update, delete, export (comma-separated).",
    ),
    OpenApiParameter("from", OpenApiTypes.STR, description="From this instant, or this UTC day's start."),
    OpenApiParameter("to", OpenApiTypes.STR, description="Before this instant, or up to this UTC day's end."),
    OpenApiParameter("page", OpenApiTypes.INT),
    OpenApiParameter("page_size", OpenApiTypes.INT),
]


class AuditSearchView(APIView):
    pagination_class = Pagination  # documents the paginated envelope in the schema

    @extend_schema(
        parameters=_SEARCH_PARAMETERS,
        responses={200: AuditEventSerializer(many=True)},
        summary="Search the clinic's audit trail (clinic admins)",
    )
    def get(self, request: Request) -> Response:
        user = current_user(request)
        if not can_in_clinic(user, ClinicAction.VIEW_AUDIT):
            raise exceptions.PermissionDenied("Only the clinic's admins can search its audit trail.")
        since = _instant(request, "from", end_of_day=False)
        until = _instant(request, "to", end_of_day=True)
        if since is not None and until is not None and since >= until:
            raise exceptions.ValidationError({"from": ["Must be before 'to'."]})
        events = audit_search(
            user=user,
            actor=query_uuid(request, "actor"),
            patient=query_uuid(request, "patient"),
            episode=query_uuid(request, "episode"),
            actions=_actions(request),
            since=since,
            until=until,
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)


class AccessLogView(APIView):
    pagination_class = Pagination  # documents the paginated envelope in the schema

    @extend_schema(
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: AccessLogEntrySerializer(many=True)},
        summary="Who read or changed my records (patients)",
    )
    def get(self, request: Request) -> Response:
        user = current_user(request)
        if not user.is_patient:
            raise exceptions.PermissionDenied("The access log is the patient's own.")
        paginator = Pagination()
        page = paginator.paginate_queryset(access_log_for(patient=user), request, view=self)
        return paginator.get_paginated_response(AccessLogEntrySerializer(page, many=True).data)


class EpisodeAccessLogView(EpisodeScopedView):
    # Resolved like any episode read (outside it: 404); then only the care team may read its log (403).
    read_action = Action.VIEW_EPISODE
    pagination_class = Pagination  # documents the paginated envelope in the schema

    @extend_schema(
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
            OpenApiParameter(
                "exclude_self",
                OpenApiTypes.BOOL,
                description="true: leave out your own reads and changes (default false).",
            ),
        ],
        responses={200: EpisodeAccessLogEntrySerializer(many=True)},
        summary="Who read or changed this episode's records (its care team)",
    )
    def get(self, request: Request, episode_id: str) -> Response:
        if not can(self.user, Action.VIEW_ACCESS_LOG, self.episode):
            raise exceptions.PermissionDenied(
                "Only the care team reads this log: patients see theirs under /me/access-log/, "
                "clinic admins search /audit/."
            )
        paginator = Pagination()
        excluding = self.user if query_bool(request, "exclude_self") else None
        page = paginator.paginate_queryset(
            episode_access_log(episode=self.episode, excluding=excluding), request, view=self
        )
        return paginator.get_paginated_response(EpisodeAccessLogEntrySerializer(page, many=True).data)


urlpatterns: list[URLPattern] = [
    path("audit/", AuditSearchView.as_view(), name="audit-list"),
    path("me/access-log/", AccessLogView.as_view(), name="me-access-log"),
    path(
        "episodes/<uuid:episode_id>/access-log/",
        EpisodeAccessLogView.as_view(),
        name="episode-access-log",
    ),
]
