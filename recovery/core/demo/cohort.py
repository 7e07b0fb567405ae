"""The demo cohort as plain data: who the patients are, every check-in they made, their exercise
plans and logs, and their questionnaires. No ORM here.

``plan_demo(patients=N, seed=S, now=..., catalog=...)`` is a pure function: the same arguments give
the same plan, down to every UUID, name and pain score. Only the calendar moves with ``now``: surgery
dates are "today minus the post-op day" in each patient's time zone, and check-ins and exercise logs
later than ``now`` are dropped (after all random draws, so the rest of the plan does not depend on
the time of day). ``catalog`` is the shipped reference data read from the database (exercise
library, default restrictions, questionnaire schedule and instruments; ``catalog.DemoCatalog``).

Shape of the cohort (demo choices, not clinical numbers):
- Patient 1 (``patient@``) is the demo's main patient: lumbar microdiscectomy at L5-S1, post-op day
  12-18, on track, a check-in every day and frequent notes, cared for by ``surgeon@`` and ``physio@``.
- The other patients cycle through the six procedures and are spread evenly over post-op days
  0-180 (stratified draws). Episodes past post-op day 150 are ``completed`` and their check-ins stop
  at day 150, when follow-up ended; all others are ``recovering``.
- About 15% are off track: from post-op week 2 their pain stops following the expected curve and
  stays high or rises, their steps stay at the week-2 level and opioid use lasts longer.
- Three patients report red flags in their latest check-in (yesterday): fever; wound drainage; and,
  after a lumbar operation, saddle numbness with a bladder/bowel change.
- Three patients have a gap of 4-6 days up to today without any check-in.
- Check-ins: one or two in the week before surgery, then about one a day (some days missed, some
  days two), at a morning or evening local time, converted to UTC.

Values: the expected pain, step ratio and opioid duration come from ``trajectories`` (each anchor
cited there); patient-level offsets and daily noise are added, and pain and sleep are rounded to
integers clamped to 0-10. Walking minutes and sleep quality have no source and are demo-only
functions of the step ratio and of pain.

Exercises (``rehab``) and questionnaires (``outcomes``) draw from their own per-patient streams, so
the check-ins above are the same as before they existed. Adherence profiles (demo-only): off-track
patients adhere poorly, three recovering patients past day 42 decline over time, the rest are steady.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from recovery.core.demo.catalog import CatalogRestrictions, DemoCatalog
from recovery.core.demo.ids import DOMAIN, demo_uuid
from recovery.core.demo.outcomes import OutcomePatient, PlannedResponse, plan_responses
from recovery.core.demo.rehab import (
    Adherence,
    AdherenceProfile,
    PlannedAssignment,
    PlannedLog,
    RehabPatient,
    adherence_for,
    plan_assignments,
    plan_logs,
)
from recovery.core.demo.trajectories import (
    BASELINE_STEPS,
    DISABILITY,
    OPIOID_MEDIAN_DAYS,
    STEP_RATIO,
    TRAJECTORIES,
    Curve,
)

PROCEDURE_REGIONS: Final[dict[str, str]] = {
    "lumbar_microdiscectomy": "lumbar",
    "tubular_discectomy": "lumbar",
    "full_endoscopic_discectomy": "lumbar",
    "mis_lumbar_decompression": "lumbar",
    "mis_tlif": "lumbar",
    "acdf": "cervical",
}
_LEVEL_OPTIONS: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "lumbar_microdiscectomy": (("L5-S1",), ("L4-L5",), ("L3-L4",)),
    "tubular_discectomy": (("L5-S1",), ("L4-L5",)),
    "full_endoscopic_discectomy": (("L5-S1",), ("L4-L5",), ("L3-L4",)),
    "mis_lumbar_decompression": (("L4-L5",), ("L3-L4",), ("L3-L4", "L4-L5")),
    "mis_tlif": (("L4-L5",), ("L5-S1",), ("L4-L5", "L5-S1")),
    "acdf": (("C5-C6",), ("C6-C7",), ("C5-C6", "C6-C7"), ("C4-C5", "C5-C6")),
}
# (IANA zone, share of patients there who prefer Spanish)
_ZONES: Final = (
    ("Europe/Madrid", 0.6),
    ("America/New_York", 0.15),
    ("America/Los_Angeles", 0.25),
    ("Europe/London", 0.0),
    ("America/Mexico_City", 0.85),
)
_FIRST = {
    "en": ("James", "Emma", "Oliver", "Grace", "Daniel", "Chloe", "Michael", "Hannah", "Robert", "Olivia",
           "David", "Sophie", "Thomas", "Ruth", "Peter", "Megan"),
    "es": ("Lucía", "Javier", "Carmen", "Alejandro", "Marta", "Diego", "Isabel", "Pablo", "Elena", "Andrés",
           "Rosa", "Miguel", "Paula", "Sergio", "Teresa", "Raúl"),
}  # fmt: skip
_LAST = {
    "en": ("Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Clarke", "Walker", "Wright",
           "Hughes", "Green", "Baker", "Hall", "Turner", "Carter"),
    "es": ("García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Díaz", "Moreno", "Ruiz",
           "Jiménez", "Álvarez", "Romero", "Torres", "Navarro", "Castro"),
}  # fmt: skip
MAIN_PATIENT_NAME: Final = "Alex Rivera"

# Demo shape (not clinical numbers).
MAX_POST_OP_DAY: Final = 180
COMPLETED_AFTER_DAY: Final = 150
MAIN_PATIENT_DAYS: Final = (12, 18)
OFF_TRACK_SHARE: Final = 0.15
OFF_TRACK_FROM_DAY: Final = 14
GAP_PATIENTS: Final = 3
DECLINING_PATIENTS: Final = 3
DECLINING_FROM_DAY: Final = 42
PATIENT_OFFSET_SD: Final = 0.7
DAILY_NOISE_SD: Final = 0.6
SKIP_DAY_PROB: Final = 0.12
SECOND_CHECKIN_PROB: Final = 0.08
SURGERY_DAY_PROB: Final = 0.5
NOTE_PROB: Final = 0.12
MISSING_FIELD_PROB: Final = 0.08
SLEEP_BEST: Final = 8.5


class Scenario(StrEnum):
    ON_TRACK = "on_track"
    OFF_TRACK = "off_track"
    RED_FLAG = "red_flag"
    GAP = "gap"


# (red flags, lumbar only, preferred post-op days for the flagged day)
_RED_FLAG_SCENARIOS: Final = (
    (("saddle_numbness", "bladder_bowel_change"), True, (3, 60)),
    (("fever",), False, (3, 45)),
    (("wound_drainage",), False, (3, 45)),
)


@dataclass(frozen=True)
class PlannedStaff:
    id: uuid.UUID
    email: str
    full_name: str
    role: str  # a ``recovery.accounts.models.Role`` value
    key: str  # "surgeon", "physio", "physio2", "admin"


@dataclass(frozen=True)
class PlannedCheckIn:
    id: uuid.UUID
    recorded_at: datetime  # UTC
    local_date: date
    axial_pain: int
    limb_pain: int
    walking_minutes: int | None
    steps: int | None
    sleep_quality: int | None
    took_opioid: bool | None
    red_flags: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class PlannedPatient:
    index: int
    user_id: uuid.UUID
    email: str
    full_name: str
    date_of_birth: date
    time_zone: str
    language: str
    episode_id: uuid.UUID
    procedure: str
    levels: tuple[str, ...]
    surgery_date: date
    post_op_day: int
    status: str  # an ``EpisodeStatus`` value
    physios: tuple[str, ...]  # staff keys
    scenario: Scenario
    red_flags: tuple[str, ...]
    checkins: tuple[PlannedCheckIn, ...]
    #: The procedure's default restrictions the episode starts with (None: no default exists).
    restrictions: CatalogRestrictions | None
    adherence: Adherence
    assignments: tuple[PlannedAssignment, ...]
    exercise_logs: tuple[PlannedLog, ...]
    responses: tuple[PlannedResponse, ...]


@dataclass(frozen=True)
class DemoPlan:
    seed: int
    clinic_id: uuid.UUID
    staff: tuple[PlannedStaff, ...]
    patients: tuple[PlannedPatient, ...]


def patient_email(index: int) -> str:
    return f"patient@{DOMAIN}" if index == 0 else f"patient{index + 1:02d}@{DOMAIN}"


STAFF: Final = (
    ("surgeon", "Dr Elena Navarro", "surgeon"),
    ("physio", "Sam Okafor", "physiotherapist"),
    ("physio2", "Lucía Herrera", "physiotherapist"),
    ("admin", "Jordan Blake", "clinic_admin"),
)


def plan_demo(*, patients: int, seed: int, now: datetime, catalog: DemoCatalog) -> DemoPlan:
    if patients < 1:
        raise ValueError("The demo needs at least one patient.")
    rng = random.Random(seed)  # noqa: S311  # reproducible demo data, not security
    staff = tuple(
        PlannedStaff(demo_uuid(seed, "user", key), f"{key}@{DOMAIN}", name, role, key)
        for key, name, role in STAFF
    )
    others = patients - 1
    codes = list(PROCEDURE_REGIONS)
    procedures = [
        "lumbar_microdiscectomy",
        *rng.sample([codes[i % len(codes)] for i in range(others)], others),
    ]
    spread = [
        min(MAX_POST_OP_DAY, int((k + rng.random()) * (MAX_POST_OP_DAY + 1) / others)) for k in range(others)
    ]
    days = [rng.randint(*MAIN_PATIENT_DAYS), *rng.sample(spread, others)]

    scenarios = [Scenario.ON_TRACK] * patients
    flags: list[tuple[str, ...]] = [()] * patients
    recovering = [i for i in range(1, patients) if days[i] <= COMPLETED_AFTER_DAY]
    eligible = [i for i in recovering if days[i] >= OFF_TRACK_FROM_DAY + 7]
    for i in rng.sample(eligible, min(round(OFF_TRACK_SHARE * patients), len(eligible))):
        scenarios[i] = Scenario.OFF_TRACK
    for red_flags, lumbar_only, (low, high) in _RED_FLAG_SCENARIOS:
        fits = [
            i
            for i in recovering
            if scenarios[i] == Scenario.ON_TRACK
            and days[i] >= 2
            and (not lumbar_only or PROCEDURE_REGIONS[procedures[i]] == "lumbar")
        ]
        preferred = [i for i in fits if low <= days[i] <= high]
        if fits:
            chosen = rng.choice(preferred or fits)
            scenarios[chosen], flags[chosen] = Scenario.RED_FLAG, red_flags
    idle = [i for i in recovering if scenarios[i] == Scenario.ON_TRACK and days[i] >= 10]
    for i in rng.sample(idle, min(GAP_PATIENTS, len(idle))):
        scenarios[i] = Scenario.GAP
    # A separate stream, so that adding the rehab data left every earlier draw (and check-in) as it was.
    adherence_rng = random.Random(f"mobilize-demo/{seed}/adherence")  # noqa: S311  # reproducible demo data
    steady = [
        i
        for i in recovering
        if scenarios[i] in (Scenario.ON_TRACK, Scenario.GAP) and days[i] >= DECLINING_FROM_DAY
    ]
    declining = set(adherence_rng.sample(steady, min(DECLINING_PATIENTS, len(steady))))

    names = _NameDrawer(rng)
    planned = []
    for i in range(patients):
        if i == 0:
            zone, language, name = "Europe/Madrid", "en", MAIN_PATIENT_NAME
            physios: tuple[str, ...] = ("physio",)
            levels: tuple[str, ...] = ("L5-S1",)
        else:
            zone, spanish_share = rng.choice(_ZONES)
            language = "es" if rng.random() < spanish_share else "en"
            name = names.draw(language)
            physios = rng.choice((("physio",), ("physio2",), ("physio", "physio2")))
            levels = rng.choice(_LEVEL_OPTIONS[procedures[i]])
        age_days = rng.randint(30 * 365, 78 * 365)
        today = now.astimezone(ZoneInfo(zone)).date()
        patient = _PatientSpec(i, zone, language, procedures[i], days[i], scenarios[i], flags[i])
        checkins = _checkins(patient, _patient_rng(seed, i), seed, now)
        surgery_date = today - timedelta(days=days[i])
        profile = (
            AdherenceProfile.POOR
            if scenarios[i] == Scenario.OFF_TRACK
            else AdherenceProfile.DECLINING
            if i in declining
            else AdherenceProfile.STEADY
        )
        activity = _Activity.of(
            patient,
            surgery_date=surgery_date,
            physios=physios,
            checkins=checkins,
            profile=profile,
            catalog=catalog,
            seed=seed,
            now=now,
        )
        planned.append(
            PlannedPatient(
                index=i,
                user_id=demo_uuid(seed, "user", "patient", i),
                email=patient_email(i),
                full_name=name,
                date_of_birth=now.date() - timedelta(days=age_days),
                time_zone=zone,
                language=language,
                episode_id=demo_uuid(seed, "episode", i),
                procedure=procedures[i],
                levels=levels,
                surgery_date=surgery_date,
                post_op_day=days[i],
                status="completed" if days[i] > COMPLETED_AFTER_DAY else "recovering",
                physios=physios,
                scenario=scenarios[i],
                red_flags=flags[i],
                checkins=checkins,
                restrictions=activity.restrictions,
                adherence=activity.adherence,
                assignments=activity.assignments,
                exercise_logs=activity.logs,
                responses=activity.responses,
            )
        )
    return DemoPlan(seed, demo_uuid(seed, "clinic"), staff, tuple(planned))


def _patient_rng(seed: int, index: int, stream: str = "") -> random.Random:
    """One stream per patient (and purpose), so a patient's noise does not depend on the draws made
    for others, nor check-ins on the draws made for exercises and questionnaires."""
    suffix = f"/{stream}" if stream else ""
    return random.Random(f"mobilize-demo/{seed}/{index}{suffix}")  # noqa: S311  # reproducible demo data


@dataclass(frozen=True)
class _Activity:
    """A patient's restrictions, exercise plan, exercise logs and questionnaires."""

    restrictions: CatalogRestrictions | None
    adherence: Adherence
    assignments: tuple[PlannedAssignment, ...]
    logs: tuple[PlannedLog, ...]
    responses: tuple[PlannedResponse, ...]

    @classmethod
    def of(
        cls,
        patient: _PatientSpec,
        *,
        surgery_date: date,
        physios: tuple[str, ...],
        checkins: Sequence[PlannedCheckIn],
        profile: AdherenceProfile,
        catalog: DemoCatalog,
        seed: int,
        now: datetime,
    ) -> _Activity:
        region = PROCEDURE_REGIONS[patient.procedure]
        # Patients who went quiet (a gap, or a red flag reported yesterday) do nothing after their
        # last check-in; a completed episode's exercises stop when its follow-up ended.
        quiet_after = patient.post_op_day
        if patient.scenario in (Scenario.GAP, Scenario.RED_FLAG) and checkins:
            quiet_after = (max(c.local_date for c in checkins) - surgery_date).days
        follow_up_ends = COMPLETED_AFTER_DAY if patient.post_op_day > COMPLETED_AFTER_DAY else None
        exercising_until = min(quiet_after, follow_up_ends if follow_up_ends is not None else quiet_after)
        axial_pain: dict[date, int] = {}
        for checkin in checkins:
            axial_pain.setdefault(checkin.local_date, checkin.axial_pain)
        rng = _patient_rng(seed, patient.index, "rehab")
        rehab_patient = RehabPatient(
            index=patient.index,
            time_zone=patient.time_zone,
            language=patient.language,
            region=region,
            surgery_date=surgery_date,
            post_op_day=patient.post_op_day,
            last_active_day=exercising_until,
            follow_up_ends=follow_up_ends,
            off_track=patient.scenario == Scenario.OFF_TRACK,
            evening_person=rng.random() < 0.5,
            prescriber=physios[0] if physios else "surgeon",
            words=_WORDS[(region, patient.language)],
            axial_pain=axial_pain,
        )
        restrictions = catalog.restrictions.get(patient.procedure)
        adherence = adherence_for(profile, rng, exercising_until)
        assignments = plan_assignments(
            rehab_patient, catalog=catalog, restrictions=restrictions, rng=rng, seed=seed
        )
        logs = plan_logs(rehab_patient, assignments=assignments, adherence=adherence, rng=rng, seed=seed)
        definition = catalog.instruments.get(region)
        responses: tuple[PlannedResponse, ...] = ()
        if definition is not None:
            responses = plan_responses(
                OutcomePatient(
                    index=patient.index,
                    time_zone=patient.time_zone,
                    surgery_date=surgery_date,
                    post_op_day=patient.post_op_day,
                    last_active_day=quiet_after,
                    off_track=patient.scenario == Scenario.OFF_TRACK,
                ),
                trajectory=DISABILITY[patient.procedure],
                definition=definition,
                timepoints=catalog.timepoints,
                rng=_patient_rng(seed, patient.index, "proms"),
                seed=seed,
            )
        return cls(
            restrictions=restrictions,
            adherence=adherence,
            assignments=assignments,
            # Dropped after every draw, so the rest of the plan does not depend on the time of day.
            logs=tuple(log for log in logs if log.performed_at <= now),
            responses=responses,
        )


