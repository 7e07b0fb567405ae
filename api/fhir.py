"""FHIR R4 export and import.

- ``GET /api/v1/episodes/{id}/fhir/``: the episode as a FHIR Bundle (``collection``),
  ``Content-Type: application/fhir+json``. The patient and the care team.
- ``POST /api/v1/episodes/{id}/fhir/``: a Bundle of Observations (pain 72514-3 with bodySite, step
  counts, walking minutes) as ``application/fhir+json`` or ``application/json``; 200 with the outcome
  of every entry. Not a Bundle: 400 naming the field. The patient and the care team.
- ``GET /api/v1/cohort/fhir/``: a bulk-data style manifest listing one URL per resource type;
  ``GET /api/v1/cohort/fhir/?type=Observation``: that type's resources across every episode you may
  export, streamed as NDJSON (``application/fhir+ndjson``). Surgeons and physiotherapists.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import EpisodeScopedView, current_user
from recovery.episodes.access import Action, ClinicAction, can_in_clinic
from recovery.interop import selectors, services
from recovery.interop.fhir.export import RESOURCE_TYPES, instant

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"


class FhirJsonParser(JSONParser):
    media_type = FHIR_JSON


class FhirJsonRenderer(JSONRenderer):
    """Lets FHIR clients that send ``Accept: application/fhir+json`` through content negotiation
    (errors are then our usual JSON error body under that media type)."""

    media_type = FHIR_JSON
    format = "fhir"


class FhirNdjsonRenderer(JSONRenderer):
    """The same for bulk clients sending ``Accept: application/fhir+ndjson`` (the manifest and errors
    stay one JSON object)."""

    media_type = FHIR_NDJSON
    format = "ndjson"


class ImportEntrySerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField(help_text="Position of the entry in the Bundle, from 0.")
    resource_type = serializers.CharField(allow_null=True)
    identifier = serializers.CharField(allow_null=True, help_text="system|value of the Observation.")
    outcome = serializers.ChoiceField(choices=["imported", "already_imported", "not_imported"])
    reason = serializers.CharField(allow_blank=True)
    stored_as = serializers.ChoiceField(choices=["checkin", "measurement"], allow_null=True)
    checkin = serializers.UUIDField(allow_null=True, help_text="The check-in the value is part of.")


class ImportReportSerializer(serializers.Serializer[Any]):
    imported = serializers.IntegerField()
    already_imported = serializers.IntegerField()
    not_imported = serializers.IntegerField()
    entries = ImportEntrySerializer(many=True)


class ManifestOutputSerializer(serializers.Serializer[Any]):
    type = serializers.CharField()
    url = serializers.URLField()


class ManifestSerializer(serializers.Serializer[Any]):
    transactionTime = serializers.DateTimeField()  # noqa: N815 (FHIR bulk data spelling)
    request = serializers.URLField()
    requiresAccessToken = serializers.BooleanField()  # noqa: N815
    output = ManifestOutputSerializer(many=True)
    error = serializers.ListField(child=serializers.JSONField())
    extension = serializers.DictField(help_text='{"episodes": number of episodes in the export}')


def report_payload(report: services.ImportReport) -> dict[str, Any]:
    return {
        "imported": report.count(services.IMPORTED),
        "already_imported": report.count(services.ALREADY_IMPORTED),
        "not_imported": report.count(services.NOT_IMPORTED),
        "entries": [
            {
                "index": entry.index,
                "resource_type": entry.resource_type,
                "identifier": entry.identifier,
                "outcome": entry.outcome,
                "reason": entry.reason,
                "stored_as": entry.stored_as,
                "checkin": str(entry.checkin_id) if entry.checkin_id is not None else None,
            }
            for entry in report.entries
        ],
    }


class EpisodeFhirView(EpisodeScopedView):
    read_action = Action.EXPORT_FHIR
    method_actions = {"POST": Action.IMPORT_FHIR}
    parser_classes = [JSONParser, FhirJsonParser]
    renderer_classes = [JSONRenderer, FhirJsonRenderer]

    @extend_schema(
        responses={(200, FHIR_JSON): OpenApiResponse(OpenApiTypes.OBJECT, description="A FHIR R4 Bundle.")},
        summary="The episode as a FHIR R4 Bundle (collection)",
    )
    def get(self, request: Request, episode_id: str) -> HttpResponse:
        bundle = selectors.episode_bundle(episode=self.episode)
        return HttpResponse(json.dumps(bundle, ensure_ascii=False), content_type=FHIR_JSON)

    @extend_schema(
        request={FHIR_JSON: OpenApiTypes.OBJECT, "application/json": OpenApiTypes.OBJECT},
        responses={200: ImportReportSerializer},
        summary="Import a FHIR Bundle of pain and step Observations; every entry's outcome is reported",
    )
    def post(self, request: Request, episode_id: str) -> Response:
        report = services.fhir_import(actor=self.user, episode=self.episode, bundle=request.data)
        return Response(report_payload(report))


class CohortFhirView(APIView):
    renderer_classes = [JSONRenderer, FhirNdjsonRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "type",
                OpenApiTypes.STR,
                enum=list(RESOURCE_TYPES),
                description="One resource type: its NDJSON stream. Without it: the manifest.",
            )
        ],
        responses={
            (200, "application/json"): ManifestSerializer,
            (200, FHIR_NDJSON): OpenApiResponse(OpenApiTypes.STR, description="One resource per line."),
        },
        summary="Your cohort in FHIR bulk-data style: a manifest, or one resource type as NDJSON",
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        user = current_user(request)
        if not can_in_clinic(user, ClinicAction.VIEW_COHORT):
            raise exceptions.PermissionDenied("Only clinicians export their cohort.")
        resource_type = request.query_params.get("type")
        if resource_type is None:
            base = request.build_absolute_uri(request.path)
            return Response(
                {
                    "transactionTime": instant(timezone.now()),
                    "request": request.build_absolute_uri(),
                    "requiresAccessToken": True,
                    "output": [{"type": name, "url": f"{base}?type={name}"} for name in RESOURCE_TYPES],
                    "error": [],
                    "extension": {"episodes": selectors.cohort_episodes(user=user).count()},
                }
            )
        if resource_type not in RESOURCE_TYPES:
            raise exceptions.ValidationError({"type": [f"Must be one of: {', '.join(RESOURCE_TYPES)}."]})
        stream = selectors.cohort_ndjson(user=user, resource_type=resource_type)
        return StreamingHttpResponse(stream, content_type=FHIR_NDJSON)


urlpatterns: list[URLPattern] = [
    path("episodes/<uuid:episode_id>/fhir/", EpisodeFhirView.as_view(), name="episode-fhir"),
    path("cohort/fhir/", CohortFhirView.as_view(), name="cohort-fhir"),
]
