"""Per-episode trajectory and recorded milestones.

- ``GET /api/v1/episodes/{episode_id}/trajectory/``: chart-ready series, expected band, milestones,
  questionnaire scores, status and reasons (clinician wording for the care team, patient wording for
  the patient).
- ``PUT``/``DELETE /api/v1/episodes/{episode_id}/milestones/{key}/``: record (idempotent upsert) or
  remove the date a milestone was reached.

The numbers are computed in ``recovery.analytics``; reads go through ``recovery.trajectories.selectors``
and writes through ``recovery.trajectories.services``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import EpisodeScopedView
from api.fields import StrictDateField, StrictSerializer
from api.renderers import OrjsonRenderer
from recovery.episodes.access import Action, Relation, relation_to
from recovery.trajectories.selectors import Audience, trajectory_json
from recovery.trajectories.services import milestone_record, milestone_remove


# Fields named ``source`` or ``label`` shadow Field attributes in the stubs only: DRF's serializer
# metaclass moves declared fields off the class, hence the type ignores below.
class TrajectorySourceSerializer(serializers.Serializer[Any]):
    reference = serializers.CharField(
        help_text="Paper and table as named in the clinical reference, or 'clinic default, not evidence'."
    )
    interpolated = serializers.BooleanField()
    method = serializers.CharField(allow_blank=True, help_text="How a derived value was obtained.")
    confidence = serializers.CharField(allow_blank=True, help_text="H, M or L as in the clinical reference.")
    overridden_by = serializers.CharField(
        allow_null=True, help_text="Set when a clinic override replaced it."
    )
    overridden_at = serializers.DateTimeField(allow_null=True)


class ReadyListField(serializers.ListField):
    """A ``ListField`` (same schema) whose values the selector already made JSON-ready (numbers,
    None, dates): they go out as they are, not through one child ``to_representation`` per value
    (a year of days is some 9,000 values, 5 ms a request)."""

    def to_representation(self, data: Any) -> list[Any]:
        return list(data)


class TrajectorySeriesSerializer(serializers.Serializer[Any]):
    post_op_day = ReadyListField(child=serializers.IntegerField())
    date = ReadyListField(child=serializers.DateField(), help_text="The patient's local days.")
    checkins = ReadyListField(child=serializers.IntegerField())
    axial_mean = ReadyListField(child=serializers.FloatField(allow_null=True), help_text="null = no data")
    axial_max = ReadyListField(child=serializers.FloatField(allow_null=True))
    limb_mean = ReadyListField(child=serializers.FloatField(allow_null=True))
    limb_max = ReadyListField(child=serializers.FloatField(allow_null=True))
    walking_minutes = ReadyListField(child=serializers.FloatField(allow_null=True))
    steps = ReadyListField(child=serializers.FloatField(allow_null=True))
    opioid = ReadyListField(child=serializers.FloatField(allow_null=True))
    adherence = ReadyListField(
        child=serializers.FloatField(allow_null=True), help_text="null when nothing was due that day"
    )
    axial_mean_7d = ReadyListField(child=serializers.FloatField(allow_null=True))
    limb_mean_7d = ReadyListField(child=serializers.FloatField(allow_null=True))
    walking_minutes_7d = ReadyListField(child=serializers.FloatField(allow_null=True))
    steps_7d = ReadyListField(child=serializers.FloatField(allow_null=True))
    adherence_7d = ReadyListField(child=serializers.FloatField(allow_null=True))


class TrajectoryPainPointSerializer(serializers.Serializer[Any]):
    post_op_day = serializers.IntegerField()
    center = serializers.FloatField()
    upper = serializers.FloatField()
    source = TrajectorySourceSerializer()  # type: ignore[assignment]


class TrajectoryExpectedSerializer(serializers.Serializer[Any]):
    post_op_day = ReadyListField(child=serializers.IntegerField())
    axial_center = ReadyListField(child=serializers.FloatField(allow_null=True))
    axial_upper = ReadyListField(child=serializers.FloatField(allow_null=True))
    limb_center = ReadyListField(child=serializers.FloatField(allow_null=True))
    limb_upper = ReadyListField(child=serializers.FloatField(allow_null=True))
    method = serializers.CharField(help_text="How the per-day values come from the listed points.")
    protocol_version = serializers.IntegerField(allow_null=True)
    axial_points = TrajectoryPainPointSerializer(
        many=True, help_text="The listed points, each with its source."
    )
    limb_points = TrajectoryPainPointSerializer(many=True)


class TrajectoryPositionSerializer(serializers.Serializer[Any]):
    date = serializers.DateField()
    post_op_day = serializers.IntegerField()
    axial_mean = serializers.FloatField(allow_null=True)
    axial_mean_7d = serializers.FloatField(allow_null=True)
    axial_center = serializers.FloatField(allow_null=True)
    axial_upper = serializers.FloatField(allow_null=True)
    limb_mean = serializers.FloatField(allow_null=True)
    limb_mean_7d = serializers.FloatField(allow_null=True)
    limb_center = serializers.FloatField(allow_null=True)
    limb_upper = serializers.FloatField(allow_null=True)
    axial_above_upper = serializers.BooleanField()
    limb_above_upper = serializers.BooleanField()


class TrajectoryMilestoneSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    metric = serializers.CharField(help_text="walk_any | steps_ratio | steps_absolute | event")
    target = serializers.FloatField(allow_null=True)
    window_days = serializers.IntegerField(allow_null=True)
    expected_by_day = serializers.IntegerField(allow_null=True)
    expected_by = serializers.DateField(allow_null=True)
    achieved_on = serializers.DateField(allow_null=True)
    achieved_day = serializers.IntegerField(allow_null=True)
    state = serializers.CharField(help_text="met | missed | due | upcoming")
    late = serializers.BooleanField(help_text="Met after its expected-by day.")
    evaluable = serializers.BooleanField(
        help_text="False when the data needed is missing (e.g. no pre-op steps for a step ratio)."
    )
    recorded = serializers.BooleanField(help_text="A date was recorded by hand.")
    source = TrajectorySourceSerializer(allow_null=True)  # type: ignore[assignment]


class TrajectoryReachedSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]


class TrajectoryScoreSerializer(serializers.Serializer[Any]):
    timepoint = serializers.CharField()
    instrument = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    baseline = serializers.FloatField(allow_null=True)
    change = serializers.FloatField(
        allow_null=True, help_text="baseline - score: positive means less disability."
    )
    reached = TrajectoryReachedSerializer(many=True)


class TrajectoryPromExpectedSerializer(serializers.Serializer[Any]):
    timepoint = serializers.CharField()
    post_op_day = serializers.IntegerField()
    instrument = serializers.CharField()
    expected_score = serializers.FloatField()
    source = TrajectorySourceSerializer()  # type: ignore[assignment]


class TrajectoryThresholdSerializer(serializers.Serializer[Any]):
    instrument = serializers.CharField()
    kind = serializers.CharField()
    improvement = serializers.FloatField(help_text="Points of decrease from baseline that count.")
    label = serializers.CharField()  # type: ignore[assignment]
    source = TrajectorySourceSerializer()  # type: ignore[assignment]


class TrajectoryQuestionnairesSerializer(serializers.Serializer[Any]):
    instrument = serializers.CharField(allow_null=True)
    scores = TrajectoryScoreSerializer(many=True)
    expected = TrajectoryPromExpectedSerializer(many=True)
    thresholds = TrajectoryThresholdSerializer(many=True)


class TrajectoryReasonSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    level = serializers.CharField(help_text="on_track | watch | off_track: how much this reason weighs.")
    text = serializers.CharField(help_text="Wording for the audience (clinician or patient).")


class TrajectorySignalsSerializer(serializers.Serializer[Any]):
    last_checkin_date = serializers.DateField(allow_null=True)
    days_without_checkin = serializers.IntegerField()
    axial_above_run = serializers.IntegerField()
    limb_above_run = serializers.IntegerField()
    pain_rise = serializers.FloatField(allow_null=True)
    pain_rise_site = serializers.CharField(allow_null=True)
    adherence_week = serializers.FloatField(allow_null=True)
    missed_timepoints = serializers.ListField(child=serializers.CharField())
    red_flags_last_24h = serializers.IntegerField()


class TrajectorySerializer(serializers.Serializer[Any]):
    episode = serializers.UUIDField()
    procedure = serializers.CharField()
    region = serializers.CharField(allow_null=True)
    surgery_date = serializers.DateField()
    as_of = serializers.DateField(help_text="Today on the patient's calendar.")
    post_op_day = serializers.IntegerField()
    audience = serializers.CharField(help_text="clinician | patient: whose wording the texts use.")
    series = TrajectorySeriesSerializer()
    expected = TrajectoryExpectedSerializer()
    position = TrajectoryPositionSerializer(
        allow_null=True, help_text="The latest check-in day against the band."
    )
    milestones = TrajectoryMilestoneSerializer(many=True)
    questionnaires = TrajectoryQuestionnairesSerializer()
    status = serializers.CharField(help_text="on_track | watch | off_track")
    status_label = serializers.CharField()
    reasons = TrajectoryReasonSerializer(many=True)
    risk = serializers.FloatField(
        required=False, help_text="Clinicians only: ordering score, higher = worse."
    )
    status_rule = serializers.CharField(required=False, help_text="Clinicians only.")
    signals = TrajectorySignalsSerializer(required=False, help_text="Clinicians only.")


class TrajectoryView(EpisodeScopedView):
    read_action = Action.VIEW_TRAJECTORY
    renderer_classes = [OrjsonRenderer]

    @extend_schema(
        responses={200: TrajectorySerializer},
        summary="Chart-ready recovery trajectory: series, expected band, milestones, scores, status",
        description=(
            "One entry per local day from the first data day (or surgery) to the patient's today; a day "
            "without data is null, never 0. Expected values carry their source. The status thresholds "
            "(watch / off track) are clinic defaults, not evidence. The patient gets the same data with "
            "patient wording and without the risk score."
        ),
    )
    def get(self, request: Request, episode_id: str) -> HttpResponse:
        relation = relation_to(request.user, self.episode)
        audience: Audience = "patient" if relation is Relation.PATIENT else "clinician"
        # The selector's JSON is what this serializer renders (tests/test_trajectory_api.py holds
        # them equal), ready-made and cached as it is.
        return HttpResponse(
            trajectory_json(self.episode, audience=audience, now=timezone.now()),
            content_type="application/json",
        )


class MilestoneInputSerializer(StrictSerializer):
    achieved_on = StrictDateField(
        help_text="The patient's local day it happened: not in the future, not before surgery - 30 days."
    )


class MilestoneEventSerializer(serializers.Serializer[Any]):
    episode = serializers.UUIDField(source="episode_id")
    key = serializers.CharField()
    achieved_on = serializers.DateField()
    recorded_by = serializers.UUIDField(source="recorded_by_id", allow_null=True)
    recorded_at = serializers.DateTimeField()


class MilestoneView(EpisodeScopedView):
    read_action = Action.VIEW_TRAJECTORY
    method_actions = {"PUT": Action.RECORD_MILESTONE, "DELETE": Action.RECORD_MILESTONE}

    @extend_schema(
        request=MilestoneInputSerializer,
        responses={200: MilestoneEventSerializer, 201: MilestoneEventSerializer},
        summary="Record the day a milestone was reached (idempotent upsert)",
        description=(
            "201 the first time, 200 after. The patient records event milestones of the protocol "
            "(discharge, formal physio, desk work, driving); the care team may also confirm by hand any "
            "other milestone of the protocol. An unknown key is a 400 naming `key`."
        ),
    )
    def put(self, request: Request, episode_id: str, key: str) -> Response:
        data = MilestoneInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        written = milestone_record(
            episode=self.episode, key=key, achieved_on=data.validated_data["achieved_on"], actor=self.user
        )
        return Response(
            MilestoneEventSerializer(written.event).data,
            status=status.HTTP_201_CREATED if written.created else status.HTTP_200_OK,
        )

    @extend_schema(responses={204: None}, summary="Remove a recorded milestone (idempotent)")
    def delete(self, request: Request, episode_id: str, key: str) -> Response:
        milestone_remove(episode=self.episode, key=key, actor=self.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns: list[URLPattern] = [
    path("episodes/<uuid:episode_id>/trajectory/", TrajectoryView.as_view(), name="episode-trajectory"),
    path(
        "episodes/<uuid:episode_id>/milestones/<slug:key>/",
        MilestoneView.as_view(),
        name="episode-milestone",
    ),
]
