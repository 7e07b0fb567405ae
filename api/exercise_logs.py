"""Exercise logs, today's plan and adherence of one episode.

- ``/api/v1/episodes/{episode_id}/exercise-logs/``: the patient logs a session (POST, idempotent on a
  client id like check-ins); the patient and the care team list them (GET).
- ``/api/v1/episodes/{episode_id}/plan/today/``: the sessions due on the patient's local day.
- ``/api/v1/episodes/{episode_id}/adherence/``: completed over prescribed sessions per day and week.

Logs cannot be changed or deleted here: see ``recovery.rehab.logging``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from django.urls import URLPattern, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import EpisodeScopedView
from api.fields import (
    OffsetDateTimeField,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
    StrictUUIDField,
)
from api.pagination import Pagination
from api.params import query_date, query_date_range, query_uuid
from recovery.analytics.adherence import WEEK_DEFINITION
from recovery.episodes.access import Action
from recovery.rehab.logging import ExerciseLogData, exercise_log_record
from recovery.rehab.models import ExerciseLog
from recovery.rehab.plan import (
    AdherenceReport,
    AdherenceTotals,
    DayPlan,
    PlannedExercise,
    adherence_report,
    assignment_exists,
    exercise_log_list,
    plan_for_day,
)
from recovery.rehab.vocabulary import BodyRegion, Difficulty, Phase

#: Adherence defaults to the last 28 local days up to today, and looks at most 366 days at once.
DEFAULT_ADHERENCE_DAYS: Final = 28
MAX_ADHERENCE_DAYS: Final = 366

_DIFFICULTIES = [choice.value for choice in Difficulty]


class StrictChoiceField(serializers.ChoiceField):
    """A choice that must be one of the JSON strings offered; DRF's own would take ``str(5)``."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


# --- Serializers ---------------------------------------------------------------------------------


class ExerciseLogInputSerializer(StrictSerializer):
    id = StrictUUIDField(
        required=False, help_text="Client-made UUID; a retry with the same id never duplicates."
    )
    assignment = StrictUUIDField(help_text="The id of an assignment (prescribed exercise) of this episode.")
    performed_at = OffsetDateTimeField(
        required=False,
        help_text="ISO 8601 with offset; defaults to now. The assignment must be due on this local day.",
    )
    sets_completed = StrictIntegerField(min_value=0, max_value=20, help_text="0 records an attempt.")
    reps_completed = StrictIntegerField(
        min_value=0,
        max_value=200,
        required=False,
        allow_null=True,
        help_text="Required when the assignment prescribes repetitions; refused otherwise.",
    )
    hold_seconds = StrictIntegerField(
        min_value=0,
        max_value=600,
        required=False,
        allow_null=True,
        help_text="Required when the assignment prescribes a hold; refused otherwise.",
    )
    pain_during = StrictIntegerField(min_value=0, max_value=10, required=False, allow_null=True)
    difficulty = StrictChoiceField(choices=_DIFFICULTIES, required=False, allow_null=True)
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, trim_whitespace=False)


class ExerciseLogSerializer(serializers.Serializer[Any]):
    """A stored exercise log, as documented in the schema. Responses are built by
    ``exercise_log_payload`` (a plain function, like check-ins); a test keeps the two in step."""

    id = serializers.UUIDField()
    episode = serializers.UUIDField()
    assignment = serializers.UUIDField()
    exercise = serializers.UUIDField()
    exercise_name = serializers.CharField()
    performed_at = serializers.DateTimeField()
    local_date = serializers.DateField(help_text="The patient's calendar day at performed_at.")
    sets_completed = serializers.IntegerField()
    reps_completed = serializers.IntegerField(allow_null=True)
    hold_seconds = serializers.IntegerField(allow_null=True)
    pain_during = serializers.IntegerField(allow_null=True)
    difficulty = serializers.ChoiceField(choices=_DIFFICULTIES, allow_null=True)
    note = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class PlanLogSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    performed_at = serializers.DateTimeField()
    sets_completed = serializers.IntegerField()
    reps_completed = serializers.IntegerField(allow_null=True)
    hold_seconds = serializers.IntegerField(allow_null=True)
    pain_during = serializers.IntegerField(allow_null=True)
    difficulty = serializers.ChoiceField(choices=_DIFFICULTIES, allow_null=True)


class PlanExerciseSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    instructions = serializers.ListField(child=serializers.CharField())
    media_url = serializers.CharField(allow_blank=True)
    region = serializers.ChoiceField(choices=BodyRegion.choices)
    phase = serializers.ChoiceField(choices=Phase.choices)


class PlanDoseSerializer(serializers.Serializer[Any]):
    sets = serializers.IntegerField()
    reps = serializers.IntegerField(allow_null=True)
    hold_seconds = serializers.IntegerField(allow_null=True)
    load_kg = serializers.FloatField(allow_null=True)


