"""Check-ins of one episode (``/api/v1/episodes/{episode_id}/check-ins/``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import EpisodeScopedView
from api.fields import (
    OffsetDateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
    StrictUUIDField,
)
from api.pagination import Pagination
from api.params import query_date_range
from recovery.checkins.models import CheckIn
from recovery.checkins.selectors import checkin_get, checkin_list
from recovery.checkins.services import (
    EDIT_WINDOW,
    CheckInData,
    checkin_delete,
    checkin_record,
    checkin_update,
)
from recovery.checkins.vocabulary import RED_FLAGS
from recovery.episodes.access import Action

_FLAG_CODES = [flag.code for flag in RED_FLAGS]


class RedFlagCodeField(StrictCharField):
    default_error_messages = {"unknown": "Unknown red-flag code: {code}."}

    def to_internal_value(self, data: Any) -> str:
        code = super().to_internal_value(data)
        if code not in _FLAG_CODES:
            self.fail("unknown", code=code)
        return code


class CheckInInputSerializer(StrictSerializer):
    id = StrictUUIDField(
        required=False, help_text="Client-made UUID; a retry with the same id never duplicates."
    )
    recorded_at = OffsetDateTimeField(required=False, help_text="ISO 8601 with offset; defaults to now.")
    axial_pain = StrictIntegerField(min_value=0, max_value=10, help_text="Back or neck pain, 0-10.")
    limb_pain = StrictIntegerField(min_value=0, max_value=10, help_text="Leg or arm pain, 0-10.")
    walking_minutes = StrictIntegerField(min_value=0, max_value=1440, required=False, allow_null=True)
    steps = StrictIntegerField(min_value=0, max_value=100000, required=False, allow_null=True)
    sleep_quality = StrictIntegerField(min_value=0, max_value=10, required=False, allow_null=True)
    took_opioid = StrictBooleanField(required=False, allow_null=True)
    red_flags = serializers.ListField(
        child=RedFlagCodeField(help_text=", ".join(_FLAG_CODES)),
        required=False,
        max_length=len(_FLAG_CODES) * 2,
    )
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, trim_whitespace=False)


class CheckInPatchSerializer(CheckInInputSerializer):
    id = None  # type: ignore[assignment]  # the id of a stored check-in never changes
    recorded_at = OffsetDateTimeField(required=False)


class CheckInSerializer(serializers.Serializer[Any]):
    """The stored check-in, as documented in the schema. Responses are built by ``checkin_payload``
    (a plain function: this is the hot path of every phone's sync); a test keeps the two in step."""

    id = serializers.UUIDField()
    episode = serializers.UUIDField()
    recorded_at = serializers.DateTimeField()
    local_date = serializers.DateField(help_text="The patient's calendar day at recorded_at.")
    axial_pain = serializers.IntegerField()
    limb_pain = serializers.IntegerField()
    walking_minutes = serializers.IntegerField(allow_null=True)
    steps = serializers.IntegerField(allow_null=True)
    sleep_quality = serializers.IntegerField(allow_null=True)
    took_opioid = serializers.BooleanField(allow_null=True)
    red_flags = serializers.ListField(child=serializers.CharField())
    note = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    editable_until = serializers.DateTimeField(help_text="Until when the patient may correct or withdraw it.")


def _iso(moment: datetime) -> str:
    value = moment.astimezone(UTC).isoformat()
    return value[:-6] + "Z" if value.endswith("+00:00") else value


def checkin_payload(checkin: CheckIn) -> dict[str, Any]:
    return {
        "id": str(checkin.id),
        "episode": str(checkin.episode_id),
        "recorded_at": _iso(checkin.recorded_at),
        "local_date": checkin.local_date.isoformat(),
        "axial_pain": checkin.axial_pain,
        "limb_pain": checkin.limb_pain,
        "walking_minutes": checkin.walking_minutes,
        "steps": checkin.steps,
        "sleep_quality": checkin.sleep_quality,
        "took_opioid": checkin.took_opioid,
        "red_flags": list(checkin.red_flags),
        "note": checkin.note,
        "created_at": _iso(checkin.created_at),
        "updated_at": _iso(checkin.updated_at),
        "editable_until": _iso(checkin.created_at + EDIT_WINDOW),
    }


def _data(validated: dict[str, Any]) -> CheckInData:
    return CheckInData(
        recorded_at=validated.get("recorded_at"),
        axial_pain=validated["axial_pain"],
        limb_pain=validated["limb_pain"],
        walking_minutes=validated.get("walking_minutes"),
        steps=validated.get("steps"),
        sleep_quality=validated.get("sleep_quality"),
        took_opioid=validated.get("took_opioid"),
        red_flags=tuple(validated.get("red_flags", ())),
        note=validated.get("note", ""),
    )


class CheckInListView(EpisodeScopedView):
    pagination_class = Pagination  # documents the paginated envelope in the schema
    read_action = Action.VIEW_CHECKINS
    method_actions = {"POST": Action.LOG_CHECKIN}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First local day (inclusive)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last local day (inclusive)."),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="At most 200."),
        ],
        responses={200: CheckInSerializer(many=True)},
        summary="Check-ins of an episode, newest first",
    )
    def get(self, request: Request, episode_id: str) -> Response:
        date_from, date_to = query_date_range(request)
        paginator = Pagination()
        page = paginator.paginate_queryset(
            checkin_list(episode=self.episode, date_from=date_from, date_to=date_to), request, view=self
        )
        return paginator.get_paginated_response([checkin_payload(checkin) for checkin in page or []])

    @extend_schema(
        request=CheckInInputSerializer,
        responses={201: CheckInSerializer, 200: CheckInSerializer},
        summary="Record a check-in (201), or replay one already stored (200); other content under the same id is 409",
    )
    def post(self, request: Request, episode_id: str) -> Response:
        data = CheckInInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        validated = data.validated_data
        checkin, created = checkin_record(
            actor=self.user,
            episode=self.episode,
            data=_data(validated),
            supplied=frozenset(validated),
            checkin_id=validated.get("id"),
        )
        return Response(
            checkin_payload(checkin), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class CheckInDetailView(EpisodeScopedView):
    read_action = Action.VIEW_CHECKINS
    method_actions = {"PATCH": Action.EDIT_CHECKIN, "DELETE": Action.EDIT_CHECKIN}

    def _checkin(self, checkin_id: str) -> CheckIn:
        checkin = checkin_get(episode=self.episode, checkin_id=checkin_id)
        if checkin is None:
            raise exceptions.NotFound("Check-in not found.")
        return checkin

    @extend_schema(responses={200: CheckInSerializer}, summary="One check-in")
    def get(self, request: Request, episode_id: str, checkin_id: str) -> Response:
        return Response(checkin_payload(self._checkin(checkin_id)))

    @extend_schema(
        request=CheckInPatchSerializer,
        responses={200: CheckInSerializer},
        summary="Correct a check-in (the patient, within 72 hours); the previous content is kept",
    )
    def patch(self, request: Request, episode_id: str, checkin_id: str) -> Response:
        checkin = self._checkin(checkin_id)
        data = CheckInPatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        updated = checkin_update(actor=self.user, checkin=checkin, changes=dict(data.validated_data))
        return Response(checkin_payload(updated))

    @extend_schema(responses={204: None}, summary="Withdraw a check-in (the patient, within 72 hours)")
    def delete(self, request: Request, episode_id: str, checkin_id: str) -> Response:
        checkin_delete(actor=self.user, checkin=self._checkin(checkin_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
