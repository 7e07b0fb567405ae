"""Outcome questionnaires (ODI for lumbar procedures, NDI for cervical ones).

- ``GET /api/v1/episodes/{episode_id}/questionnaires/``: the schedule with windows, states and scores.
- ``GET``/``POST /api/v1/episodes/{episode_id}/questionnaire-responses/``: answered questionnaires.
- ``GET /api/v1/questionnaires/instruments/{code}/``: the items to render, one per screen.

Scoring, assignment and comparison happen in ``recovery.proms``; this module parses and renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.urls import URLPattern, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import EpisodeScopedView, current_user
from api.fields import OffsetDateTimeField, StrictCharField, StrictSerializer, StrictUUIDField
from api.pagination import Pagination
from recovery.accounts.models import Language
from recovery.episodes.access import Action
from recovery.proms.definitions import DEFAULT_LANGUAGE, Threshold
from recovery.proms.scoring import ThresholdResult
from recovery.proms.selectors import (
    CLINIC_WORDING,
    MOBILIZE_WORDING,
    ScoredResponse,
    TimepointStatus,
    instrument_get,
    instrument_render,
    questionnaire_overview,
    response_list,
    responses_scored,
)
from recovery.proms.services import ResponseData, questionnaire_response_record
from recovery.proms.timepoints import State

_SCALE_HELP = (
    "The scale the thresholds were published on: `percent` (ODI, 0-100) or `points_0_50` (NDI total, "
    "0-50; prorated from the percentage when one item was skipped)."
)


class ScaleField(serializers.CharField):
    """`percent` or `points_0_50`. A plain string, not an enum: the same choice set under several
    field names would make competing enum components in the schema."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 5, "nullable": True},
        "example": {"pain_intensity": 3, "personal_care": 2, "sex_life": None},
    }
)
class AnswersField(serializers.Field):  # type: ignore[type-arg]
    """A JSON object of item key -> answer. Values are checked per item by the domain, which knows
    the instrument; here only the shape is checked."""

    default_error_messages = {
        "invalid": "Must be an object mapping each item key to a whole number from 0 to 5, or null if skipped."
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            self.fail("invalid")
        return {str(key): value for key, value in data.items()}

    def to_representation(self, value: Any) -> Any:
        return value


class ResponseInputSerializer(StrictSerializer):
    id = StrictUUIDField(
        required=False, help_text="Client-made UUID; a retry with the same id never duplicates."
    )
    instrument = StrictCharField(
        max_length=20, help_text="The episode's questionnaire code: `odi` (lumbar) or `ndi` (cervical)."
    )
    answers = AnswersField(
        help_text=(
            "An object with every item key of the instrument (see the instrument endpoint), each a whole "
            "number 0-5 or null for a skipped item. At most one item may be skipped. A list is not accepted."
        )
    )
    submitted_at = OffsetDateTimeField(
        required=False,
        help_text=(
            "ISO 8601 with offset; defaults to now; at most 5 minutes ahead. Its date on the patient's "
            "calendar chooses the timepoint."
        ),
    )


class ScoreSerializer(serializers.Serializer[Any]):
    raw = serializers.IntegerField(help_text="Sum of the answered items.")
    max_raw = serializers.IntegerField(help_text="5 x answered items.")
    percent = serializers.FloatField(help_text="raw / max_raw x 100, one decimal (half up).")
    answered = serializers.IntegerField()
    missing = serializers.IntegerField(help_text="Skipped items (at most 1).")


class ChangeSerializer(serializers.Serializer[Any]):
    improvement = serializers.FloatField(
        help_text="baseline - follow-up on `scale`; positive means less disability (lower is better)."
    )
    baseline = serializers.FloatField(help_text="The baseline score on `scale`.")
    follow_up = serializers.FloatField(help_text="This response's score on `scale`.")
    scale = ScaleField(help_text=_SCALE_HELP)


# Fields named ``source`` or ``label`` shadow Field attributes in the stubs only: DRF's serializer
# metaclass moves declared fields off the class, hence the type ignores below.
class ThresholdSerializer(serializers.Serializer[Any]):
    threshold = serializers.FloatField(help_text="Improvement needed, on `scale`.")
    scale = ScaleField(help_text=_SCALE_HELP)
    met = serializers.BooleanField(
        allow_null=True, help_text="improvement >= threshold; null when there is no baseline to compare."
    )
    source = serializers.CharField()  # type: ignore[assignment]
    confidence = serializers.CharField(help_text="H, M or L, as in the clinical reference.")


class ResponseSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    episode = serializers.UUIDField()
    instrument = serializers.CharField()
    instrument_version = serializers.CharField()
    timepoint = serializers.CharField(help_text="The timepoint key the response was assigned to.")
    timepoint_label = serializers.CharField()
    is_baseline = serializers.BooleanField()
    submitted_at = serializers.DateTimeField()
    local_date = serializers.DateField(help_text="The patient's calendar day at submitted_at.")
    answers = AnswersField()
    score = ScoreSerializer()
    change_from_baseline = ChangeSerializer(
        allow_null=True, help_text="Null for the baseline itself, or when no baseline was answered."
    )
    mcid = ThresholdSerializer(
        allow_null=True, help_text="Minimal clinically important difference; null at baseline."
    )
    scb = ThresholdSerializer(allow_null=True, help_text="Substantial clinical benefit; null at baseline.")
    created_at = serializers.DateTimeField()


class WindowSerializer(serializers.Serializer[Any]):
    opens = serializers.DateField(help_text="First day, on the patient's calendar.")
    closes = serializers.DateField(help_text="Last day (inclusive), on the patient's calendar.")
    opens_day = serializers.IntegerField(help_text="Post-op day (0 = day of surgery).")
    closes_day = serializers.IntegerField()
    source = serializers.CharField(help_text="'clinic default' unless a published window is cited.")  # type: ignore[assignment]


class TimepointSerializer(serializers.Serializer[Any]):
    timepoint = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    is_baseline = serializers.BooleanField()
    instrument = serializers.CharField(allow_null=True)
    target_day = serializers.IntegerField(allow_null=True)
    window = WindowSerializer(allow_null=True, help_text="Null only for a timepoint no longer scheduled.")
    timepoint_source = serializers.CharField(
        help_text="The registry or trial schedule this timepoint follows."
    )
    state = serializers.ChoiceField(choices=[state.value for state in State])
    response = ResponseSerializer(allow_null=True)


class InstrumentRefSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    comparison_scale = ScaleField(help_text=_SCALE_HELP)
    comparison_label = serializers.CharField()


class ScheduleSerializer(serializers.Serializer[Any]):
    episode = serializers.UUIDField()
    local_today = serializers.DateField(
        help_text="Today on the patient's calendar; states are computed from it."
    )
    instrument = InstrumentRefSerializer(allow_null=True)
    timepoints = TimepointSerializer(many=True)


class OptionSerializer(serializers.Serializer[Any]):
    value = serializers.IntegerField()
    text = serializers.CharField()


class ItemSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    position = serializers.IntegerField()
    topic = serializers.CharField()
    loinc = serializers.CharField(allow_null=True)
    text = serializers.CharField()
    options = OptionSerializer(many=True)


class ScoringSerializer(serializers.Serializer[Any]):
    item_min = serializers.IntegerField()
    item_max = serializers.IntegerField()
    max_missing = serializers.IntegerField()
    rule = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]
    confidence = serializers.CharField()
    comparison_scale = ScaleField(help_text=_SCALE_HELP)
    comparison_label = serializers.CharField()


