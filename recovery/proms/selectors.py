"""Reads for outcome questionnaires. Episode-level reads take an episode the caller obtained through
the access policy (``recovery.episodes.access``); nothing here widens that scope.

- The instrument of an episode is the active instrument of its procedure's region.
- A clinic's schedule is its own active timepoints when it has any, else the shipped default.
- Timepoint states and windows are computed on the patient's calendar (``Episode.local_today``).
- Change from baseline compares a response with the episode's baseline response of the same
  instrument; see ``recovery.proms.scoring`` for the rule and rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from django.db.models import Q, QuerySet

from recovery.episodes.models import Episode, Procedure
from recovery.proms.definitions import RenderedItem, render_items
from recovery.proms.models import Instrument, InstrumentText, QuestionnaireResponse, ScheduleTimepoint
from recovery.proms.scoring import Evaluation, Score, evaluate, score_from_totals
from recovery.proms.timepoints import State, Timepoint, state_of

MOBILIZE_WORDING = "mobilize"
CLINIC_WORDING = "clinic"


def instrument_get(*, code: str) -> Instrument | None:
    return Instrument.objects.filter(code=code, is_active=True).first()


def instrument_for_episode(*, episode: Episode) -> Instrument | None:
    """The active instrument of the episode's procedure region, in one query."""
    region = Procedure.objects.filter(pk=episode.procedure_id).values("region")[:1]
    return Instrument.objects.filter(is_active=True, region=region).first()


def schedule_for_clinic(*, clinic_id: UUID | None) -> list[Timepoint]:
    """The clinic's own active timepoints if it defined any, else the shipped default, by window."""
    rows = list(
        ScheduleTimepoint.objects.filter(
            Q(clinic__isnull=True) | Q(clinic_id=clinic_id), is_active=True
        ).order_by("opens_day", "key")
    )
    own = [row for row in rows if row.clinic_id is not None]
    chosen = own if own else [row for row in rows if row.clinic_id is None]
    return [row.as_timepoint() for row in chosen]


@dataclass(frozen=True)
class RenderedInstrument:
    instrument: Instrument
    language: str
    #: ``mobilize`` (our own wording) or ``clinic`` (the clinic's licensed wording).
    wording: str
    license_note: str
    items: tuple[RenderedItem, ...]


def instrument_render(*, instrument: Instrument, clinic_id: UUID | None, language: str) -> RenderedInstrument:
    """The items to show: the clinic's licensed text in ``language`` when loaded, else our own wording."""
    text = (
        InstrumentText.objects.filter(clinic_id=clinic_id, instrument=instrument, language=language).first()
        if clinic_id is not None
        else None
    )
    definition = instrument.definition
    if text is not None:
        return RenderedInstrument(
            instrument=instrument,
            language=language,
            wording=CLINIC_WORDING,
            license_note=text.license_note,
            items=render_items(definition, language, text.items),
        )
    return RenderedInstrument(
        instrument=instrument,
        language=language,
        wording=MOBILIZE_WORDING,
        license_note=definition.license_note,
        items=render_items(definition, language, None),
    )


def response_list(*, episode: Episode) -> QuerySet[QuestionnaireResponse]:
    return (
        QuestionnaireResponse.objects.filter(episode=episode)
        .select_related("instrument")
        .order_by("-submitted_at", "id")
    )


@dataclass(frozen=True)
class ScoredResponse:
    response: QuestionnaireResponse
    score: Score
    evaluation: Evaluation


def _score(response: QuestionnaireResponse) -> Score:
    return score_from_totals(
        response.instrument.definition, raw=response.raw_score, answered=response.answered
    )


def _baseline(episode: Episode, responses: Sequence[QuestionnaireResponse]) -> QuestionnaireResponse | None:
    loaded = [response for response in responses if response.is_baseline]
    if loaded:
        return min(loaded, key=lambda response: response.submitted_at)
    return (
        QuestionnaireResponse.objects.filter(episode=episode, is_baseline=True)
        .select_related("instrument")
        .order_by("submitted_at")
        .first()
    )


def responses_scored(*, episode: Episode, responses: Sequence[QuestionnaireResponse]) -> list[ScoredResponse]:
    """Score each response and compare it with the episode's baseline (one extra query at most)."""
    if not responses:
        return []
    baseline = _baseline(episode, responses)
    scored: list[ScoredResponse] = []
    for response in responses:
        score = _score(response)
        same_instrument = baseline is not None and baseline.instrument_id == response.instrument_id
        scored.append(
            ScoredResponse(
                response=response,
                score=score,
                evaluation=evaluate(
                    response.instrument.definition,
                    score=score,
                    baseline=_score(baseline) if baseline is not None and same_instrument else None,
                    is_baseline=response.is_baseline,
                ),
            )
        )
    return scored


@dataclass(frozen=True)
class TimepointStatus:
    key: str
    label: str
    is_baseline: bool
    target_day: int | None
    opens_day: int | None
    closes_day: int | None
    opens: date | None
    closes: date | None
    timepoint_source: str
    window_source: str
    state: State
    response: ScoredResponse | None


@dataclass(frozen=True)
class Overview:
    instrument: Instrument | None
    local_today: date
    timepoints: list[TimepointStatus]


def questionnaire_overview(*, episode: Episode, now: datetime | None = None) -> Overview:
    """Every timepoint of the episode's schedule with its window, state and response.

    A response stored under a timepoint the clinic has since removed from its schedule is still
    listed (completed, without a window) so that nothing answered disappears.
    """
    instrument = instrument_for_episode(episode=episode)
    today = episode.local_today(now)
    scored = {
        item.response.timepoint: item
        for item in responses_scored(episode=episode, responses=list(response_list(episode=episode)))
    }
    statuses: list[TimepointStatus] = []
    for timepoint in schedule_for_clinic(clinic_id=episode.clinic_id):
        response = scored.pop(timepoint.key, None)
        statuses.append(
            TimepointStatus(
                key=timepoint.key,
                label=timepoint.label,
                is_baseline=timepoint.is_baseline,
                target_day=timepoint.target_day,
                opens_day=timepoint.opens_day,
                closes_day=timepoint.closes_day,
                opens=timepoint.opens(episode.surgery_date),
                closes=timepoint.closes(episode.surgery_date),
                timepoint_source=timepoint.timepoint_source,
                window_source=timepoint.window_source,
                state=state_of(
                    timepoint, surgery_date=episode.surgery_date, today=today, completed=response is not None
                ),
                response=response,
            )
        )
    for orphan in sorted(scored.values(), key=lambda item: item.response.submitted_at):
        statuses.append(
            TimepointStatus(
                key=orphan.response.timepoint,
                label=orphan.response.timepoint_label,
                is_baseline=orphan.response.is_baseline,
                target_day=None,
                opens_day=None,
                closes_day=None,
                opens=None,
                closes=None,
                timepoint_source="",
                window_source="no longer in the clinic's schedule",
                state=State.COMPLETED,
                response=orphan,
            )
        )
    return Overview(instrument=instrument, local_today=today, timepoints=statuses)
