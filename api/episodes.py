"""Episodes: list, detail and enrolment (``/api/v1/episodes/``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import current_user
from api.fields import StrictCharField, StrictDateField, StrictSerializer, StrictUUIDField
from api.pagination import Pagination
from recovery.accounts.models import Language
from recovery.episodes.models import Episode, EpisodeStatus
from recovery.episodes.selectors import episode_get, episode_list
from recovery.episodes.services import EnrolmentData, PatientData, episode_enrol


class PersonRefSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField(source="full_name")


class CareTeamSerializer(serializers.Serializer[Any]):
    surgeon = PersonRefSerializer()
    physiotherapists = PersonRefSerializer(many=True)


class EpisodeSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    patient = PersonRefSerializer()
    procedure = serializers.CharField(source="procedure_id")
    procedure_name = serializers.CharField(source="procedure.name")
    levels = serializers.ListField(child=serializers.CharField())
    surgery_date = serializers.DateField()
    post_op_day = serializers.SerializerMethodField(
        help_text="Days since surgery on the patient's own calendar (0 on the day, negative before)."
    )
    status = serializers.ChoiceField(choices=EpisodeStatus.choices)
    care_team = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.INT)
    def get_post_op_day(self, episode: Episode) -> int:
        return episode.post_op_day()

    @extend_schema_field(CareTeamSerializer)
    def get_care_team(self, episode: Episode) -> dict[str, Any]:
        return CareTeamSerializer(
            {"surgeon": episode.surgeon, "physiotherapists": list(episode.physiotherapists.all())}
        ).data


class PatientInputSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    name = StrictCharField(max_length=200)
    date_of_birth = StrictDateField()
    time_zone = StrictCharField(max_length=64, help_text="IANA time zone, e.g. Europe/Madrid.")
    preferred_language = serializers.ChoiceField(choices=Language.choices, default=Language.ENGLISH)

    def validate_email(self, value: Any) -> str:
        if not isinstance(value, str):
            raise serializers.ValidationError("Must be a string.")
        return value.strip().lower()


class EnrolmentSerializer(StrictSerializer):
    id = StrictUUIDField(
        required=False, help_text="Optional client-chosen id; makes the request safe to retry."
    )
    patient = PatientInputSerializer()
    procedure = StrictCharField(max_length=60, help_text="Procedure code, e.g. lumbar_microdiscectomy.")
    levels = serializers.ListField(child=StrictCharField(max_length=8), allow_empty=False, max_length=8)
    surgery_date = StrictDateField()
    surgeon = StrictUUIDField(required=False, help_text="Defaults to the enrolling surgeon.")
    physiotherapists = serializers.ListField(
        child=StrictUUIDField(), required=False, default=list, max_length=20
    )
    status = serializers.ChoiceField(choices=EpisodeStatus.choices, required=False)


class EpisodeListView(APIView):
    pagination_class = Pagination

    @extend_schema(responses={200: EpisodeSerializer(many=True)}, summary="Episodes you can see")
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(episode_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(EpisodeSerializer(page, many=True).data)

    @extend_schema(
        request=EnrolmentSerializer,
        responses={201: EpisodeSerializer, 200: EpisodeSerializer},
        summary="Enrol a patient (surgeon or clinic admin); invites the patient when the email is new",
    )
    def post(self, request: Request) -> Response:
        actor = current_user(request)
        data = EnrolmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        p = v["patient"]
        episode, created = episode_enrol(
            actor=actor,
            episode_id=v.get("id"),
            data=EnrolmentData(
                patient=PatientData(
                    email=p["email"],
                    full_name=p["name"],
                    date_of_birth=p["date_of_birth"],
                    time_zone=p["time_zone"],
                    preferred_language=p["preferred_language"],
                ),
                procedure=v["procedure"],
                levels=v["levels"],
                surgery_date=v["surgery_date"],
                surgeon=v.get("surgeon"),
                physiotherapists=v["physiotherapists"],
                status=v.get("status"),
            ),
        )
        stored = episode_get(user=actor, episode_id=episode.pk)
        assert stored is not None
        return Response(
            EpisodeSerializer(stored).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class EpisodeDetailView(APIView):
    @extend_schema(responses={200: EpisodeSerializer}, summary="One episode")
    def get(self, request: Request, episode_id: str) -> Response:
        episode = episode_get(user=request.user, episode_id=episode_id)
        if episode is None:
            raise exceptions.NotFound("Episode not found.")
        return Response(EpisodeSerializer(episode).data)