class SourcedThresholdSerializer(serializers.Serializer[Any]):
    value = serializers.FloatField()
    scale = ScaleField()
    source = serializers.CharField()  # type: ignore[assignment]
    confidence = serializers.CharField()
    note = serializers.CharField(allow_blank=True)


class ThresholdsSerializer(serializers.Serializer[Any]):
    mcid = SourcedThresholdSerializer(allow_null=True)
    scb = SourcedThresholdSerializer(allow_null=True)


class LoincCodeSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(required=False)
    display = serializers.CharField(required=False)
    source = serializers.CharField()  # type: ignore[assignment]
    confidence = serializers.CharField()
    note = serializers.CharField(required=False)


class LoincSerializer(serializers.Serializer[Any]):
    panel = LoincCodeSerializer()
    score = LoincCodeSerializer()
    items = LoincCodeSerializer(help_text="Where the item codes come from (each item carries its own).")


class InstrumentDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    version = serializers.CharField()
    name = serializers.CharField()
    title = serializers.CharField(help_text="Patient-facing title in `language`.")
    region = serializers.CharField()
    language = serializers.CharField(
        help_text="`en` or `es` (a plain string for the same reason as the scales)."
    )
    wording = serializers.ChoiceField(
        choices=[MOBILIZE_WORDING, CLINIC_WORDING],
        help_text="`mobilize`: our own plain-language wording; `clinic`: the clinic's licensed wording.",
    )
    license_note = serializers.CharField()
    scoring = ScoringSerializer()
    thresholds = ThresholdsSerializer()
    loinc = LoincSerializer()
    items = ItemSerializer(many=True)