class _NameDrawer:
    """Full names without repeats while the combinations last (256 per language)."""

    def __init__(self, rng: random.Random) -> None:
        self._pools = {
            language: rng.sample(
                [f"{first} {last}" for first in _FIRST[language] for last in _LAST[language]],
                len(_FIRST[language]) * len(_LAST[language]),
            )
            for language in _FIRST
        }
        self._used = dict.fromkeys(_FIRST, 0)

    def draw(self, language: str) -> str:
        pool = self._pools[language]
        name = pool[self._used[language] % len(pool)]
        self._used[language] += 1
        return name


@dataclass(frozen=True)
class _PatientSpec:
    index: int
    time_zone: str
    language: str
    procedure: str
    post_op_day: int
    scenario: Scenario
    red_flags: tuple[str, ...]


def _score(value: float) -> int:
    return min(10, max(0, round(value)))


def _off_track_pain(curve: Curve, day: int, rise: float) -> float:
    """Pain that stops improving after week 2 and drifts up by ``rise`` over the next four weeks."""
    held = max(curve.at(day), curve.at(OFF_TRACK_FROM_DAY))
    return held + rise * min(1.0, (day - OFF_TRACK_FROM_DAY) / 28)


def _checkins(
    patient: _PatientSpec, rng: random.Random, seed: int, now: datetime
) -> tuple[PlannedCheckIn, ...]:
    zone = ZoneInfo(patient.time_zone)
    today = now.astimezone(zone).date()
    trajectory = TRAJECTORIES[patient.procedure]
    main = patient.index == 0
    off_track = patient.scenario == Scenario.OFF_TRACK
    words = _WORDS[(PROCEDURE_REGIONS[patient.procedure], patient.language)]
    axial_offset = rng.gauss(0, PATIENT_OFFSET_SD)
    limb_offset = rng.gauss(0, PATIENT_OFFSET_SD)
    step_factor = min(1.6, max(0.5, rng.gauss(1.0, 0.25)))
    walk_base = rng.randint(20, 40)
    opioid_days = max(
        3, round(OPIOID_MEDIAN_DAYS.value * rng.uniform(0.5, 1.5) * (1.5 if off_track else 1.0))
    )
    rise = rng.uniform(0.5, 2.5) if off_track else 0.0
    evening_person = rng.random() < 0.6
    gap_days = rng.randint(4, 6) if patient.scenario == Scenario.GAP else 0
    flag_day = patient.post_op_day - 1 if patient.red_flags else None
    preop = sorted(rng.sample(range(-7, 0), k=2 if main else rng.choice((1, 2))))
    last_day = min(patient.post_op_day, COMPLETED_AFTER_DAY)

    planned: list[PlannedCheckIn] = []
    last_note = ""
    for day in [*preop, *range(last_day + 1)]:
        attend, twice = rng.random(), rng.random()
        if day == flag_day:
            entries = 1
        elif (patient.red_flags and day == patient.post_op_day) or day > patient.post_op_day - gap_days:
            entries = 0
        elif day < 0:
            entries = 1
        elif day == 0:
            entries = int(attend < SURGERY_DAY_PROB)
        else:
            entries = 0 if (attend < SKIP_DAY_PROB and not main) else 1
            entries += int(entries == 1 and twice < SECOND_CHECKIN_PROB * (2.5 if main else 1))
        local_date = today - timedelta(days=patient.post_op_day - day)
        flags = patient.red_flags if day == flag_day else ()
        for entry in range(entries):
            evening = evening_person != (entry == 1)
            minute = rng.randint(0, 179)
            local = datetime.combine(local_date, time(18 if evening else 7), tzinfo=zone) + timedelta(
                minutes=minute
            )
            bump_axial, bump_limb = (
                (1.0, 2.0) if "saddle_numbness" in flags else (1.0, 0.0) if flags else (0.0, 0.0)
            )
            if off_track and day > OFF_TRACK_FROM_DAY:
                axial = _off_track_pain(trajectory.axial, day, rise)
                limb = _off_track_pain(trajectory.limb, day, rise)
            else:
                axial, limb = trajectory.axial.at(day), trajectory.limb.at(day)
            axial_pain = _score(axial + axial_offset + bump_axial + rng.gauss(0, DAILY_NOISE_SD))
            limb_pain = _score(limb + limb_offset + bump_limb + rng.gauss(0, DAILY_NOISE_SD))
            ratio = STEP_RATIO.at(day)
            if off_track and day > OFF_TRACK_FROM_DAY:
                ratio = min(ratio, STEP_RATIO.at(10))  # held at the post-op week-2 level
            steps = walking = sleep = None
            took_opioid: bool | None = None
            if entry == 0:
                if rng.random() >= MISSING_FIELD_PROB:
                    steps = round(BASELINE_STEPS.value * step_factor * ratio * max(0.3, rng.gauss(1.0, 0.15)))
                if rng.random() >= MISSING_FIELD_PROB:
                    walking = max(0, round(walk_base * ratio * max(0.3, rng.gauss(1.0, 0.2))))
                if rng.random() >= MISSING_FIELD_PROB:
                    sleep = _score(SLEEP_BEST - 0.35 * limb_pain - 0.25 * axial_pain + rng.gauss(0, 1.0))
                took_opioid = rng.random() < _opioid_probability(day, opioid_days)
            note = ""
            if flags:
                note = _FLAG_NOTES[patient.language][flags[0]]
            elif rng.random() < NOTE_PROB * (2.5 if main else 1.0):
                phase = "preop" if day < 0 else "off_track" if off_track and day > 21 else _phase(day)
                fresh = [text for text in _NOTES[patient.language][phase] if text != last_note]
                last_note = rng.choice(fresh)
                note = last_note.format(**words)
            planned.append(
                PlannedCheckIn(
                    id=demo_uuid(seed, "checkin", patient.index, len(planned)),
                    recorded_at=local.astimezone(ZoneInfo("UTC")),
                    local_date=local_date,
                    axial_pain=axial_pain,
                    limb_pain=limb_pain,
                    walking_minutes=walking,
                    steps=steps,
                    sleep_quality=sleep,
                    took_opioid=took_opioid,
                    red_flags=flags,
                    note=note,
                )
            )
    return tuple(checkin for checkin in planned if checkin.recorded_at <= now)


