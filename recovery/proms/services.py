"""Writes for outcome questionnaires.

Invariants:
- Only the episode's patient answers a questionnaire (the access policy decides).
- The instrument must be the episode's own (chosen by the procedure's region). Answers are checked
  item by item and scored on the server; a response with too many skipped items is refused, so
  every stored response has a score.
- ``submitted_at`` is at most 5 minutes in the future. Its date on the patient's calendar must fall
  inside a timepoint window of the clinic's schedule; that timepoint is assigned.
- At most one response per episode and timepoint. A completed timepoint is never replaced: a second
  response for it is a ``Conflict`` (answers stay as the patient gave them at the time).
- Recording is idempotent on the client-supplied id: the same id with the same content returns the
  stored row and creates nothing; the same id with other content is a ``Conflict``. Races are
  settled by the primary key and the (episode, timepoint) unique constraint, not by a read first.
- A clinic's licensed wording replaces the stored text for that clinic and language in one upsert;
  its structure (item keys, option counts) must match the instrument.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from recovery.accounts.models import Clinic, Language, User
from recovery.core.errors import NON_FIELD, Conflict, NotPermitted, ValidationFailed
from recovery.episodes.access import Action, can
from recovery.episodes.models import Episode
from recovery.proms.definitions import DefinitionError, validate_text_override
from recovery.proms.models import InstrumentText, QuestionnaireResponse
from recovery.proms.scoring import clean_answers, score_answers
from recovery.proms.selectors import instrument_for_episode, instrument_get, schedule_for_clinic
from recovery.proms.timepoints import Timepoint, next_opening, timepoint_on

FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class ResponseData:
    instrument: str
    answers: Mapping[str, Any]
    submitted_at: datetime | None = None


def _matches(existing: QuestionnaireResponse, episode: Episode, supplied: Mapping[str, Any]) -> bool:
    return (
        existing.episode_id == episode.pk
        and existing.instrument_id == supplied["instrument"]
        and existing.answers == supplied["answers"]
        and ("submitted_at" not in supplied or existing.submitted_at == supplied["submitted_at"])
    )


def _replay(
    existing: QuestionnaireResponse, episode: Episode, supplied: Mapping[str, Any]
) -> QuestionnaireResponse:
    if not _matches(existing, episode, supplied):
        raise Conflict(
            {"id": ["A questionnaire response with this id already exists with different content."]}
        )
    return existing


def _no_window(timepoints: list[Timepoint], episode: Episode, local_date: Any) -> ValidationFailed:
    day = (local_date - episode.surgery_date).days
    reason = f"No questionnaire is open on {local_date.isoformat()} (day {day} after surgery)."
    upcoming = next_opening(timepoints, surgery_date=episode.surgery_date, day=local_date)
    if upcoming is not None:
        reason += (
            f" The next one, {upcoming.label}, opens on {upcoming.opens(episode.surgery_date).isoformat()}."
        )
    return ValidationFailed({NON_FIELD: [reason]})


def questionnaire_response_record(
    *,
    actor: User,
    episode: Episode,
    data: ResponseData,
    response_id: UUID | None = None,
    now: datetime | None = None,
) -> tuple[QuestionnaireResponse, bool]:
    """Score and store one questionnaire. Returns ``(response, created)``; False for a replay."""
    if not can(actor, Action.ANSWER_QUESTIONNAIRE, episode):
        raise NotPermitted("Only the patient answers questionnaires for this episode.")
    instrument = instrument_for_episode(episode=episode)
    if instrument is None:
        raise ValidationFailed({"instrument": ["No questionnaire is set up for this episode's procedure."]})
    if data.instrument != instrument.code:
        raise ValidationFailed(
            {
                "instrument": [
                    f"This episode uses the '{instrument.code}' questionnaire ({instrument.region} procedure), "
                    f"not '{data.instrument}'."
                ]
            }
        )
    definition = instrument.definition
    answers = clean_answers(definition, data.answers)
    score = score_answers(definition, answers)
    now = now or timezone.now()
    submitted_at = data.submitted_at or now
    if submitted_at > now + FUTURE_TOLERANCE:
        raise ValidationFailed({"submitted_at": ["Cannot be more than 5 minutes in the future."]})
    supplied: dict[str, Any] = {"instrument": instrument.code, "answers": answers}
    if data.submitted_at is not None:
        supplied["submitted_at"] = data.submitted_at

    local_date = timezone.localtime(submitted_at, episode.patient_time_zone).date()
    timepoints = schedule_for_clinic(clinic_id=episode.clinic_id)
    timepoint = timepoint_on(timepoints, surgery_date=episode.surgery_date, day=local_date)
    if timepoint is None:
        # A retry of a response stored while its window was open must still be answered as a replay.
        stored = QuestionnaireResponse.objects.filter(pk=response_id).first() if response_id else None
        if stored is not None:
            return _replay(stored, episode, supplied), False
        raise _no_window(timepoints, episode, local_date)

    # Insert first: a replay or a second response for the timepoint is the rare case. Inside a
    # caller's transaction a savepoint keeps a duplicate-key failure from poisoning it.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            response = QuestionnaireResponse.objects.create(
                **({"id": response_id} if response_id else {}),
                episode=episode,
                instrument=instrument,
                instrument_version=instrument.version,
                timepoint=timepoint.key,
                timepoint_label=timepoint.label,
                is_baseline=timepoint.is_baseline,
                answers=answers,
                raw_score=score.raw,
                answered=score.answered,
                missing=score.missing,
                percent=score.percent,
                submitted_at=submitted_at,
                local_date=local_date,
                created_by=actor,
            )
    except IntegrityError:
        # The id is taken (a replay, a race between identical requests, or a reused id), or the
        # timepoint already has its response.
        stored = QuestionnaireResponse.objects.filter(pk=response_id).first() if response_id else None
        if stored is not None:
            return _replay(stored, episode, supplied), False
        taken = QuestionnaireResponse.objects.filter(episode=episode, timepoint=timepoint.key).first()
        if taken is None:
            raise
        raise Conflict(
            {
                NON_FIELD: [
                    f"The {timepoint.label} questionnaire was already completed on "
                    f"{taken.local_date.isoformat()}; a completed questionnaire is not replaced."
                ]
            }
        ) from None
    return response, True


def instrument_text_load(
    *,
    clinic: Clinic,
    instrument_code: str,
    language: str,
    items: Any,
    license_note: str = "",
    actor: User | None = None,
) -> tuple[InstrumentText, bool]:
    """Store a clinic's licensed wording for one instrument and language (replacing an older one)."""
    instrument = instrument_get(code=instrument_code)
    if instrument is None:
        raise ValidationFailed({"instrument": [f"Unknown questionnaire '{instrument_code}'."]})
    if language not in Language.values:
        raise ValidationFailed({"language": [f"Must be one of {', '.join(Language.values)}."]})
    try:
        normalised = validate_text_override(instrument.definition, items)
    except DefinitionError as exc:
        raise ValidationFailed({"items": exc.problems}) from None
    return InstrumentText.objects.update_or_create(
        clinic=clinic,
        instrument=instrument,
        language=language,
        defaults={"items": normalised, "license_note": license_note, "loaded_by": actor},
    )