class PlanAssignmentSerializer(serializers.Serializer[Any]):
    assignment = serializers.UUIDField()
    exercise = PlanExerciseSerializer()
    dose = PlanDoseSerializer()
    notes = serializers.CharField(allow_blank=True, help_text="The prescriber's notes.")
    sessions_per_day = serializers.IntegerField()
    sessions_logged = serializers.IntegerField(
        help_text="Sessions logged on this day; a log with 0 sets is an attempt and does not count."
    )
    remaining = serializers.IntegerField()
    done = serializers.BooleanField()
    logs = PlanLogSerializer(many=True, help_text="This day's logs of the assignment, oldest first.")


class PlanDaySerializer(serializers.Serializer[Any]):
    date = serializers.DateField(help_text="The patient's local day.")
    post_op_day = serializers.IntegerField()
    time_zone = serializers.CharField(help_text="The patient's IANA time zone.")
    assignments = PlanAssignmentSerializer(many=True)


class AdherenceTotalsSerializer(serializers.Serializer[Any]):
    prescribed = serializers.IntegerField()
    completed = serializers.IntegerField()
    adherence = serializers.FloatField(
        allow_null=True, help_text="completed / prescribed, 0..1, 3 decimals; null when nothing was due."
    )


class AdherenceDaySerializer(AdherenceTotalsSerializer):
    date = serializers.DateField()
    post_op_day = serializers.IntegerField()


class AdherenceWeekSerializer(AdherenceTotalsSerializer):
    week = serializers.IntegerField(help_text=WEEK_DEFINITION)
    start = serializers.DateField(help_text="The week's first day inside the range.")
    end = serializers.DateField(help_text="The week's last day inside the range.")


class AdherenceSerializer(serializers.Serializer[Any]):
    from_ = serializers.DateField()
    to = serializers.DateField()
    time_zone = serializers.CharField()
    week_definition = serializers.CharField()
    overall = AdherenceTotalsSerializer()
    days = AdherenceDaySerializer(many=True)
    weeks = AdherenceWeekSerializer(many=True)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # "from" is a Python keyword: declare it as from_ and publish it under its real name.
        fields = super().get_fields()
        return {"from": fields.pop("from_"), **fields}


# --- Payloads ------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    value = moment.astimezone(UTC).isoformat()
    return value[:-6] + "Z" if value.endswith("+00:00") else value


def exercise_log_payload(log: ExerciseLog) -> dict[str, Any]:
    return {
        "id": str(log.id),
        "episode": str(log.episode_id),
        "assignment": str(log.assignment_id),
        "exercise": str(log.assignment.exercise_id),
        "exercise_name": log.assignment.exercise.name,
        "performed_at": _iso(log.performed_at),
        "local_date": log.local_date.isoformat(),
        "sets_completed": log.sets_completed,
        "reps_completed": log.reps_completed,
        "hold_seconds": log.hold_seconds,
        "pain_during": log.pain_during,
        "difficulty": log.difficulty or None,
        "note": log.note,
        "created_at": _iso(log.created_at),
    }


def _plan_log_payload(log: ExerciseLog) -> dict[str, Any]:
    return {
        "id": str(log.id),
        "performed_at": _iso(log.performed_at),
        "sets_completed": log.sets_completed,
        "reps_completed": log.reps_completed,
        "hold_seconds": log.hold_seconds,
        "pain_during": log.pain_during,
        "difficulty": log.difficulty or None,
    }


