"""Expected recovery curves behind the demo data, every anchor with its source.

Demo data only. The seeder uses linear interpolation between the cited anchors below, then adds
patient-level and day-to-day noise (``recovery.core.demo.cohort`` for check-ins,
``recovery.core.demo.outcomes`` for questionnaires, whose noise is demo-only); nothing here is a clinical
prediction, and no number in this module was estimated: each value is copied from
``/work/shared/clinical/REFERENCE.md`` (section given in each source string) or, where said, is
simple arithmetic on copied values.

Conventions (calendar conversions, not clinical numbers):
- Post-op day 0 is the day of surgery on the patient's own calendar.
- Timepoints are placed at 7 days a week and 30 days a month: 6 wk = day 42, 12 wk = day 84,
  1 mo = day 30, 3 mo = day 90, 6 mo = day 180, 1 yr = day 365. "Week n" of a step count is placed
  at its middle day (post-op week 1 = days 0-6, middle day 3).
- A curve's pre-op anchor holds on every day before surgery. Pain curves also start from the pre-op
  mean on day 0: no source gives a day-1 or 2-week mean (REFERENCE.md §1.1-§1.3, "Not found"), so
  the line from pre-op to the first post-op timepoint is the whole early curve.
- Before the first and after the last post-op anchor a curve is flat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final


@dataclass(frozen=True)
class Anchor:
    """One published mean: its value, the timepoint as printed in the source, and the source."""

    value: float
    timepoint: str
    source: str


@dataclass(frozen=True)
class Curve:
    """A pre-op level and post-op anchors ``(post-op day, anchor)``, interpolated linearly."""

    preop: Anchor
    points: tuple[tuple[int, Anchor], ...]

    def __post_init__(self) -> None:
        days = [day for day, _ in self.points]
        if not days or days != sorted(set(days)) or days[0] < 0:
            raise ValueError("A curve needs post-op anchors on distinct, increasing, non-negative days.")

    def at(self, day: float) -> float:
        """The expected value on post-op ``day`` (negative = before surgery)."""
        if day < 0:
            return self.preop.value
        return interpolate(self.points, day)


def interpolate(points: Sequence[tuple[int, Anchor]], day: float) -> float:
    """Linear interpolation between anchors, flat before the first and after the last."""
    first_day, first = points[0]
    if day <= first_day:
        return first.value
    for (day_a, a), (day_b, b) in pairwise(points):
        if day <= day_b:
            return a.value + (b.value - a.value) * (day - day_a) / (day_b - day_a)
    return points[-1][1].value


@dataclass(frozen=True)
class ProcedureTrajectory:
    """Axial (back or neck) and limb (leg or arm) pain, 0-10, for one procedure."""

    axial: Curve
    limb: Curve
    why: str


# --- Sources ---------------------------------------------------------------------------------

KIM_2021: Final = "Kim CH et al., Sci Rep 2021;11:3931, Table 3, surgical cohort n=57, VAS 0-10 (REFERENCE.md §1.1 Table 1a)"
IJSS_2021: Final = "Int J Spine Surg 2021;15(6):1060, Table 3, MIS lumbar decompression, VAS 0-10 (REFERENCE.md §1.1 Table 1b)"
QOD_AANS_2025: Final = (
    "QOD MIS-TLIF vs MIS decompression, AANS 2025 abstract: MIS-TLIF baseline NRS-BP 6.9, 5-yr change -4.0 "
    "(REFERENCE.md §1.3; confidence L/M)"
)
ASADA_2025: Final = (
    "Asada et al., Neurospine 2025;22(1):3-13: MIS-TLIF NRS-back plateau at 26.7 ± 2.6 d; ODI plateau after "
    "day 110 (REFERENCE.md §0)"
)
PEREZ_CRUET_2013: Final = (
    "Perez-Cruet, SMISS 2013 abstract, MIS-TLIF n=304: VAS 7.0 -> 3.5 at mean 47-mo follow-up "
    "(REFERENCE.md §1.3; confidence L)"
)
AUFFINGER_2013: Final = (
    "Auffinger et al., PLoS One 2013, ACDF for myelopathy n=30: VAS 5.06 pre-op -> 1.72 at 1 yr "
    "(REFERENCE.md §1.5; small n)"
)
VAISHNAV_QURESHI: Final = (
    "Vaishnav/Qureshi, multilevel ACDF outpatient arm (n=57): 6-wk VAS neck 2.92 (REFERENCE.md §1.5)"
)
STIENEN_2020: Final = (
    "Stienen et al., Sci Rep 2020;10:4939, n=30 cervical + lumbar: baseline 5624 steps/day; -71% week 1, "
    "-37% week 2, -23% week 4; recovery over the first eight post-op weeks (REFERENCE.md §0, §3)"
)
BIENSTOCK: Final = (
    "Bienstock et al., accelerometry after lumbar laminectomy: steps plateau at the pre-op level "
    "(REFERENCE.md §0)"
)
ADOGWA_2011: Final = "Adogwa et al., J Spinal Disord Tech 2011: MIS-TLIF post-op narcotic use median 2.0 wk (REFERENCE.md §1.3, §3)"


# --- Pain ------------------------------------------------------------------------------------

_KIM_LEG_PREOP = Anchor(7.05, "Pre-op", KIM_2021)
_KIM_BACK_PREOP = Anchor(5.67, "Pre-op", KIM_2021)
DISCECTOMY: Final = ProcedureTrajectory(
    axial=Curve(
        preop=_KIM_BACK_PREOP,
        points=(
            (0, _KIM_BACK_PREOP),
            (30, Anchor(2.43, "1 mo", KIM_2021)),
            (90, Anchor(2.33, "3 mo", KIM_2021)),
            (180, Anchor(2.02, "6 mo", KIM_2021)),
        ),
    ),
    limb=Curve(
        preop=_KIM_LEG_PREOP,
        points=(
            (0, _KIM_LEG_PREOP),
            (30, Anchor(2.75, "1 mo", KIM_2021)),
            (90, Anchor(2.12, "3 mo", KIM_2021)),
            (180, Anchor(1.80, "6 mo", KIM_2021)),
        ),
    ),
    why=(
        "Used for microdiscectomy, tubular and full-endoscopic discectomy alike: no technique-specific mean "
        "trajectory was found, and the trials in REFERENCE.md §1.1 Table 1c and §1.4 report small or no "
        "differences (Arts 2009 / Overdevest 2017 tubular vs conventional; TED vs MD RCT no 1-yr difference)."
    ),
)

_IJSS_LEG_PREOP = Anchor(6.0, "Pre-op", IJSS_2021)
_IJSS_BACK_PREOP = Anchor(6.2, "Pre-op", IJSS_2021)
MIS_DECOMPRESSION: Final = ProcedureTrajectory(
    axial=Curve(
        preop=_IJSS_BACK_PREOP,
        points=(
            (0, _IJSS_BACK_PREOP),
            (42, Anchor(2.7, "6 wk", IJSS_2021)),
            (84, Anchor(1.7, "12 wk", IJSS_2021)),
            (180, Anchor(2.9, "6 mo (n=17)", IJSS_2021)),
        ),
    ),
    limb=Curve(
        preop=_IJSS_LEG_PREOP,
        points=(
            (0, _IJSS_LEG_PREOP),
            (42, Anchor(3.0, "6 wk", IJSS_2021)),
            (84, Anchor(1.7, "12 wk", IJSS_2021)),
            (180, Anchor(1.6, "6 mo (n=17)", IJSS_2021)),
        ),
    ),
    why="Rush MIS lumbar decompression cohort, the only MIS decompression series with 6-wk/12-wk/6-mo means.",
)

_QOD_BACK_PREOP = Anchor(6.9, "Baseline NRS-BP", QOD_AANS_2025)
_PEREZ_CRUET_PREOP = Anchor(7.0, "Pre-op VAS", PEREZ_CRUET_2013)
MIS_TLIF: Final = ProcedureTrajectory(
    axial=Curve(
        preop=_QOD_BACK_PREOP,
        points=(
            (0, _QOD_BACK_PREOP),
            # 2.9 = 6.9 - 4.0 (QOD baseline minus 5-yr change), placed at Asada's plateau day 26.7 -> 27.
            (27, Anchor(6.9 - 4.0, "NRS-back plateau (5-yr level reached at the plateau)", ASADA_2025)),
        ),
    ),
    limb=Curve(
        preop=_PEREZ_CRUET_PREOP,
        points=(
            (0, _PEREZ_CRUET_PREOP),
            # Perez-Cruet reports one VAS (not split back/leg); its long-term value is placed at the
            # day Asada's ODI reaches its plateau, since no leg-pain timing was found.
            (
                110,
                Anchor(
                    3.5,
                    "VAS at mean 47-mo follow-up, placed at Asada's ODI plateau (day 110)",
                    PEREZ_CRUET_2013,
                ),
            ),
        ),
    ),
    why=(
        "No single source gives MIS-TLIF back/leg means at 6 wk, 3 mo and 6 mo (REFERENCE.md §1.3, Not found); "
        "these are the values section 1.3 does give, with the timing from Asada 2025 (§0)."
    ),
)

_AUFFINGER_PREOP = Anchor(5.06, "Pre-op VAS", AUFFINGER_2013)
_AUFFINGER_1YR = Anchor(1.72, "1 yr VAS", AUFFINGER_2013)
ACDF: Final = ProcedureTrajectory(
    axial=Curve(
        preop=_AUFFINGER_PREOP,
        points=(
            (0, _AUFFINGER_PREOP),
            (42, Anchor(2.92, "6 wk VAS neck", VAISHNAV_QURESHI)),
            (365, _AUFFINGER_1YR),
        ),
    ),
    limb=Curve(
        # Auffinger reports one VAS; no arm-pain means were found (REFERENCE.md §1.5, Not found), so
        # the same two values stand for arm pain.
        preop=_AUFFINGER_PREOP,
        points=((0, _AUFFINGER_PREOP), (365, _AUFFINGER_1YR)),
    ),
    why="Mixed small cohorts (myelopathy n=30; multilevel outpatient ACDF): the only ACDF pain means in §1.5.",
)

#: Pain trajectory per procedure code (the six codes seeded by ``episodes`` migration 0002).
TRAJECTORIES: Final[dict[str, ProcedureTrajectory]] = {
    "lumbar_microdiscectomy": DISCECTOMY,
    "tubular_discectomy": DISCECTOMY,
    "full_endoscopic_discectomy": DISCECTOMY,
    "mis_lumbar_decompression": MIS_DECOMPRESSION,
    "mis_tlif": MIS_TLIF,
    "acdf": ACDF,
}


# --- Walking and opioids (all procedures) ----------------------------------------------------

BASELINE_STEPS: Final = Anchor(5624, "Pre-op steps/day", STIENEN_2020)

_STEPS_PREOP = Anchor(1.0, "Pre-op (ratio to baseline)", STIENEN_2020)
#: Daily steps as a ratio to the patient's pre-op steps.
STEP_RATIO: Final = Curve(
    preop=_STEPS_PREOP,
    points=(
        (3, Anchor(1 - 0.71, "Post-op week 1 (-71%)", STIENEN_2020)),
        (10, Anchor(1 - 0.37, "Post-op week 2 (-37%)", STIENEN_2020)),
        (24, Anchor(1 - 0.23, "Post-op week 4 (-23%)", STIENEN_2020)),
        # Back to the pre-op level by the end of week 8 (day 55).
        (55, Anchor(1.0, "Recovered over the first eight post-op weeks", f"{STIENEN_2020}; {BIENSTOCK}")),
    ),
)

#: Days of opioid use after surgery; the MIS-TLIF median is the only duration found, so it serves
#: every procedure (2.0 weeks = 14 days).
OPIOID_MEDIAN_DAYS: Final = Anchor(2.0 * 7, "Median post-op narcotic use, MIS-TLIF", ADOGWA_2011)


# --- Questionnaires (ODI lumbar, NDI cervical) -----------------------------------------------------
#
# Scores are percentages 0-100, lower is better, as ``recovery.proms.scoring`` stores them. A curve's
# pre-op anchor is the mean baseline; its post-op anchors are mean follow-up levels, written as
# "baseline minus the published mean change" where the source reports changes. Only the windows of
# the questionnaire schedule matter here (baseline, then day 35 on), so the early post-op days, where
# Asada 2025 saw ODI worsen after TLIF (days 0-13), are not modelled: no window opens before day 35.

SPORT_DISCECTOMY: Final = (
    "SPORT open discectomy, as-treated, L2-L4 herniations, Table III: ODI baseline 51.0; change -31.9 at "
    "3 mo and -36.3 at 1 yr (REFERENCE.md §1.1 Table 1c)"
)
NORSPINE_BASELINE: Final = (
    "NORspine cohort profile, Eur Spine J 2023, all lumbar cases n=60,647: mean baseline ODI 43.0 "
    "(SD 17.3) (REFERENCE.md §1.2)"
)
HERMANSEN_2017: Final = (
    "Hermansen et al., Eur Spine J 2017;26:420-7, NORspine midline-retaining decompressions n=1531: 12-mo ODI "
    "improvement 16.7 (SD 16.9) after unilateral laminotomy with crossover; no difference between the "
    "techniques at 3 or 12 mo (REFERENCE.md §1.2)"
)
MANNION_2018: Final = (
    "Mannion et al., Eur Spine J 2018, n=4287: COMI fell 3.6 from pre-op to 3 mo and only 0.3 more to 12 mo; "
    "for simple decompression a 3-month follow-up was 'sufficient' (REFERENCE.md §0)"
)
PEREZ_CRUET_2013_ODI: Final = (
    "Perez-Cruet, SMISS 2013 abstract, MIS-TLIF n=304: ODI 43.1 -> 28.2 at mean 47-mo follow-up "
    "(REFERENCE.md §1.3; confidence L)"
)
AUFFINGER_2013_NDI: Final = (
    "Auffinger et al., PLoS One 2013 (PMC3691175), ACDF for myelopathy n=30: NDI 29.24 pre-op -> 14.82 at "
    "1 yr (REFERENCE.md §1.5; small n). Scale ASSUMED 0-100 (percent): REFERENCE.md reports NDI on 0-100 "
    "'unless noted' and notes none here; the abstract does not say. Read as percent, its MDC-based MCID "
    "(13.39, REFERENCE.md §2.2) is close to Carreon's 7.5 on the 0-50 scale (= 15 percent points); read "
    "as 0-50, the baseline would be 58.5 percent"
)
VAISHNAV_QURESHI_NDI: Final = (
    "Vaishnav/Qureshi, multilevel ACDF outpatient arm (n=57): 6-wk NDI 27.97 (REFERENCE.md §1.5); scale "
    "read as 0-100, since the inpatient arm's 37.59 on 0-50 would be 75 percent six weeks after surgery"
)
FESS_APP_COMPLIANCE: Final = (
    "Remote-monitoring app after full-endoscopic spine surgery, J Telemed Telecare 2025: 3-month follow-up "
    "compliance 74.78% in the app group (REFERENCE.md §1.4)"
)


@dataclass(frozen=True)
class DisabilityTrajectory:
    """Mean questionnaire percentage (0-100, lower is better) before and after surgery."""

    instrument: str  # an ``Instrument.code``
    curve: Curve
    #: Between-patient SD of the baseline, when a source gives one for this population.
    baseline_sd: Anchor | None
    why: str

    @property
    def baseline(self) -> float:
        return self.curve.preop.value

    def relative_improvement(self, day: float) -> float:
        """The mean improvement on post-op ``day`` as a fraction of the mean baseline (0 before surgery)."""
        return (self.baseline - self.curve.at(day)) / self.baseline


ODI_BASELINE_SD: Final = Anchor(17.3, "SD of baseline ODI, all lumbar cases", NORSPINE_BASELINE)

_SPORT_BASELINE = Anchor(51.0, "Baseline ODI", SPORT_DISCECTOMY)
ODI_DISCECTOMY: Final = DisabilityTrajectory(
    instrument="odi",
    curve=Curve(
        preop=_SPORT_BASELINE,
        points=(
            (0, _SPORT_BASELINE),
            (90, Anchor(51.0 - 31.9, "3 mo (baseline 51.0 + change -31.9)", SPORT_DISCECTOMY)),
            (365, Anchor(51.0 - 36.3, "1 yr (baseline 51.0 + change -36.3)", SPORT_DISCECTOMY)),
        ),
    ),
    baseline_sd=ODI_BASELINE_SD,
    why=(
        "One cohort gives the baseline and both changes, so the curve does not mix populations. Its 1-yr "
        "level (14.7) sits beside the Norwegian registry's final 1-yr ODI of 15 and NORspine's 1-yr "
        "microdiscectomy change of -33.3 (REFERENCE.md §1.1 Table 1c). Used for all three discectomies "
        "(no technique-specific ODI course was found; the PTED vs open RCT baselines were 44.5 vs 45.5). "
        "It is SPORT's upper-level (L2-L4) subgroup; the L4-L5 subgroup started higher (57.0) and improved "
        "more by 3 mo (-38.3) but has no 1-yr value in the reference."
    ),
)

_NORSPINE_ODI_BASELINE = Anchor(43.0, "Mean baseline ODI, all lumbar cases", NORSPINE_BASELINE)
ODI_DECOMPRESSION: Final = DisabilityTrajectory(
    instrument="odi",
    curve=Curve(
        preop=_NORSPINE_ODI_BASELINE,
        points=(
            (0, _NORSPINE_ODI_BASELINE),
            # The 12-mo improvement, reached by 3 mo (day 90) and then held, after Mannion 2018.
            (
                90,
                Anchor(
                    43.0 - 16.7,
                    "12-mo improvement 16.7 from the NORspine baseline, reached at 3 mo (Mannion 2018)",
                    f"{HERMANSEN_2017}; {MANNION_2018}",
                ),
            ),
        ),
    ),
    baseline_sd=ODI_BASELINE_SD,
    why=(
        "No decompression-specific baseline was found, so NORspine's all-lumbar mean stands in; the "
        "improvement is the unilateral-laminotomy (MIS-like) arm's. The resulting 12-mo level, 26.3, is "
        "near NORspine's 23.3 after decompression alone for stenosis with degenerative spondylolisthesis "
        "(REFERENCE.md §1.2)."
    ),
)

_PEREZ_CRUET_ODI_PREOP = Anchor(43.1, "Pre-op ODI", PEREZ_CRUET_2013_ODI)
ODI_MIS_TLIF: Final = DisabilityTrajectory(
    instrument="odi",
    curve=Curve(
        preop=_PEREZ_CRUET_ODI_PREOP,
        points=(
            (0, _PEREZ_CRUET_ODI_PREOP),
            # As for MIS-TLIF leg pain above: the long-term level placed at Asada's ODI plateau day.
            (
                110,
                Anchor(
                    28.2,
                    "ODI at mean 47-mo follow-up, placed at Asada's ODI plateau (day 110)",
                    f"{PEREZ_CRUET_2013_ODI}; {ASADA_2025}",
                ),
            ),
        ),
    ),
    baseline_sd=ODI_BASELINE_SD,
    why=(
        "The only MIS-TLIF ODI means in REFERENCE.md §1.3 (confidence L), timed by Asada 2025 (§0), the same "
        "pairing as the MIS-TLIF pain curve. Asada's post-op worsening (days 0-13) falls before any "
        "follow-up window and is left out."
    ),
)

_AUFFINGER_NDI_PREOP = Anchor(29.24, "Pre-op NDI (assumed percent)", AUFFINGER_2013_NDI)
NDI_ACDF: Final = DisabilityTrajectory(
    instrument="ndi",
    curve=Curve(
        preop=_AUFFINGER_NDI_PREOP,
        points=(
            (0, _AUFFINGER_NDI_PREOP),
            (365, Anchor(14.82, "1 yr NDI (assumed percent)", AUFFINGER_2013_NDI)),
        ),
    ),
    baseline_sd=None,
    why=(
        "Auffinger's pre-op and 1-yr means, one cohort. No ACDF NDI means at 6 wk, 3 or 6 mo from one cohort "
        "were found (REFERENCE.md §1.5, Not found). Check, not an anchor: the line gives 27.6 at 6 wk, "
        f"close to the outpatient multilevel ACDF mean of 27.97 ({VAISHNAV_QURESHI_NDI})."
    ),
)

#: Questionnaire trajectory per procedure code.
DISABILITY: Final[dict[str, DisabilityTrajectory]] = {
    "lumbar_microdiscectomy": ODI_DISCECTOMY,
    "tubular_discectomy": ODI_DISCECTOMY,
    "full_endoscopic_discectomy": ODI_DISCECTOMY,
    "mis_lumbar_decompression": ODI_DECOMPRESSION,
    "mis_tlif": ODI_MIS_TLIF,
    "acdf": NDI_ACDF,
}

#: Share of closed follow-up windows with a response (one app cohort's 3-month compliance).
FOLLOW_UP_COMPLETION: Final = Anchor(0.7478, "3-month follow-up compliance, app group", FESS_APP_COMPLIANCE)


def all_anchors() -> list[tuple[str, Anchor]]:
    """Every anchor with a label saying where it is used; for tests and documentation."""
    found: list[tuple[str, Anchor]] = []
    for code, trajectory in TRAJECTORIES.items():
        for side, curve in (("axial", trajectory.axial), ("limb", trajectory.limb)):
            found.append((f"{code}.{side}.preop", curve.preop))
            found.extend((f"{code}.{side}.day{day}", anchor) for day, anchor in curve.points)
    found.append(("steps.baseline", BASELINE_STEPS))
    found.append(("steps.preop", STEP_RATIO.preop))
    found.extend((f"steps.day{day}", anchor) for day, anchor in STEP_RATIO.points)
    found.append(("opioid.median_days", OPIOID_MEDIAN_DAYS))
    for code, disability in DISABILITY.items():
        found.append((f"{code}.{disability.instrument}.preop", disability.curve.preop))
        found.extend((f"{code}.{disability.instrument}.day{day}", a) for day, a in disability.curve.points)
        if disability.baseline_sd is not None:
            found.append((f"{code}.{disability.instrument}.baseline_sd", disability.baseline_sd))
    found.append(("questionnaires.follow_up_completion", FOLLOW_UP_COMPLETION))
    return found
