"""Demo questionnaire responses (ODI lumbar, NDI cervical) for one patient, as plain data. No ORM.

Which timepoints are answered (the schedule is the catalog's, i.e. the API's):
- Baseline: always, on one of the 14 days before surgery (demo choice: the pre-op visit).
- A follow-up whose window has closed: answered with the probability ``FOLLOW_UP_COMPLETION`` (cited
  in ``trajectories``: one app cohort's 3-month compliance, applied to every follow-up window as a
  demo choice), otherwise it shows as ``missed``; if answered, on the target day + N(2, 5) days kept
  inside the window (demo-only).
- A follow-up whose window is open today: answered on an earlier day of the window half of the time
  (demo-only), otherwise it shows as ``due``. Nothing is answered today, so the plan does not depend
  on the time of day; later windows stay ``upcoming``.
- Nothing after the patient went quiet (gap and red-flag scenarios: their last check-in). A completed
  episode's 6-month questionnaire is still answered: registries follow patients after rehab ends.

Scores: the mean course per procedure is cited (``trajectories.DISABILITY``). Per patient (DEMO-ONLY
choices, no source):
- a baseline drawn around the cited mean with the cited SD where one exists (ODI: NORspine 17.3),
  else 40 % of the mean (``UNCITED_BASELINE_SD_SHARE``, for NDI; about NORspine's ODI SD over its
  mean, 17.3 / 43.0), clamped to 10-85;
- the cited mean's improvement as a share of the mean baseline, scaled by a responsiveness factor:
  N(1.0, 0.2) clamped to 0.5-1.4 on track, 0.1-0.4 for off-track patients (they improve less);
- measurement noise N(0, 3) percentage points per response, clamped to 0-100.
The percentage is turned into item answers (0-5) that sum to it, spread over the items by
per-patient weights; one item is skipped 8 % of the time. The stored score is then computed with
``recovery.proms.scoring`` exactly as the API does, so stored and recomputed scores agree.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from recovery.core.demo.ids import demo_uuid
from recovery.core.demo.trajectories import FOLLOW_UP_COMPLETION, DisabilityTrajectory
from recovery.proms.definitions import InstrumentDefinition
from recovery.proms.scoring import clean_answers, score_answers
from recovery.proms.timepoints import Timepoint

_UTC: Final = ZoneInfo("UTC")
BASELINE_DAYS_BEFORE: Final = 14
OPEN_WINDOW_ANSWERED: Final = 0.5
UNCITED_BASELINE_SD_SHARE: Final = 0.4
BASELINE_RANGE: Final = (10.0, 85.0)
RESPONSIVENESS_ON_TRACK: Final = (1.0, 0.2, 0.5, 1.4)  # mean, SD, low, high
RESPONSIVENESS_OFF_TRACK: Final = (0.1, 0.4)
NOISE_SD: Final = 3.0
SKIP_ITEM_PROB: Final = 0.08
#: Follow-ups are answered around the target day: target + N(2, 5) days, kept inside the window.
ANSWER_DELAY: Final = (2.0, 5.0)


@dataclass(frozen=True)
class PlannedResponse:
    id: uuid.UUID
    instrument: str
    instrument_version: str
    timepoint: str
    timepoint_label: str
    is_baseline: bool
    answers: dict[str, int | None]
    raw_score: int
    answered: int
    missing: int
    percent: Decimal
    submitted_at: datetime  # UTC
    local_date: date


@dataclass(frozen=True)
class OutcomePatient:
    index: int
    time_zone: str
    surgery_date: date
    post_op_day: int
    last_active_day: int
    off_track: bool


def plan_responses(
    patient: OutcomePatient,
    *,
    trajectory: DisabilityTrajectory,
    definition: InstrumentDefinition,
    timepoints: tuple[Timepoint, ...],
    rng: random.Random,
    seed: int,
) -> tuple[PlannedResponse, ...]:
    zone = ZoneInfo(patient.time_zone)
    sd = (
        trajectory.baseline_sd.value
        if trajectory.baseline_sd is not None
        else UNCITED_BASELINE_SD_SHARE * trajectory.baseline
    )
    baseline = min(BASELINE_RANGE[1], max(BASELINE_RANGE[0], rng.gauss(trajectory.baseline, sd)))
    if patient.off_track:
        responsiveness = rng.uniform(*RESPONSIVENESS_OFF_TRACK)
    else:
        mean, spread, low, high = RESPONSIVENESS_ON_TRACK
        responsiveness = min(high, max(low, rng.gauss(mean, spread)))
    weights = [rng.uniform(0.4, 1.6) for _ in definition.items]
    planned: list[PlannedResponse] = []
    for timepoint in sorted(timepoints, key=lambda tp: tp.opens_day):
        # Every draw is made whatever the branch, so one timepoint's outcome does not shift the next.
        answer_u, delay, open_day_u, noise, skip_u, skip_item, minute, items_seed = (
            rng.random(),
            rng.gauss(*ANSWER_DELAY),
            rng.random(),
            rng.gauss(0, NOISE_SD),
            rng.random(),
            rng.randrange(len(definition.items)),
            rng.randint(0, 179),
            rng.random(),
        )
        day = _answer_day(timepoint, patient, answer_u=answer_u, delay=delay, open_day_u=open_day_u)
        if day is None or day > patient.last_active_day:
            continue
        percent = baseline * (1 - responsiveness * trajectory.relative_improvement(day)) + noise
        skipped = skip_item if skip_u < SKIP_ITEM_PROB else None
        items_rng = random.Random(items_seed)  # noqa: S311  # reproducible demo data
        answers = _answers(definition, percent, weights, skipped, items_rng)
        score = score_answers(definition, clean_answers(definition, answers))
        local = datetime.combine(patient.surgery_date + timedelta(days=day), time(19), tzinfo=zone)
        submitted_at = (local + timedelta(minutes=minute)).astimezone(_UTC)
        planned.append(
            PlannedResponse(
                id=demo_uuid(seed, "response", patient.index, timepoint.key),
                instrument=definition.code,
                instrument_version=definition.version,
                timepoint=timepoint.key,
                timepoint_label=timepoint.label,
                is_baseline=timepoint.is_baseline,
                answers=answers,
                raw_score=score.raw,
                answered=score.answered,
                missing=score.missing,
                percent=score.percent,
                submitted_at=submitted_at,
                local_date=submitted_at.astimezone(zone).date(),
            )
        )
    return tuple(planned)


def _answer_day(
    timepoint: Timepoint, patient: OutcomePatient, *, answer_u: float, delay: float, open_day_u: float
) -> int | None:
    """The post-op day the timepoint was answered on, or None when it was not (yet) answered."""
    today = patient.post_op_day
    if timepoint.opens_day > today - 1:
        return None  # upcoming, or opened today
    if timepoint.is_baseline:
        first = max(timepoint.opens_day, -BASELINE_DAYS_BEFORE)
        last = min(timepoint.closes_day, -1)
        return first + int(open_day_u * (last - first + 1)) if first <= last else None
    if timepoint.closes_day < today:
        if answer_u >= FOLLOW_UP_COMPLETION.value:
            return None  # missed
        return min(timepoint.closes_day, max(timepoint.opens_day, timepoint.target_day + round(delay)))
    if answer_u >= OPEN_WINDOW_ANSWERED:
        return None  # due
    return timepoint.opens_day + int(open_day_u * (today - timepoint.opens_day))


def _answers(
    definition: InstrumentDefinition,
    percent: float,
    weights: list[float],
    skipped: int | None,
    rng: random.Random,
) -> dict[str, int | None]:
    """Item answers whose percentage is ``percent`` (rounded to a whole raw score)."""
    rule = definition.scoring
    keys = definition.item_keys
    answered = [i for i in range(len(keys)) if i != skipped]
    span = rule.item_max - rule.item_min
    fraction = min(1.0, max(0.0, percent / 100))
    extra = round(fraction * span * len(answered))
    values = dict.fromkeys(answered, rule.item_min)
    for _ in range(extra):
        open_items = [i for i in answered if values[i] < rule.item_max]
        chosen = rng.choices(open_items, weights=[weights[i] for i in open_items])[0]
        values[chosen] += 1
    return {key: values.get(i) for i, key in enumerate(keys)}
