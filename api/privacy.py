"""Privacy over HTTP: a person's own data, terms consent, erasure and the clinic's retention.

- ``GET /api/v1/me/export/``: everything Mobilize holds about the caller as one JSON document, as an
  attachment. Any signed-in user (staff get their account, consents and sign-ins).
- ``GET /api/v1/me/export/fhir/``: the patient's episodes as one FHIR R4 Bundle (patients; staff 403).
- ``GET|POST /api/v1/me/erasure/``: the patient's erasure request: its state, or ask (``{"confirm":
  true}``; 201, again 200 with the same request). Patients only. A clinic admin carries it out.
- ``GET|POST /api/v1/me/consents/terms/``: the current answer to the terms and its history; POST
  appends (201), or answers 200 and records nothing when it is the current state already.
- ``GET|PUT /api/v1/clinic/privacy/``: the clinic's retention of erased patients' de-identified
  clinical data (clinic admins).
- ``GET /api/v1/clinic/erasure-requests/?state=``: the clinic's erasure requests (clinic admins).
- ``POST /api/v1/clinic/erasure-requests/{id}/carry-out/``: carry one out (200; again: 200, nothing
  changes). Another clinic's request: 404.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import current_user
from api.fhir import FHIR_JSON, FhirJsonRenderer
from api.fields import StrictBooleanField, StrictCharField, StrictIntegerField, StrictSerializer
from api.pagination import Pagination
from recovery.accounts.models import User
from recovery.episodes.access import ClinicAction, can_in_clinic
from recovery.privacy import selectors, services
from recovery.privacy.models import (
    DEFAULT_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
    RETENTION_SOURCE,
    ErasureRequest,
    ErasureState,
    TermsConsent,
)


def _patient_only(user: User) -> None:
    if not user.is_patient:
        raise exceptions.PermissionDenied("Only patients have a health record here.")


def _admin_only(user: User) -> None:
    if not can_in_clinic(user, ClinicAction.MANAGE_PRIVACY):
        raise exceptions.PermissionDenied("Only a clinic admin can do this.")


# ---------------------------------------------------------------------------------------------
# export


class MeExportView(APIView):
    @extend_schema(
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Everything held about you: account, profile, episodes (check-ins with "
                "revisions, exercise logs, assignments, restrictions, questionnaire responses, "
                "milestones, walks, alerts), reminders, push subscriptions (endpoints masked), "
                "consents, sign-ins, and who read your records.",
            )
        },
        summary="Download all my data (JSON, as an attachment)",
    )
    def get(self, request: Request) -> HttpResponse:
        user = current_user(request)
        document = selectors.patient_export(user=user)
        response = HttpResponse(
            json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1),
            content_type="application/json",
        )
        filename = f"mobilize-export-{timezone.now().date().isoformat()}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class MeFhirExportView(APIView):
    renderer_classes = [JSONRenderer, FhirJsonRenderer]

    @extend_schema(
        responses={(200, FHIR_JSON): OpenApiResponse(OpenApiTypes.OBJECT, description="A FHIR R4 Bundle.")},
        summary="All my episodes as one FHIR R4 Bundle (collection)",
    )
    def get(self, request: Request) -> HttpResponse:
        user = current_user(request)
        _patient_only(user)
        bundle = selectors.patient_fhir_bundle(user=user)
        response = HttpResponse(json.dumps(bundle, ensure_ascii=False), content_type=FHIR_JSON)
        filename = f"mobilize-fhir-{timezone.now().date().isoformat()}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


# ---------------------------------------------------------------------------------------------
# erasure


class PrivacyPersonSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()


class ErasurePatientSerializer(PrivacyPersonSerializer):
    email = serializers.CharField(help_text="A placeholder once the erasure is carried out.")


class ErasureRequestSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=ErasureState.choices)
    requested_at = serializers.DateTimeField()
    carried_out_at = serializers.DateTimeField(allow_null=True)


class ClinicErasureRequestSerializer(ErasureRequestSerializer):
    patient = ErasurePatientSerializer()
    carried_out_by = PrivacyPersonSerializer(allow_null=True)
    removed = serializers.DictField(
        child=serializers.IntegerField(), help_text="What was removed or cleared, as counts per kind."
    )
    purged_at = serializers.DateTimeField(
        allow_null=True, help_text="When the retention ran out and the de-identified data were deleted."
    )


class MeErasureSerializer(serializers.Serializer[Any]):
    request = ErasureRequestSerializer(allow_null=True, help_text="Null: you have not asked.")


class ErasureInputSerializer(StrictSerializer):
    confirm = StrictBooleanField(help_text="Must be true: erasure closes your account for good.")


def _request(row: ErasureRequest) -> dict[str, Any]:
    return {
        "id": row.pk,
        "state": row.state,
        "requested_at": row.requested_at,
        "carried_out_at": row.carried_out_at,
    }


def _clinic_request(row: ErasureRequest) -> dict[str, Any]:
    actor = row.carried_out_by
    return dict(
        ClinicErasureRequestSerializer(
            {
                **_request(row),
                "patient": {"id": row.patient.pk, "name": row.patient.full_name, "email": row.patient.email},
                "carried_out_by": None if actor is None else {"id": actor.pk, "name": actor.full_name},
                "removed": row.removed,
                "purged_at": row.purged_at,
            }
        ).data
    )


class MeErasureView(APIView):
    @extend_schema(responses={200: MeErasureSerializer}, summary="My erasure request, if any")
    def get(self, request: Request) -> Response:
        user = current_user(request)
        _patient_only(user)
        row = selectors.erasure_request_of(patient=user)
        return Response(MeErasureSerializer({"request": None if row is None else _request(row)}).data)

    @extend_schema(
        request=ErasureInputSerializer,
        responses={201: MeErasureSerializer, 200: MeErasureSerializer},
        summary="Ask for my personal data to be erased (201; asking again: 200, the same request)",
    )
    def post(self, request: Request) -> Response:
        user = current_user(request)
        _patient_only(user)
        data = ErasureInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["confirm"] is not True:
            raise exceptions.ValidationError({"confirm": ["Must be true to ask for erasure."]})
        row, created = services.erasure_request(patient=user)
        return Response(
            MeErasureSerializer({"request": _request(row)}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


_STATES = [s.value for s in ErasureState]


class ErasureRequestListView(APIView):
    pagination_class = Pagination

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "state", OpenApiTypes.STR, description=f"One of {', '.join(_STATES)} or `all` (default: all)."
            ),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: ClinicErasureRequestSerializer(many=True)},
        summary="The clinic's erasure requests, newest first (clinic admins)",
    )
    def get(self, request: Request) -> Response:
        user = current_user(request)
        _admin_only(user)
        state = request.query_params.get("state", "all")
        if state != "all" and state not in _STATES:
            raise exceptions.ValidationError({"state": [f"Must be one of: {', '.join([*_STATES, 'all'])}."]})
        rows = selectors.erasure_requests_for(user=user, states=None if state == "all" else [state])
        paginator = Pagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        assert page is not None
        return paginator.get_paginated_response([_clinic_request(row) for row in page])


class ErasureCarryOutView(APIView):
    @extend_schema(
        request=None,
        responses={200: ClinicErasureRequestSerializer},
        summary="Carry out an erasure request of your clinic (again: 200, nothing changes)",
    )
    def post(self, request: Request, request_id: uuid.UUID) -> Response:
        user = current_user(request)
        _admin_only(user)
        try:
            row, _ = services.erasure_carry_out(actor=user, request_id=request_id)
        except ErasureRequest.DoesNotExist:
            raise exceptions.NotFound("Erasure request not found.") from None
        row = selectors.erasure_requests_for(user=user).get(pk=row.pk)
        return Response(_clinic_request(row))


# ---------------------------------------------------------------------------------------------
# terms consent


class TermsInputSerializer(StrictSerializer):
    version = StrictCharField(max_length=32, help_text="The version of the terms shown, e.g. 2026-05.")
    accepted = StrictBooleanField()


class TermsSerializer(serializers.Serializer[Any]):
    version = serializers.CharField()
    accepted = serializers.BooleanField()
    at = serializers.DateTimeField(help_text="When the server recorded the answer.")


class TermsStateSerializer(serializers.Serializer[Any]):
    current = TermsSerializer(allow_null=True, help_text="Null: never answered.")
    history = TermsSerializer(many=True, help_text="Every answer, newest first.")


def _terms(row: TermsConsent | None) -> dict[str, Any] | None:
    return None if row is None else dict(TermsSerializer(row).data)


def _terms_state(user: User) -> dict[str, Any]:
    history = [_terms(row) for row in selectors.terms_history(user=user)]
    return {"current": history[0] if history else None, "history": history}


class TermsConsentView(APIView):
    @extend_schema(
        responses={200: TermsStateSerializer}, summary="My answer to the terms of use, and its history"
    )
    def get(self, request: Request) -> Response:
        return Response(_terms_state(current_user(request)))

    @extend_schema(
        request=TermsInputSerializer,
        responses={201: TermsStateSerializer, 200: TermsStateSerializer},
        summary="Accept or decline a version of the terms (201; the current answer again: 200, nothing recorded)",
    )
    def post(self, request: Request) -> Response:
        user = current_user(request)
        data = TermsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _, created = services.terms_consent_record(
            user=user, version=data.validated_data["version"], accepted=data.validated_data["accepted"]
        )
        return Response(_terms_state(user), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# ---------------------------------------------------------------------------------------------
# retention


class RetentionInputSerializer(StrictSerializer):
    retention_days = StrictIntegerField(min_value=0, max_value=MAX_RETENTION_DAYS)


class RetentionSerializer(serializers.Serializer[Any]):
    retention_days = serializers.IntegerField(
        help_text="Days an erased patient's de-identified clinical data are kept after the erasure."
    )
    retention_source = serializers.CharField(
        help_text='"clinic default, not evidence" until the clinic sets its own.'
    )
    default_retention_days = serializers.IntegerField()
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = PrivacyPersonSerializer(allow_null=True)


def _retention(user: User) -> dict[str, Any]:
    assert user.clinic_id is not None
    policy = selectors.privacy_policy_of(clinic_id=user.clinic_id)
    by = None if policy is None else policy.updated_by
    return dict(
        RetentionSerializer(
            {
                "retention_days": DEFAULT_RETENTION_DAYS if policy is None else policy.retention_days,
                "retention_source": RETENTION_SOURCE if policy is None else "set by the clinic",
                "default_retention_days": DEFAULT_RETENTION_DAYS,
                "updated_at": None if policy is None else policy.updated_at,
                "updated_by": None if by is None else {"id": by.pk, "name": by.full_name},
            }
        ).data
    )


class ClinicPrivacyView(APIView):
    @extend_schema(
        responses={200: RetentionSerializer}, summary="Your clinic's retention of de-identified data"
    )
    def get(self, request: Request) -> Response:
        user = current_user(request)
        _admin_only(user)
        return Response(_retention(user))

    @extend_schema(
        request=RetentionInputSerializer,
        responses={200: RetentionSerializer},
        summary="Set your clinic's retention of erased patients' de-identified clinical data",
    )
    def put(self, request: Request) -> Response:
        user = current_user(request)
        _admin_only(user)
        data = RetentionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assert user.clinic is not None
        services.privacy_policy_set(
            actor=user, clinic=user.clinic, retention_days=data.validated_data["retention_days"]
        )
        return Response(_retention(user))


urlpatterns: list[URLPattern] = [
    path("me/export/", MeExportView.as_view(), name="me-export"),
    path("me/export/fhir/", MeFhirExportView.as_view(), name="me-export-fhir"),
    path("me/erasure/", MeErasureView.as_view(), name="me-erasure"),
    path("me/consents/terms/", TermsConsentView.as_view(), name="me-terms-consent"),
    path("clinic/privacy/", ClinicPrivacyView.as_view(), name="clinic-privacy"),
    path("clinic/erasure-requests/", ErasureRequestListView.as_view(), name="erasure-request-list"),
    path(
        "clinic/erasure-requests/<uuid:request_id>/carry-out/",
        ErasureCarryOutView.as_view(),
        name="erasure-request-carry-out",
    ),
]