def _threshold(result: ThresholdResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "threshold": float(result.threshold.value),
        "scale": result.threshold.scale,
        "met": result.met,
        "source": result.threshold.source,
        "confidence": result.threshold.confidence,
    }


def response_payload(item: ScoredResponse) -> dict[str, Any]:
    response, score, change = item.response, item.score, item.evaluation.change
    return {
        "id": response.id,
        "episode": response.episode_id,
        "instrument": response.instrument_id,
        "instrument_version": response.instrument_version,
        "timepoint": response.timepoint,
        "timepoint_label": response.timepoint_label,
        "is_baseline": response.is_baseline,
        "submitted_at": response.submitted_at,
        "local_date": response.local_date,
        "answers": response.answers,
        "score": {
            "raw": score.raw,
            "max_raw": score.max_raw,
            "percent": float(score.percent),
            "answered": score.answered,
            "missing": score.missing,
        },
        "change_from_baseline": None
        if change is None
        else {
            "improvement": float(change.improvement),
            "baseline": float(change.baseline_value),
            "follow_up": float(change.follow_up_value),
            "scale": change.scale,
        },
        "mcid": _threshold(item.evaluation.mcid),
        "scb": _threshold(item.evaluation.scb),
        "created_at": response.created_at,
    }


def _timepoint_payload(status_: TimepointStatus, instrument_code: str | None) -> dict[str, Any]:
    window = None
    if status_.opens is not None and status_.closes is not None:
        window = {
            "opens": status_.opens,
            "closes": status_.closes,
            "opens_day": status_.opens_day,
            "closes_day": status_.closes_day,
            "source": status_.window_source,
        }
    return {
        "timepoint": status_.key,
        "label": status_.label,
        "is_baseline": status_.is_baseline,
        "instrument": status_.response.response.instrument_id if status_.response else instrument_code,
        "target_day": status_.target_day,
        "window": window,
        "timepoint_source": status_.timepoint_source,
        "state": status_.state.value,
        "response": response_payload(status_.response) if status_.response else None,
    }


def _sourced_threshold(threshold: Threshold | None) -> dict[str, Any] | None:
    if threshold is None:
        return None
    return {
        "value": float(threshold.value),
        "scale": threshold.scale,
        "source": threshold.source,
        "confidence": threshold.confidence,
        "note": threshold.note,
    }


class QuestionnaireScheduleView(EpisodeScopedView):
    read_action = Action.VIEW_QUESTIONNAIRES

    @extend_schema(
        responses={200: ScheduleSerializer},
        summary="The episode's questionnaire schedule: windows, states, scores and change from baseline",
        description=(
            "Timepoints are relative to the surgery date (baseline: the 30 days before surgery up to the "
            "day of surgery; then 6 weeks, 3, 6 and 12 months by default, or the clinic's own schedule). "
            "Windows are clinic defaults: no published window was found. States are computed against "
            "the patient's local today. Change from baseline is baseline - follow-up (lower is better) "
            "on the ODI percent scale or the NDI 0-50 scale, as the MCID/SCB sources state."
        ),
    )
    def get(self, request: Request, episode_id: str) -> Response:
        overview = questionnaire_overview(episode=self.episode)
        instrument = overview.instrument
        payload = {
            "episode": self.episode.id,
            "local_today": overview.local_today,
            "instrument": None
            if instrument is None
            else {
                "code": instrument.code,
                "name": instrument.name,
                "version": instrument.version,
                "comparison_scale": instrument.definition.scoring.comparison_scale,
                "comparison_label": instrument.definition.scoring.comparison_label,
            },
            "timepoints": [
                _timepoint_payload(item, instrument.code if instrument else None)
                for item in overview.timepoints
            ],
        }
        return Response(ScheduleSerializer(payload).data)


