"""``GET /api/v1/me/``: who is signed in."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import current_user
from recovery.accounts.models import User
from recovery.accounts.selectors import active_episode_for


class ClinicRefSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()


class MeSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=["patient", "physiotherapist", "surgeon", "clinic_admin"])
    clinic = ClinicRefSerializer(allow_null=True)
    active_episode = serializers.UUIDField(
        allow_null=True, required=False, help_text="Patients only: the current episode's id, or null."
    )
    time_zone = serializers.CharField(required=False, help_text="Patients only.")
    preferred_language = serializers.CharField(required=False, help_text="Patients only.")


def me_payload(user: User) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": user.pk,
        "email": user.email,
        "name": user.full_name,
        "role": user.role,
        "clinic": {"id": user.clinic.pk, "name": user.clinic.name} if user.clinic else None,
    }
    if user.is_patient:
        episode = active_episode_for(user)
        payload["active_episode"] = episode.pk if episode else None
        profile = getattr(user, "patient_profile", None)
        if profile is not None:
            payload["time_zone"] = profile.time_zone
            payload["preferred_language"] = profile.preferred_language
    return MeSerializer(payload).data


class MeView(APIView):
    @extend_schema(responses={200: MeSerializer}, summary="The signed-in user")
    def get(self, request: Request) -> Response:
        return Response(me_payload(current_user(request)))
