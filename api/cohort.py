"""The clinician's cohort: list, outcomes and the research export.

- ``GET /api/v1/cohort/?procedure=&status=&episode_status=``: the clinician's episodes with post-op
  day, status, latest pains, adherence and open alerts, most at risk first.
- ``GET /api/v1/cohort/outcomes/?procedure=``: pain by post-op day (median, IQR) against the expected
  curve, milestone attainment and the share reaching questionnaire thresholds at 3 months.
- ``GET /api/v1/cohort/export.csv``: the daily series of every visible episode, streamed, pseudonymous.

Surgeons and physiotherapists only (``ClinicAction.VIEW_COHORT``), and only their own episodes: the
episode set is the access policy's ``episodes_for(user, VIEW_TRAJECTORY)``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.trajectory import TrajectoryReasonSerializer, TrajectorySourceSerializer
from recovery.episodes.access import ClinicAction, can_in_clinic
from recovery.episodes.models import EpisodeStatus, Procedure
from recovery.trajectories.selectors import cohort_for, cohort_outcomes, export_rows

STATUSES = ("on_track", "watch", "off_track")


def _require_cohort(request: Request) -> None:
    if not can_in_clinic(request.user, ClinicAction.VIEW_COHORT):
        raise exceptions.PermissionDenied("Only surgeons and physiotherapists have a cohort.")


def _choice(request: Request, name: str, choices: tuple[str, ...] | list[str]) -> str:
    value = request.query_params.get(name, "")
    if value and value not in choices:
        raise exceptions.ValidationError({name: [f"Must be one of: {', '.join(choices)}."]})
    return value


def _procedure(request: Request, *, required: bool) -> str:
    code = request.query_params.get("procedure", "")
    if not code:
        if required:
            raise exceptions.ValidationError({"procedure": ["Required: a procedure code, e.g. acdf."]})
        return ""
    if not Procedure.objects.filter(code=code).exists():
        raise exceptions.ValidationError({"procedure": [f"Unknown procedure {code!r}."]})
    return code


class CohortPatientSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()


class CohortLatestSerializer(serializers.Serializer[Any]):
    date = serializers.DateField(allow_null=True, help_text="The latest check-in day.")
    axial_mean = serializers.FloatField(allow_null=True)
    limb_mean = serializers.FloatField(allow_null=True)
    axial_mean_7d = serializers.FloatField(allow_null=True)
    limb_mean_7d = serializers.FloatField(allow_null=True)


class CohortOpenAlertSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    rule = serializers.CharField()
    severity = serializers.CharField()
    raised_at = serializers.DateTimeField()
    reason = serializers.CharField()


class CohortRowSerializer(serializers.Serializer[Any]):
    episode = serializers.UUIDField()
    patient = CohortPatientSerializer()
    procedure = serializers.CharField()
    surgery_date = serializers.DateField()
    episode_status = serializers.CharField()
    post_op_day = serializers.IntegerField()
    status = serializers.CharField(help_text="on_track | watch | off_track")
    risk = serializers.FloatField(help_text="Ordering score, higher = worse (not a probability).")
    reasons = TrajectoryReasonSerializer(many=True)
    latest = CohortLatestSerializer()
    days_without_checkin = serializers.IntegerField()
    adherence_week = serializers.FloatField(allow_null=True)
    open_alerts = CohortOpenAlertSerializer(many=True)


class CohortPainDaySerializer(serializers.Serializer[Any]):
    post_op_day = serializers.IntegerField()
    n = serializers.IntegerField(help_text="Episodes with a check-in that day.")
    axial_median = serializers.FloatField(allow_null=True)
    axial_q1 = serializers.FloatField(allow_null=True)
    axial_q3 = serializers.FloatField(allow_null=True)
    axial_n = serializers.FloatField(allow_null=True)
    limb_median = serializers.FloatField(allow_null=True)
    limb_q1 = serializers.FloatField(allow_null=True)
    limb_q3 = serializers.FloatField(allow_null=True)
    limb_n = serializers.FloatField(allow_null=True)
    axial_center = serializers.FloatField(allow_null=True)
    axial_upper = serializers.FloatField(allow_null=True)
    limb_center = serializers.FloatField(allow_null=True)
    limb_upper = serializers.FloatField(allow_null=True)


class CohortPainPointSerializer(serializers.Serializer[Any]):
    post_op_day = serializers.IntegerField()
    center = serializers.FloatField()
    upper = serializers.FloatField()
    source = TrajectorySourceSerializer()  # type: ignore[assignment]


class CohortExpectedSerializer(serializers.Serializer[Any]):
    method = serializers.CharField()
    axial_points = CohortPainPointSerializer(many=True)
    limb_points = CohortPainPointSerializer(many=True)


class CohortAttainmentSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    met = serializers.IntegerField()
    missed = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Due or upcoming: not in the rate.")
    rate = serializers.FloatField(allow_null=True, help_text="met / (met + missed)")
    source = TrajectorySourceSerializer(allow_null=True)  # type: ignore[assignment]


class CohortShareSerializer(serializers.Serializer[Any]):
    instrument = serializers.CharField()
    kind = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    improvement = serializers.FloatField(allow_null=True)
    eligible = serializers.IntegerField(help_text="Episodes with a baseline and a 3-month score.")
    reached = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    source = TrajectorySourceSerializer(allow_null=True)  # type: ignore[assignment]


class CohortOutcomesSerializer(serializers.Serializer[Any]):
    procedure = serializers.CharField()
    episodes = serializers.IntegerField()
    protocol_version = serializers.IntegerField(allow_null=True, required=False)
    pain = CohortPainDaySerializer(many=True)
    expected = CohortExpectedSerializer(allow_null=True)
    milestones = CohortAttainmentSerializer(many=True)
    questionnaire_timepoint = serializers.CharField()
    thresholds = CohortShareSerializer(many=True)


class CohortView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("procedure", OpenApiTypes.STR, description="A procedure code."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(STATUSES)),
            OpenApiParameter("episode_status", OpenApiTypes.STR, enum=[s.value for s in EpisodeStatus]),
        ],
        responses={200: CohortRowSerializer(many=True)},
        summary="The clinician's episodes, most at risk first",
    )
    def get(self, request: Request) -> Response:
        _require_cohort(request)
        filters = {
            "procedure": _procedure(request, required=False),
            "status": _choice(request, "status", STATUSES),
            "episode_status": _choice(request, "episode_status", [s.value for s in EpisodeStatus]),
        }
        rows = cohort_for(request.user, now=timezone.now(), filters=filters)
        return Response(CohortRowSerializer(rows, many=True).data)


class CohortOutcomesView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("procedure", OpenApiTypes.STR, required=True)],
        responses={200: CohortOutcomesSerializer},
        summary="Cohort outcomes for one procedure against the expected curve",
    )
    def get(self, request: Request) -> Response:
        _require_cohort(request)
        procedure = _procedure(request, required=True)
        payload = cohort_outcomes(request.user, procedure=procedure, now=timezone.now())
        return Response(CohortOutcomesSerializer(payload).data)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterator[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


class CohortExportView(APIView):
    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, one row per episode-day")
        },
        summary="Daily series of every visible episode as CSV (pseudonymous, streamed)",
        operation_id="cohort_export_csv",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        _require_cohort(request)
        response = StreamingHttpResponse(
            _csv_lines(export_rows(request.user, now=timezone.now())), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="mobilize-cohort-daily.csv"'
        return response


urlpatterns: list[URLPattern] = [
    path("cohort/", CohortView.as_view(), name="cohort"),
    path("cohort/outcomes/", CohortOutcomesView.as_view(), name="cohort-outcomes"),
    path("cohort/export.csv", CohortExportView.as_view(), name="cohort-export"),
]
