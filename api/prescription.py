"""Prescription API: the exercise library, assignments, restrictions and clinic default restrictions.

Routes (names in ``api:``):

- ``exercises/`` (``exercise-list``) and ``exercises/{exercise_id}/`` (``exercise-detail``)
- ``episodes/{episode_id}/assignments/`` (``assignment-list``) and ``.../{assignment_id}/``
  (``assignment-detail``)
- ``episodes/{episode_id}/restrictions/`` (``restrictions``)
- ``procedures/{code}/restriction-defaults/`` (``restriction-defaults``)

Choices where HTTP needed one: a second DELETE of an assignment is 204 and changes nothing; a PATCH
of an ended assignment is 409; the library list shows active exercises only, while the detail also
opens a clinic's retired ones (so they can be brought back).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.validators import URLValidator, validate_slug
from django.urls import URLPattern, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import EpisodeScopedView, current_user
from api.episodes import PersonRefSerializer
from api.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
    StrictUUIDField,
)
from api.pagination import Pagination
from api.params import query_bool
from recovery.core.errors import NotPermitted
from recovery.episodes.access import Action, ClinicAction, can_in_clinic
from recovery.episodes.models import Procedure
from recovery.rehab import exercises, rules, services
from recovery.rehab import restrictions as restriction_services
from recovery.rehab.exercises import ExerciseData
from recovery.rehab.library import DEFAULT_DOSE_SOURCE
from recovery.rehab.models import Assignment, Exercise, RestrictionDefault
from recovery.rehab.restrictions import MovementData, OverrideData, RestrictionsData
from recovery.rehab.selectors import (
    RestrictionsDocument,
    assignment_get,
    assignment_is_active,
    assignment_list,
    exercise_get,
    exercise_list,
    restriction_default_for,
    restrictions_document,
)
from recovery.rehab.services import AssignmentData
from recovery.rehab.vocabulary import MOVEMENT_TAGS, WEEKDAYS, BodyRegion, Phase

_TAGS = ", ".join(MOVEMENT_TAGS)


@extend_schema_field({"type": "number", "format": "double", "minimum": 0, "maximum": 100})
class KilogramField(serializers.Field[Decimal, Any, float, Any]):
    """A weight in kg as a JSON number, 0-100, with at most one decimal place."""

    default_error_messages = {
        "invalid": "Must be a number.",
        "range": "Must be between 0 and 100.",
        "precision": "Use at most one decimal place.",
    }

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("invalid")
        value = Decimal(str(data))
        if not 0 <= value <= 100:
            self.fail("range")
        if value != value.quantize(Decimal("0.1")):
            self.fail("precision")
        return value.quantize(Decimal("0.1"))

    def to_representation(self, value: Decimal) -> float:
        return float(value)


class _VocabularyField(StrictCharField):
    vocabulary: tuple[str, ...] = ()
    default_error_messages = {"unknown": "Unknown value: {value}."}

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value not in self.vocabulary:
            self.fail("unknown", value=value)
        return value


class MovementTagField(_VocabularyField):
    vocabulary = tuple(MOVEMENT_TAGS)
    default_error_messages = {"unknown": f"Unknown movement tag: {{value}}. Use one of: {_TAGS}."}


class WeekdayField(_VocabularyField):
    vocabulary = WEEKDAYS
    default_error_messages = {"unknown": "Unknown weekday: {value}. Use mon, tue, wed, thu, fri, sat or sun."}


class RegionField(_VocabularyField):
    vocabulary = tuple(BodyRegion.values)
    default_error_messages = {
        "unknown": f"Unknown region: {{value}}. Use one of: {', '.join(BodyRegion.values)}."
    }


class PhaseField(_VocabularyField):
    vocabulary = tuple(Phase.values)
    default_error_messages = {"unknown": f"Unknown phase: {{value}}. Use one of: {', '.join(Phase.values)}."}


def _query_choice(request: Request, name: str, choices: tuple[str, ...] | list[str]) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise exceptions.ValidationError(
            {name: [f"Unknown {name}: {raw}. Use one of: {', '.join(choices)}."]}
        )
    return raw


def _bad(field: str, message: str) -> serializers.ValidationError:
    return serializers.ValidationError({field: [message]})


# --- Exercise library ------------------------------------------------------------------------------


class ExerciseInputSerializer(StrictSerializer):
    id = StrictUUIDField(
        required=False, help_text="Client-made UUID; a retry with the same id never duplicates."
    )
    slug = StrictCharField(
        max_length=80,
        required=False,
        validators=[validate_slug],
        help_text="Defaults to one made from the name.",
    )
    name = StrictCharField(max_length=120)
    instructions = serializers.ListField(
        child=StrictCharField(max_length=rules.MAX_STEP_LENGTH),
        allow_empty=False,
        max_length=rules.MAX_STEPS,
        help_text="Steps in plain words, in order.",
    )
    region = RegionField()
    phase = PhaseField()
    default_sets = StrictIntegerField(min_value=1, max_value=20, required=False, help_text="Default 1.")
    default_reps = StrictIntegerField(min_value=1, max_value=100, required=False, allow_null=True)
    default_hold_seconds = StrictIntegerField(min_value=1, max_value=600, required=False, allow_null=True)
    default_sessions_per_day = StrictIntegerField(
        min_value=1, max_value=10, required=False, help_text="Default 1."
    )
    movement_tags = serializers.ListField(
        child=MovementTagField(), required=False, max_length=len(MOVEMENT_TAGS), help_text=_TAGS
    )
    media_url = StrictCharField(
        max_length=200, required=False, allow_blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
    is_active = StrictBooleanField(required=False, help_text="False retires the exercise from the library.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (
            not self.partial
            and attrs.get("default_reps") is None
            and attrs.get("default_hold_seconds") is None
        ):
            raise _bad("default_reps", "Give default_reps or default_hold_seconds (or both).")
        return attrs


class ExercisePatchSerializer(ExerciseInputSerializer):
    id = None  # type: ignore[assignment]  # an exercise's id never changes


class ExerciseSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()
    instructions = serializers.ListField(child=serializers.CharField())
    region = serializers.ChoiceField(choices=BodyRegion.choices)
    phase = serializers.ChoiceField(choices=Phase.choices)
    default_sets = serializers.IntegerField()
    default_reps = serializers.IntegerField(allow_null=True)
    default_hold_seconds = serializers.IntegerField(allow_null=True)
    default_sessions_per_day = serializers.IntegerField()
    default_dose_source = serializers.SerializerMethodField(help_text="Where the default dose comes from.")
    movement_tags = serializers.ListField(child=serializers.CharField())
    media_url = serializers.CharField(allow_blank=True)
    shipped = serializers.BooleanField(
        source="is_shipped", help_text="Part of the shipped library: read-only."
    )
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_default_dose_source(self, exercise: Exercise) -> str:
        return (
            DEFAULT_DOSE_SOURCE if exercise.is_shipped else "clinic default, not evidence: set by your clinic"
        )


def _exercise_data(validated: Mapping[str, Any]) -> ExerciseData:
    return ExerciseData(
        slug=validated.get("slug"),
        name=validated["name"],
        instructions=tuple(validated["instructions"]),
        region=validated["region"],
        phase=validated["phase"],
        default_sets=validated.get("default_sets", 1),
        default_reps=validated.get("default_reps"),
        default_hold_seconds=validated.get("default_hold_seconds"),
        default_sessions_per_day=validated.get("default_sessions_per_day", 1),
        movement_tags=tuple(validated.get("movement_tags", ())),
        media_url=validated.get("media_url", ""),
        is_active=validated.get("is_active", True),
    )


class ExerciseListView(APIView):
    pagination_class = Pagination  # documents the paginated envelope in the schema

    @extend_schema(
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description="Words in the name or the steps."),
            OpenApiParameter("region", OpenApiTypes.STR, enum=BodyRegion.values),
            OpenApiParameter("phase", OpenApiTypes.STR, enum=Phase.values),
            OpenApiParameter(
                "tag", OpenApiTypes.STR, enum=list(MOVEMENT_TAGS), description="A movement tag."
            ),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="At most 200."),
        ],
        responses={200: ExerciseSerializer(many=True)},
        summary="The exercise library: shipped exercises and your clinic's own active ones",
    )
    def get(self, request: Request) -> Response:
        search = request.query_params.get("search", "")
        if len(search) > 100:
            raise exceptions.ValidationError({"search": ["Use at most 100 characters."]})
        exercises = exercise_list(
            user=request.user,
            search=search,
            region=_query_choice(request, "region", BodyRegion.values),
            phase=_query_choice(request, "phase", Phase.values),
            tag=_query_choice(request, "tag", list(MOVEMENT_TAGS)),
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(exercises, request, view=self)
        return paginator.get_paginated_response(ExerciseSerializer(page, many=True).data)

    @extend_schema(
        request=ExerciseInputSerializer,
        responses={201: ExerciseSerializer, 200: ExerciseSerializer},
        summary="Add an exercise to your clinic's library (201), or replay one already stored (200)",
    )
    def post(self, request: Request) -> Response:
        actor = current_user(request)
        exercises.ensure_can_manage_library(actor)
        data = ExerciseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exercise, created = exercises.exercise_create(
            actor=actor, data=_exercise_data(data.validated_data), exercise_id=data.validated_data.get("id")
        )
        return Response(
            ExerciseSerializer(exercise).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ExerciseDetailView(APIView):
    def _exercise(self, request: Request, exercise_id: str) -> Exercise:
        exercise = exercise_get(user=request.user, exercise_id=exercise_id)
        if exercise is None:
            raise exceptions.NotFound("Exercise not found.")
        return exercise

    @extend_schema(responses={200: ExerciseSerializer}, summary="One exercise")
    def get(self, request: Request, exercise_id: str) -> Response:
        return Response(ExerciseSerializer(self._exercise(request, exercise_id)).data)

    @extend_schema(
        request=ExercisePatchSerializer,
        responses={200: ExerciseSerializer},
        summary="Change one of your clinic's exercises (shipped exercises are read-only: 403)",
    )
    def patch(self, request: Request, exercise_id: str) -> Response:
        actor = current_user(request)
        exercise = self._exercise(request, exercise_id)
        exercises.ensure_can_edit_exercise(actor, exercise)
        data = ExercisePatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        updated = exercises.exercise_update(actor=actor, exercise=exercise, changes=dict(data.validated_data))
        return Response(ExerciseSerializer(updated).data)


# --- Assignments -----------------------------------------------------------------------------------


class AssignmentInputSerializer(StrictSerializer):
    id = StrictUUIDField(
        required=False, help_text="Client-made UUID; a retry with the same id never duplicates."
    )
    exercise = StrictUUIDField(help_text="A shipped exercise or one of the clinic's own, active.")
    sets = StrictIntegerField(min_value=1, max_value=20, required=False, help_text="Default: the exercise's.")
    reps = StrictIntegerField(min_value=1, max_value=100, required=False, allow_null=True)
    hold_seconds = StrictIntegerField(min_value=1, max_value=600, required=False, allow_null=True)
    load_kg = KilogramField(required=False, allow_null=True)
    sessions_per_day = StrictIntegerField(
        min_value=1, max_value=10, required=False, help_text="Default: the exercise's."
    )
    days_of_week = serializers.ListField(
        child=WeekdayField(), allow_empty=False, max_length=7, required=False, help_text="Default: every day."
    )
    start_day = StrictIntegerField(
        min_value=-30,
        max_value=730,
        required=False,
        help_text="Post-op day; default today's (0 at the earliest).",
    )
    end_day = StrictIntegerField(
        min_value=-30,
        max_value=730,
        required=False,
        allow_null=True,
        help_text="Last post-op day, inclusive.",
    )
    notes = StrictCharField(max_length=2000, required=False, allow_blank=True, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start_day"), attrs.get("end_day")
        if start is not None and end is not None and end < start:
            raise _bad("end_day", "Must be on or after start_day.")
        return attrs


class AssignmentPatchSerializer(AssignmentInputSerializer):
    id = None  # type: ignore[assignment]  # an assignment's id never changes
    exercise = None  # type: ignore[assignment]  # nor its exercise: end it and prescribe the other one

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping) and "exercise" in data:
            raise _bad(
                "exercise", "The exercise cannot be changed; end this assignment and prescribe the other."
            )
        return super().to_internal_value(data)


class AssignedExerciseSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    region = serializers.ChoiceField(choices=BodyRegion.choices)
    phase = serializers.ChoiceField(choices=Phase.choices)
    instructions = serializers.ListField(child=serializers.CharField())
    media_url = serializers.CharField(allow_blank=True)
    movement_tags = serializers.ListField(child=serializers.CharField())


class AssignmentDoseSerializer(serializers.Serializer[Any]):
    sets = serializers.IntegerField()
    reps = serializers.IntegerField(allow_null=True)
    hold_seconds = serializers.IntegerField(allow_null=True)
    load_kg = KilogramField(allow_null=True)
    sessions_per_day = serializers.IntegerField()


class AssignmentScheduleSerializer(serializers.Serializer[Any]):
    days_of_week = serializers.ListField(child=serializers.CharField())
    start_day = serializers.IntegerField(help_text="First post-op day.")
    end_day = serializers.IntegerField(allow_null=True, help_text="Last post-op day, inclusive; null = open.")


class AssignmentSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    episode = serializers.UUIDField(source="episode_id")
    exercise = AssignedExerciseSerializer()
    dose = AssignmentDoseSerializer(source="*")
    schedule = AssignmentScheduleSerializer(source="*")
    notes = serializers.CharField(allow_blank=True)
    active = serializers.SerializerMethodField(
        help_text="Still prescribed: not ended and its end_day (if any) not yet past."
    )
    ended_on = serializers.DateField(allow_null=True, help_text="The patient's local date it was ended.")
    ended_by = PersonRefSerializer(allow_null=True)
    prescribed_by = PersonRefSerializer()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_active(self, assignment: Assignment) -> bool:
        return assignment_is_active(assignment, self.context["post_op_day"])


def _assignment_data(validated: Mapping[str, Any]) -> AssignmentData:
    days = validated.get("days_of_week")
    return AssignmentData(
        exercise=validated["exercise"],
        sets=validated.get("sets"),
        reps=validated.get("reps"),
        hold_seconds=validated.get("hold_seconds"),
        load_kg=validated.get("load_kg"),
        sessions_per_day=validated.get("sessions_per_day"),
        days_of_week=tuple(days) if days is not None else None,
        start_day=validated.get("start_day"),
        end_day=validated.get("end_day"),
        notes=validated.get("notes", ""),
    )


def _active_param(request: Request) -> bool | None:
    return query_bool(request, "active")


class AssignmentListView(EpisodeScopedView):
    pagination_class = Pagination  # documents the paginated envelope in the schema
    read_action = Action.VIEW_REHAB
    method_actions = {"POST": Action.PRESCRIBE}

    def _payload(self, assignment: Assignment | list[Assignment], many: bool = False) -> Any:
        context = {"post_op_day": self.episode.post_op_day()}
        return AssignmentSerializer(assignment, many=many, context=context).data

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "active", OpenApiTypes.BOOL, description="true: still prescribed; false: ended or past."
            ),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="At most 200."),
        ],
        responses={200: AssignmentSerializer(many=True)},
        summary="Exercises prescribed on an episode, by start day",
    )
    def get(self, request: Request, episode_id: str) -> Response:
        active = _active_param(request)
        paginator = Pagination()
        page = paginator.paginate_queryset(
            assignment_list(episode=self.episode, active=active), request, view=self
        )
        return paginator.get_paginated_response(self._payload(page or [], many=True))

    @extend_schema(
        request=AssignmentInputSerializer,
        responses={201: AssignmentSerializer, 200: AssignmentSerializer},
        summary=(
            "Prescribe an exercise (201), or replay one already stored (200); other content under the "
            "same id is 409. A conflict with the episode's restrictions is 400 naming the restriction"
        ),
    )
    def post(self, request: Request, episode_id: str) -> Response:
        data = AssignmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        validated = data.validated_data
        assignment, created = services.assignment_create(
            actor=self.user,
            episode=self.episode,
            data=_assignment_data(validated),
            supplied=frozenset(validated) - {"id", "exercise"},
            assignment_id=validated.get("id"),
        )
        stored = assignment_get(episode=self.episode, assignment_id=assignment.pk)
        assert stored is not None
        return Response(
            self._payload(stored), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class AssignmentDetailView(EpisodeScopedView):
    read_action = Action.VIEW_REHAB
    method_actions = {"PATCH": Action.PRESCRIBE, "DELETE": Action.PRESCRIBE}

    def _assignment(self, assignment_id: str) -> Assignment:
        assignment = assignment_get(episode=self.episode, assignment_id=assignment_id)
        if assignment is None:
            raise exceptions.NotFound("Assignment not found.")
        return assignment

    def _payload(self, assignment: Assignment) -> Any:
        return AssignmentSerializer(assignment, context={"post_op_day": self.episode.post_op_day()}).data

    @extend_schema(responses={200: AssignmentSerializer}, summary="One assignment")
    def get(self, request: Request, episode_id: str, assignment_id: str) -> Response:
        return Response(self._payload(self._assignment(assignment_id)))

    @extend_schema(
        request=AssignmentPatchSerializer,
        responses={200: AssignmentSerializer},
        summary="Change dose, schedule or notes (the previous content is kept); an ended assignment is 409",
    )
    def patch(self, request: Request, episode_id: str, assignment_id: str) -> Response:
        assignment = self._assignment(assignment_id)
        data = AssignmentPatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.assignment_update(actor=self.user, assignment=assignment, changes=dict(data.validated_data))
        return Response(self._payload(self._assignment(assignment_id)))

    @extend_schema(
        responses={204: None},
        summary="End an assignment from the patient's today (kept, with its history); ending again is 204",
    )
    def delete(self, request: Request, episode_id: str, assignment_id: str) -> Response:
        services.assignment_end(actor=self.user, assignment=self._assignment(assignment_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Restrictions ----------------------------------------------------------------------------------


class RestrictedMovementInputSerializer(StrictSerializer):
    tag = MovementTagField()
    until_day = StrictIntegerField(
        min_value=0, max_value=730, help_text="Forbidden up to and including this post-op day."
    )


class RestrictionOverrideInputSerializer(StrictSerializer):
    exercise = StrictUUIDField()
    tag = MovementTagField()
    reason = StrictCharField(
        max_length=rules.MAX_REASON, help_text="Why this exercise may load this movement."
    )


class _RestrictionFields(StrictSerializer):
    lifting_limit_kg = KilogramField(allow_null=True, help_text="null: no lifting limit.")
    lifting_limit_until_day = StrictIntegerField(
        min_value=0,
        max_value=730,
        allow_null=True,
        help_text="Last post-op day of the limit; null: no end day.",
    )
    forbidden_movements = serializers.ListField(
        child=RestrictedMovementInputSerializer(), max_length=len(MOVEMENT_TAGS)
    )
    # DRF's metaclass lifts declared fields off the class, so "source" does not shadow Field.source.
    source = StrictCharField(  # type: ignore[assignment]
        max_length=rules.MAX_SOURCE,
        help_text="Where the numbers come from, or 'clinic default, not evidence'.",
    )


class RestrictionsInputSerializer(_RestrictionFields):
    overrides = serializers.ListField(child=RestrictionOverrideInputSerializer(), max_length=100)


class RestrictionOverrideSerializer(serializers.Serializer[Any]):
    exercise = serializers.UUIDField(source="exercise_id")
    exercise_name = serializers.CharField(source="exercise.name")
    tag = serializers.CharField()
    reason = serializers.CharField()
    created_by = PersonRefSerializer()
    created_at = serializers.DateTimeField()


class RestrictedMovementSerializer(serializers.Serializer[Any]):
    tag = serializers.CharField()
    until_day = serializers.IntegerField()


class RestrictionsSerializer(serializers.Serializer[Any]):
    episode = serializers.UUIDField(source="restrictions.episode_id")
    lifting_limit_kg = KilogramField(source="restrictions.lifting_limit_kg", allow_null=True)
    lifting_limit_until_day = serializers.IntegerField(
        source="restrictions.lifting_limit_until_day", allow_null=True
    )
    forbidden_movements = RestrictedMovementSerializer(source="movements", many=True)
    overrides = RestrictionOverrideSerializer(many=True)
    source = serializers.CharField(source="restrictions.source")  # type: ignore[assignment]
    updated_at = serializers.DateTimeField(source="restrictions.updated_at")
    updated_by = PersonRefSerializer(
        source="restrictions.updated_by", allow_null=True, help_text="null: still the procedure's defaults."
    )


def _restrictions_data(validated: Mapping[str, Any]) -> RestrictionsData:
    return RestrictionsData(
        lifting_limit_kg=validated["lifting_limit_kg"],
        lifting_limit_until_day=validated["lifting_limit_until_day"],
        forbidden_movements=tuple(
            MovementData(tag=item["tag"], until_day=item["until_day"])
            for item in validated["forbidden_movements"]
        ),
        overrides=tuple(
            OverrideData(exercise=item["exercise"], tag=item["tag"], reason=item["reason"])
            for item in validated.get("overrides", ())
        ),
        source=validated["source"],
    )


class RestrictionsView(EpisodeScopedView):
    read_action = Action.VIEW_REHAB
    method_actions = {"PUT": Action.SET_RESTRICTIONS}

    def _payload(self) -> Any:
        restrictions = restriction_services.restrictions_ensure(episode=self.episode)
        document: RestrictionsDocument = restrictions_document(restrictions=restrictions)
        return RestrictionsSerializer(document).data

    @extend_schema(
        responses={200: RestrictionsSerializer},
        summary="The episode's restrictions (initialised from the procedure's defaults on first read)",
    )
    def get(self, request: Request, episode_id: str) -> Response:
        return Response(self._payload())

    @extend_schema(
        request=RestrictionsInputSerializer,
        responses={200: RestrictionsSerializer},
        summary="Replace the whole restrictions document, overrides included (the surgeon)",
    )
    def put(self, request: Request, episode_id: str) -> Response:
        data = RestrictionsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        restriction_services.restrictions_replace(
            actor=self.user, episode=self.episode, data=_restrictions_data(data.validated_data)
        )
        return Response(self._payload())


class RestrictionDefaultInputSerializer(_RestrictionFields):
    pass


class RestrictionDefaultSerializer(serializers.Serializer[Any]):
    procedure = serializers.CharField()
    procedure_name = serializers.CharField()
    scope = serializers.ChoiceField(
        choices=["clinic", "shipped", "none"],
        help_text="clinic: your clinic's own; shipped: Mobilize's, with sources; none: no defaults exist.",
    )
    lifting_limit_kg = KilogramField(allow_null=True)
    lifting_limit_until_day = serializers.IntegerField(allow_null=True)
    forbidden_movements = RestrictedMovementSerializer(many=True)
    source = serializers.CharField(allow_blank=True)  # type: ignore[assignment]
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = PersonRefSerializer(allow_null=True)


def _defaults_payload(procedure: Procedure, default: RestrictionDefault | None) -> Any:
    scope = "none" if default is None else ("shipped" if default.clinic_id is None else "clinic")
    return RestrictionDefaultSerializer(
        {
            "procedure": procedure.code,
            "procedure_name": procedure.name,
            "scope": scope,
            "lifting_limit_kg": default.lifting_limit_kg if default else None,
            "lifting_limit_until_day": default.lifting_limit_until_day if default else None,
            "forbidden_movements": default.forbidden_movements if default else [],
            "source": default.source if default else "",
            "updated_at": default.updated_at if default else None,
            "updated_by": default.updated_by if default else None,
        }
    ).data


class RestrictionDefaultsView(APIView):
    def _procedure(self, request: Request, code: str) -> Procedure:
        if not can_in_clinic(request.user, ClinicAction.VIEW_CLINIC_DEFAULTS):
            raise NotPermitted("Only clinic staff see default restrictions.")
        procedure = Procedure.objects.filter(code=code).first()
        if procedure is None:
            raise exceptions.NotFound("Procedure not found.")
        return procedure

    @extend_schema(
        responses={200: RestrictionDefaultSerializer},
        summary="Default restrictions new episodes of this procedure start from, in your clinic",
    )
    def get(self, request: Request, code: str) -> Response:
        procedure = self._procedure(request, code)
        actor = current_user(request)
        return Response(
            _defaults_payload(
                procedure, restriction_default_for(clinic_id=actor.tenant_id, procedure_id=code)
            )
        )

    @extend_schema(
        request=RestrictionDefaultInputSerializer,
        responses={201: RestrictionDefaultSerializer, 200: RestrictionDefaultSerializer},
        summary=(
            "Set your clinic's own default restrictions for a procedure (surgeon or clinic admin): 201 when "
            "created, 200 when replaced. Episodes already started keep theirs"
        ),
    )
    def put(self, request: Request, code: str) -> Response:
        procedure = self._procedure(request, code)
        actor = current_user(request)
        if not can_in_clinic(actor, ClinicAction.MANAGE_CLINIC_DEFAULTS):
            raise NotPermitted("Only a surgeon or a clinic admin changes the clinic's default restrictions.")
        data = RestrictionDefaultInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        default, created = restriction_services.restriction_default_put(
            actor=actor, procedure=procedure, data=_restrictions_data(data.validated_data)
        )
        return Response(
            _defaults_payload(procedure, default),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


urlpatterns: list[URLPattern] = [
    path("exercises/", ExerciseListView.as_view(), name="exercise-list"),
    path("exercises/<uuid:exercise_id>/", ExerciseDetailView.as_view(), name="exercise-detail"),
    path("episodes/<uuid:episode_id>/assignments/", AssignmentListView.as_view(), name="assignment-list"),
    path(
        "episodes/<uuid:episode_id>/assignments/<uuid:assignment_id>/",
        AssignmentDetailView.as_view(),
        name="assignment-detail",
    ),
    path("episodes/<uuid:episode_id>/restrictions/", RestrictionsView.as_view(), name="restrictions"),
    path(
        "procedures/<slug:code>/restriction-defaults/",
        RestrictionDefaultsView.as_view(),
        name="restriction-defaults",
    ),
]