def _opioid_probability(day: int, opioid_days: int) -> float:
    """Near-daily use in the first half of the patient's opioid period, tapering to none at its end."""
    if day < 0 or day > opioid_days:
        return 0.0
    half = opioid_days / 2
    return 0.9 if day <= half else 0.9 * (opioid_days - day) / half


def _phase(day: int) -> str:
    return "early" if day < 14 else "middle" if day < 42 else "late"


_WORDS: Final = {
    ("lumbar", "en"): {"limb": "leg", "axial": "back", "limb_the": "my leg", "axial_the": "my back"},
    ("cervical", "en"): {"limb": "arm", "axial": "neck", "limb_the": "my arm", "axial_the": "my neck"},
    ("lumbar", "es"): {
        "limb": "pierna",
        "axial": "espalda",
        "limb_the": "la pierna",
        "axial_the": "la espalda",
    },
    ("cervical", "es"): {
        "limb": "brazo",
        "axial": "cuello",
        "limb_the": "el brazo",
        "axial_the": "el cuello",
    },
}
_NOTES: Final = {
    "en": {
        "preop": ("The {limb} pain is worse after sitting.", "Nervous about the operation but ready.",
                  "Could only walk to the shop and back."),
        "early": ("Sore around the wound but {limb_the} feels better.", "Walked the hallway three times today.",
                  "Slept badly, could not get comfortable.", "Took the pain tablet before my walk, it helped."),
        "middle": ("Walked around the block without stopping.", "Some stiffness in {axial_the} this morning.",
                   "Started the home exercises.", "Managed the stairs without holding the rail."),
        "late": ("Back at work half days.", "Long walk with the dog, felt fine.",
                 "Only notice {axial_the} after long days.", "Physio session went well."),
        "off_track": ("The {limb} pain is back, worse than last week.", "Could not walk far today, too sore.",
                      "Pain wakes me up at night again."),
    },
    "es": {
        "preop": ("El dolor de {limb} empeora al estar sentado.", "Nervioso por la operación, pero preparado.",
                  "Solo pude caminar hasta la tienda y volver."),
        "early": ("Molestias en la herida, pero {limb_the} está mejor.", "Hoy caminé por el pasillo tres veces.",
                  "Dormí mal, no encontraba postura.", "Tomé la pastilla antes de caminar y me ayudó."),
        "middle": ("Di la vuelta a la manzana sin parar.", "Algo de rigidez en {axial_the} por la mañana.",
                   "Empecé los ejercicios en casa.", "Subí las escaleras sin agarrarme."),
        "late": ("He vuelto al trabajo media jornada.", "Paseo largo con el perro, bien.",
                 "Solo noto {axial_the} después de días largos.", "La sesión de fisio fue bien."),
        "off_track": ("Ha vuelto el dolor de {limb}, peor que la semana pasada.",
                      "Hoy no pude caminar mucho, demasiado dolor.", "El dolor me despierta otra vez por la noche."),
    },
}  # fmt: skip
_FLAG_NOTES: Final = {
    "en": {
        "fever": "Hot and shivery tonight, the thermometer says I have a fever.",
        "wound_drainage": "The wound is red and leaking onto the dressing.",
        "saddle_numbness": "Numb around my bottom when wiping, and trouble starting to pee since this morning.",
    },
    "es": {
        "fever": "Esta noche tengo escalofríos y el termómetro marca fiebre.",
        "wound_drainage": "La herida está roja y mancha el apósito.",
        "saddle_numbness": "Noto dormida la zona de las nalgas al limpiarme y me cuesta empezar a orinar.",
    },
}