def _kg(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _planned_payload(item: PlannedExercise) -> dict[str, Any]:
    assignment, exercise = item.assignment, item.assignment.exercise
    return {
        "assignment": str(assignment.id),
        "exercise": {
            "id": str(exercise.id),
            "name": exercise.name,
            "instructions": list(exercise.instructions),
            "media_url": exercise.media_url,
            "region": exercise.region,
            "phase": exercise.phase,
        },
        "dose": {
            "sets": assignment.sets,
            "reps": assignment.reps,
            "hold_seconds": assignment.hold_seconds,
            "load_kg": _kg(assignment.load_kg),
        },
        "notes": assignment.notes,
        "sessions_per_day": assignment.sessions_per_day,
        "sessions_logged": item.sessions_logged,
        "remaining": item.remaining,
        "done": item.done,
        "logs": [_plan_log_payload(log) for log in item.logs],
    }


def plan_payload(plan: DayPlan) -> dict[str, Any]:
    return {
        "date": plan.date.isoformat(),
        "post_op_day": plan.post_op_day,
        "time_zone": plan.time_zone,
        "assignments": [_planned_payload(item) for item in plan.exercises],
    }


def _totals(totals: AdherenceTotals) -> dict[str, Any]:
    return {"prescribed": totals.prescribed, "completed": totals.completed, "adherence": totals.adherence}


def adherence_payload(report: AdherenceReport) -> dict[str, Any]:
    return {
        "from": report.date_from.isoformat(),
        "to": report.date_to.isoformat(),
        "time_zone": report.time_zone,
        "week_definition": report.week_definition,
        "overall": _totals(report.overall),
        "days": [
            {"date": day.date.isoformat(), "post_op_day": day.post_op_day, **_totals(day)}
            for day in report.days
        ],
        "weeks": [
            {"week": week.week, "start": week.start.isoformat(), "end": week.end.isoformat(), **_totals(week)}
            for week in report.weeks
        ],
    }


# --- Query parameters ----------------------------------------------------------------------------


def _data(validated: dict[str, Any]) -> ExerciseLogData:
    return ExerciseLogData(
        assignment=validated["assignment"],
        performed_at=validated.get("performed_at"),
        sets_completed=validated["sets_completed"],
        reps_completed=validated.get("reps_completed"),
        hold_seconds=validated.get("hold_seconds"),
        pain_during=validated.get("pain_during"),
        difficulty=validated.get("difficulty") or "",
        note=validated.get("note", ""),
    )


# --- Views ---------------------------------------------------------------------------------------


class ExerciseLogListView(EpisodeScopedView):
    pagination_class = Pagination  # documents the paginated envelope in the schema
    read_action = Action.VIEW_REHAB
    method_actions = {"POST": Action.LOG_EXERCISE}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First local day (inclusive)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last local day (inclusive)."),
            OpenApiParameter("assignment", OpenApiTypes.UUID, description="Only this assignment's logs."),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="At most 200."),
        ],
        responses={200: ExerciseLogSerializer(many=True)},
        summary="Exercise logs of an episode, newest first",
    )
    def get(self, request: Request, episode_id: str) -> Response:
        date_from, date_to = query_date_range(request)
        assignment_id = query_uuid(request, "assignment")
        if assignment_id is not None and not assignment_exists(
            episode=self.episode, assignment_id=assignment_id
        ):
            raise exceptions.ValidationError({"assignment": ["No such assignment on this episode."]})
        paginator = Pagination()
        page = paginator.paginate_queryset(
            exercise_log_list(
                episode=self.episode, date_from=date_from, date_to=date_to, assignment_id=assignment_id
            ),
            request,
            view=self,
        )
        return paginator.get_paginated_response([exercise_log_payload(log) for log in page or []])

    @extend_schema(
        request=ExerciseLogInputSerializer,
        responses={201: ExerciseLogSerializer, 200: ExerciseLogSerializer},
        summary="Log an exercise session (201), or replay one already stored (200); other content under the same id is 409",
    )
    def post(self, request: Request, episode_id: str) -> Response:
        data = ExerciseLogInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        validated = data.validated_data
        log, created = exercise_log_record(
            actor=self.user,
            episode=self.episode,
            data=_data(validated),
            supplied=frozenset(validated),
            log_id=validated.get("id"),
        )
        return Response(
            exercise_log_payload(log), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class PlanTodayView(EpisodeScopedView):
    read_action = Action.VIEW_REHAB

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "date", OpenApiTypes.DATE, description="Another local day; defaults to the patient's today."
            )
        ],
        responses={200: PlanDaySerializer},
        summary="The exercises due on the patient's local day, with what was logged so far",
    )
    def get(self, request: Request, episode_id: str) -> Response:
        day = query_date(request, "date") or self.episode.local_today()
        return Response(plan_payload(plan_for_day(episode=self.episode, day=day)))


class AdherenceView(EpisodeScopedView):
    read_action = Action.VIEW_REHAB

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.DATE,
                description=f"First local day; defaults to {DEFAULT_ADHERENCE_DAYS - 1} days before 'to'.",
            ),
            OpenApiParameter(
                "to",
                OpenApiTypes.DATE,
                description="Last local day; defaults to the patient's today, and cannot be later.",
            ),
        ],
        responses={200: AdherenceSerializer},
        summary="Exercise adherence per local day and post-op week",
        description=(
            "Completed sessions over prescribed sessions. Sessions logged beyond what was prescribed "
            "for a day do not count; a day with nothing prescribed has adherence null and does not "
            f"count in its week. {WEEK_DEFINITION} At most {MAX_ADHERENCE_DAYS} days at once."
        ),
    )
    def get(self, request: Request, episode_id: str) -> Response:
        today = self.episode.local_today()
        date_from, date_to = query_date(request, "from"), query_date(request, "to")
        if date_to is None:
            date_to = today
        elif date_to > today:
            # Later days are not due yet: counting them as missed would understate adherence.
            raise exceptions.ValidationError(
                {"to": [f"Must not be after the patient's today ({today.isoformat()})."]}
            )
        if date_from is None:
            date_from = date_to - timedelta(days=DEFAULT_ADHERENCE_DAYS - 1)
        if date_from > date_to:
            raise exceptions.ValidationError({"from": [f"Must not be after 'to' ({date_to.isoformat()})."]})
        if (date_to - date_from).days + 1 > MAX_ADHERENCE_DAYS:
            raise exceptions.ValidationError(
                {"from": [f"The range can span at most {MAX_ADHERENCE_DAYS} days."]}
            )
        return Response(
            adherence_payload(adherence_report(episode=self.episode, date_from=date_from, date_to=date_to))
        )


urlpatterns: list[URLPattern] = [
    path(
        "episodes/<uuid:episode_id>/exercise-logs/",
        ExerciseLogListView.as_view(),
        name="exercise-log-list",
    ),
    path("episodes/<uuid:episode_id>/plan/today/", PlanTodayView.as_view(), name="plan-today"),
    path("episodes/<uuid:episode_id>/adherence/", AdherenceView.as_view(), name="adherence"),
]
