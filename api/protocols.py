"""Expected-recovery protocols, per clinic.

- ``GET /api/v1/protocols/``: procedures with a protocol, the version the caller's clinic uses and
  whether it has overrides.
- ``GET /api/v1/protocols/{procedure}/``: the clinic's effective protocol, every value with its source
  (overridden values say who changed them and when).
- ``POST /api/v1/protocols/{procedure}/adopt/`` ``{"version"}``: use a shipped version as is.
- ``GET``/``POST /api/v1/protocols/{procedure}/overrides/``: the clinic's override history; record one.

Clinic staff read (``VIEW_PROTOCOLS``); surgeons and clinic admins write (``MANAGE_PROTOCOLS``).
Patients are refused with 403, like the other clinic-level endpoints. Nothing crosses clinics: every
read and write is for the caller's own clinic. Logic lives in ``recovery.protocols``.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import current_user
from api.fields import StrictCharField, StrictIntegerField, StrictSerializer
from api.pagination import Pagination
from recovery.accounts.models import User
from recovery.core.errors import NotPermitted
from recovery.episodes.access import ClinicAction, can_in_clinic
from recovery.protocols import services
from recovery.protocols.models import ClinicProtocolOverride
from recovery.protocols.selectors import (
    EffectiveProtocol,
    ProtocolNotFound,
    effective_protocol,
    override_history,
    protocol_list,
)
from recovery.protocols.types import Source


class StrictNumberField(serializers.FloatField):
    """A JSON number (integer or decimal); strings and booleans are refused."""

    default_error_messages = {"invalid": "Must be a number."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return float(super().to_internal_value(data))


# --- output ---------------------------------------------------------------------------------------


class PersonSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()


class SourceSerializer(serializers.Serializer[Any]):
    reference = serializers.CharField(
        help_text="Paper and table from the clinical reference, or a clinic label."
    )
    confidence = serializers.CharField(
        help_text="H, M, L, H/M or L/M as in the clinical reference; empty if none."
    )
    interpolated = serializers.BooleanField(help_text="True when the reference has no value for this point.")
    method = serializers.CharField(help_text="How an interpolated, derived or overridden value was obtained.")
    overridden_by = serializers.CharField(
        help_text="Who in the clinic replaced the shipped value; empty if nobody."
    )
    overridden_at = serializers.DateTimeField(allow_null=True)


class PainPointSerializer(serializers.Serializer[Any]):
    post_op_day = serializers.IntegerField()
    center = serializers.FloatField()
    upper = serializers.FloatField()
    source = SourceSerializer()  # type: ignore[assignment]


class PromExpectationSerializer(serializers.Serializer[Any]):
    timepoint = serializers.CharField()
    post_op_day = serializers.IntegerField()
    instrument = serializers.CharField()
    expected_score = serializers.FloatField()
    source = SourceSerializer()  # type: ignore[assignment]


class PromThresholdSerializer(serializers.Serializer[Any]):
    instrument = serializers.CharField()
    kind = serializers.CharField()
    improvement = serializers.FloatField(
        help_text="Points of decrease from baseline (percentage scale 0-100)."
    )
    label = serializers.CharField()  # type: ignore[assignment]
    source = SourceSerializer()  # type: ignore[assignment]


class MilestoneSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    patient_label = serializers.CharField()
    expected_by_day = serializers.IntegerField()
    metric = serializers.CharField()
    target = serializers.FloatField(allow_null=True)
    window_days = serializers.IntegerField()
    source = SourceSerializer()  # type: ignore[assignment]


class AdoptionSerializer(serializers.Serializer[Any]):
    version = serializers.IntegerField()
    adopted_by = PersonSerializer(allow_null=True)
    adopted_at = serializers.DateTimeField()


class ProtocolSummarySerializer(serializers.Serializer[Any]):
    procedure = serializers.CharField()
    procedure_name = serializers.CharField()
    region = serializers.CharField()
    title = serializers.CharField()
    version = serializers.IntegerField(help_text="The version your clinic uses.")
    latest_version = serializers.IntegerField()
    shipped_versions = serializers.ListField(child=serializers.IntegerField())
    adopted = serializers.BooleanField(help_text="False: your clinic follows the latest shipped version.")
    adopted_by = serializers.CharField()
    adopted_at = serializers.DateTimeField(allow_null=True)
    overridden = serializers.BooleanField()
    override_count = serializers.IntegerField()


class ProtocolDetailSerializer(serializers.Serializer[Any]):
    procedure = serializers.CharField()
    title = serializers.CharField()
    about = serializers.CharField()
    band_rule = serializers.CharField(help_text="How the daily band is built between and after the points.")
    version = serializers.IntegerField()
    latest_version = serializers.IntegerField()
    shipped_versions = serializers.ListField(child=serializers.IntegerField())
    content_hash = serializers.CharField()
    region = serializers.CharField()
    instrument = serializers.CharField()
    adoption = AdoptionSerializer(allow_null=True)
    overridden = serializers.BooleanField()
    axial = PainPointSerializer(many=True)
    limb = PainPointSerializer(many=True)
    proms = PromExpectationSerializer(many=True)
    thresholds = PromThresholdSerializer(many=True)
    milestones = MilestoneSerializer(many=True)


class OverrideSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    version = serializers.IntegerField()
    target = serializers.CharField()
    old_value = serializers.FloatField(allow_null=True, help_text="The clinic's value before this change.")
    new_value = serializers.FloatField(allow_null=True, help_text="Null: back to the shipped value.")
    shipped_value = serializers.FloatField(allow_null=True)
    reason = serializers.CharField()
    created_by = PersonSerializer()
    created_at = serializers.DateTimeField()


class TargetStateSerializer(serializers.Serializer[Any]):
    target = serializers.CharField()
    version = serializers.IntegerField()
    shipped_value = serializers.FloatField(allow_null=True)
    value = serializers.FloatField(allow_null=True, help_text="The value your clinic now uses.")
    overridden = serializers.BooleanField()
    last_change = OverrideSerializer(allow_null=True)


# --- input ----------------------------------------------------------------------------------------


class AdoptInputSerializer(StrictSerializer):
    version = StrictIntegerField(min_value=1)


class OverrideInputSerializer(StrictSerializer):
    target = StrictCharField(
        max_length=120,
        help_text='e.g. "axial.42.upper", "limb.0.center", "proms.month_3.expected_score", '
        '"thresholds.mcid.improvement", "milestones.driving.expected_by_day", "milestones.steps_week_6.target".',
    )
    value = StrictNumberField(
        allow_null=True, help_text="The new value; null goes back to the shipped value."
    )
    reason = StrictCharField(max_length=1000)


# --- payloads -------------------------------------------------------------------------------------


def _person(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.pk, "name": user.full_name}


def _source(source: Source) -> dict[str, Any]:
    return {
        "reference": source.reference,
        "confidence": source.confidence,
        "interpolated": source.interpolated,
        "method": source.method,
        "overridden_by": source.overridden_by,
        "overridden_at": source.overridden_at,
    }


def _with_source(item: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {**{name: getattr(item, name) for name in fields}, "source": _source(item.source)}


def _detail_payload(found: EffectiveProtocol) -> dict[str, Any]:
    expected, version, adoption = found.expected, found.version, found.adoption
    pain = ("post_op_day", "center", "upper")
    sourced = [
        item.source
        for group in (expected.axial, expected.limb, expected.proms, expected.thresholds, expected.milestones)
        for item in group
    ]
    return {
        "procedure": expected.procedure,
        "title": version.document.get("title", ""),
        "about": version.document.get("about", ""),
        "band_rule": version.document.get("band_rule", ""),
        "version": expected.version,
        "latest_version": max(found.shipped_versions),
        "shipped_versions": list(found.shipped_versions),
        "content_hash": version.content_hash,
        "region": expected.region,
        "instrument": expected.instrument,
        "adoption": None
        if adoption is None
        else {
            "version": adoption.version.version,
            "adopted_by": _person(adoption.adopted_by),
            "adopted_at": adoption.adopted_at,
        },
        "overridden": any(source.overridden_by for source in sourced),
        "axial": [_with_source(p, pain) for p in expected.axial],
        "limb": [_with_source(p, pain) for p in expected.limb],
        "proms": [
            _with_source(p, ("timepoint", "post_op_day", "instrument", "expected_score"))
            for p in expected.proms
        ],
        "thresholds": [
            _with_source(t, ("instrument", "kind", "improvement", "label")) for t in expected.thresholds
        ],
        "milestones": [
            _with_source(
                m, ("key", "label", "patient_label", "expected_by_day", "metric", "target", "window_days")
            )
            for m in expected.milestones
        ],
    }


def _override_payload(row: ClinicProtocolOverride) -> dict[str, Any]:
    return {
        "id": row.pk,
        "version": row.version.version,
        "target": row.target,
        "old_value": row.old_value,
        "new_value": row.new_value,
        "shipped_value": row.shipped_value,
        "reason": row.reason,
        "created_by": _person(row.created_by),
        "created_at": row.created_at,
    }


# --- views ----------------------------------------------------------------------------------------


def _reader(request: Request) -> User:
    actor = current_user(request)
    if not can_in_clinic(actor, ClinicAction.VIEW_PROTOCOLS):
        raise NotPermitted("Only clinic staff see expected-recovery protocols.")
    return actor


def _manager(request: Request) -> User:
    actor = _reader(request)
    if not can_in_clinic(actor, ClinicAction.MANAGE_PROTOCOLS):
        raise NotPermitted("Only a surgeon or a clinic admin changes the clinic's protocols.")
    return actor


class ProtocolListView(APIView):
    @extend_schema(
        responses={200: ProtocolSummarySerializer(many=True)},
        summary="Procedures with an expected-recovery protocol and the version your clinic uses",
    )
    def get(self, request: Request) -> Response:
        actor = _reader(request)
        summaries = protocol_list(clinic_id=actor.tenant_id)
        return Response(ProtocolSummarySerializer(summaries, many=True).data)


class ProtocolDetailView(APIView):
    @extend_schema(
        responses={200: ProtocolDetailSerializer},
        summary="Your clinic's expected recovery for a procedure: every value with its source",
    )
    def get(self, request: Request, procedure: str) -> Response:
        actor = _reader(request)
        try:
            found = effective_protocol(clinic_id=actor.tenant_id, procedure_code=procedure)
        except ProtocolNotFound:
            raise exceptions.NotFound("No protocol ships for this procedure.") from None
        return Response(ProtocolDetailSerializer(_detail_payload(found)).data)


class ProtocolAdoptView(APIView):
    @extend_schema(
        request=AdoptInputSerializer,
        responses={201: ProtocolDetailSerializer, 200: ProtocolDetailSerializer},
        summary=(
            "Adopt a shipped version as is for your clinic (surgeon or clinic admin): 201 when the clinic's "
            "version changed, 200 when it already used it. Overrides belong to the version they were made on"
        ),
    )
    def post(self, request: Request, procedure: str) -> Response:
        actor = _manager(request)
        data = AdoptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            _, changed = services.protocol_adopt(
                actor=actor, procedure_code=procedure, version=data.validated_data["version"]
            )
            found = effective_protocol(clinic_id=actor.tenant_id, procedure_code=procedure)
        except ProtocolNotFound:
            raise exceptions.NotFound("No protocol ships for this procedure.") from None
        return Response(
            ProtocolDetailSerializer(_detail_payload(found)).data,
            status=status.HTTP_201_CREATED if changed else status.HTTP_200_OK,
        )


class ProtocolOverridesView(APIView):
    pagination_class = Pagination  # documents the paginated envelope in the schema

    @extend_schema(
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="At most 200."),
        ],
        responses={200: OverrideSerializer(many=True)},
        summary="Your clinic's overrides of this procedure's protocol (every version), newest first",
    )
    def get(self, request: Request, procedure: str) -> Response:
        actor = _reader(request)
        try:
            rows = override_history(clinic_id=actor.tenant_id, procedure_code=procedure)
        except ProtocolNotFound:
            raise exceptions.NotFound("No protocol ships for this procedure.") from None
        paginator = Pagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(
            [OverrideSerializer(_override_payload(r)).data for r in page or []]
        )

    @extend_schema(
        request=OverrideInputSerializer,
        responses={201: TargetStateSerializer, 200: TargetStateSerializer},
        summary=(
            "Override one value of the version your clinic uses (surgeon or clinic admin); value null goes "
            "back to the shipped value. 201 when recorded, 200 when the target already had that value"
        ),
    )
    def post(self, request: Request, procedure: str) -> Response:
        actor = _manager(request)
        data = OverrideInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        validated = data.validated_data
        try:
            state, created = services.protocol_override(
                actor=actor,
                procedure_code=procedure,
                target=validated["target"],
                value=validated["value"],
                reason=validated["reason"],
            )
        except ProtocolNotFound:
            raise exceptions.NotFound("No protocol ships for this procedure.") from None
        payload = {
            "target": state.target,
            "version": state.version,
            "shipped_value": state.shipped_value,
            "value": state.value,
            "overridden": state.overridden,
            "last_change": None if state.last_change is None else _override_payload(state.last_change),
        }
        return Response(
            TargetStateSerializer(payload).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


urlpatterns: list[URLPattern] = [
    path("protocols/", ProtocolListView.as_view(), name="protocol-list"),
    path("protocols/<slug:procedure>/", ProtocolDetailView.as_view(), name="protocol-detail"),
    path("protocols/<slug:procedure>/adopt/", ProtocolAdoptView.as_view(), name="protocol-adopt"),
    path("protocols/<slug:procedure>/overrides/", ProtocolOverridesView.as_view(), name="protocol-overrides"),
]