class QuestionnaireResponseListView(EpisodeScopedView):
    pagination_class = Pagination  # documents the paginated envelope in the schema
    read_action = Action.VIEW_QUESTIONNAIRES
    method_actions = {"POST": Action.ANSWER_QUESTIONNAIRE}

    @extend_schema(
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="At most 200."),
        ],
        responses={200: ResponseSerializer(many=True)},
        summary="Answered questionnaires of an episode, newest first",
    )
    def get(self, request: Request, episode_id: str) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(response_list(episode=self.episode), request, view=self)
        scored = responses_scored(episode=self.episode, responses=page or [])
        return paginator.get_paginated_response(
            [ResponseSerializer(response_payload(item)).data for item in scored]
        )

    @extend_schema(
        request=ResponseInputSerializer,
        responses={201: ResponseSerializer, 200: ResponseSerializer},
        summary=(
            "Answer the questionnaire that is due (201), or replay one already stored (200); other content "
            "under the same id, or a second answer for a completed timepoint, is 409"
        ),
    )
    def post(self, request: Request, episode_id: str) -> Response:
        data = ResponseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        validated = data.validated_data
        response, created = questionnaire_response_record(
            actor=self.user,
            episode=self.episode,
            data=ResponseData(
                instrument=validated["instrument"],
                answers=validated["answers"],
                submitted_at=validated.get("submitted_at"),
            ),
            response_id=validated.get("id"),
        )
        (scored,) = responses_scored(episode=self.episode, responses=[response])
        return Response(
            ResponseSerializer(response_payload(scored)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class InstrumentDetailView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "language",
                OpenApiTypes.STR,
                enum=list(Language.values),
                description="Defaults to the patient's preferred language (English for staff).",
            )
        ],
        responses={200: InstrumentDetailSerializer},
        summary="A questionnaire's items in one language, to render one item per screen",
        description=(
            "Our own plain-language wording, or the clinic's licensed wording when the clinic loaded it "
            "for that language (`wording` says which). Scoring rule, MCID/SCB thresholds and LOINC codes "
            "come with their sources and confidence."
        ),
    )
    def get(self, request: Request, code: str) -> Response:
        user = current_user(request)
        instrument = instrument_get(code=code)
        if instrument is None:
            raise exceptions.NotFound("Questionnaire not found.")
        language = request.query_params.get("language")
        if language is None:
            profile = getattr(user, "patient_profile", None) if user.is_patient else None
            language = profile.preferred_language if profile is not None else DEFAULT_LANGUAGE
        if language not in Language.values:
            raise exceptions.ValidationError({"language": [f"Must be one of {', '.join(Language.values)}."]})
        rendered = instrument_render(instrument=instrument, clinic_id=user.clinic_id, language=language)
        definition = instrument.definition
        scoring = definition.scoring
        payload = {
            "code": instrument.code,
            "version": instrument.version,
            "name": instrument.name,
            "title": definition.title.get(language) or definition.title[DEFAULT_LANGUAGE],
            "region": instrument.region,
            "language": language,
            "wording": rendered.wording,
            "license_note": rendered.license_note,
            "scoring": {
                "item_min": scoring.item_min,
                "item_max": scoring.item_max,
                "max_missing": scoring.max_missing,
                "rule": scoring.rule,
                "source": scoring.source,
                "confidence": scoring.confidence,
                "comparison_scale": scoring.comparison_scale,
                "comparison_label": scoring.comparison_label,
            },
            "thresholds": {
                kind: _sourced_threshold(definition.thresholds.get(kind)) for kind in ("mcid", "scb")
            },
            "loinc": definition.loinc,
            "items": [
                {
                    "key": item.key,
                    "position": item.position,
                    "topic": item.topic,
                    "loinc": item.loinc,
                    "text": item.text,
                    "options": [{"value": option.value, "text": option.text} for option in item.options],
                }
                for item in rendered.items
            ],
        }
        return Response(InstrumentDetailSerializer(payload).data)


urlpatterns: list[URLPattern] = [
    path(
        "episodes/<uuid:episode_id>/questionnaires/",
        QuestionnaireScheduleView.as_view(),
        name="questionnaire-schedule",
    ),
    path(
        "episodes/<uuid:episode_id>/questionnaire-responses/",
        QuestionnaireResponseListView.as_view(),
        name="questionnaire-response-list",
    ),
    path(
        "questionnaires/instruments/<slug:code>/",
        InstrumentDetailView.as_view(),
        name="questionnaire-instrument",
    ),
]
