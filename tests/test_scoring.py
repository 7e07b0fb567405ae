"""Instrument data, scoring, change from baseline and timepoint windows: pure functions, no database."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from recovery.core.errors import ValidationFailed
from recovery.proms.definitions import (
    INSTRUMENTS_DIR,
    DefinitionError,
    InstrumentDefinition,
    language_available,
    parse_definition,
    render_items,
    shipped_instruments,
    validate_text_override,
)
from recovery.proms.scoring import (
    clean_answers,
    comparison_value,
    evaluate,
    score_answers,
)
from recovery.proms.timepoints import (
    State,
    Timepoint,
    check_schedule,
    default_schedule,
    next_opening,
    state_of,
    timepoint_on,
)

ODI_KEYS = [
    "pain_intensity",
    "personal_care",
    "lifting",
    "walking",
    "sitting",
    "standing",
    "sleeping",
    "sex_life",
    "social_life",
    "travelling",
]
NDI_KEYS = [
    "pain_intensity",
    "personal_care",
    "lifting",
    "reading",
    "headaches",
    "concentration",
    "work",
    "driving",
    "sleeping",
    "recreation",
]


def raw(code: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((INSTRUMENTS_DIR / f"{code}.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def odi() -> InstrumentDefinition:
    return parse_definition(raw("odi"))


@pytest.fixture(scope="module")
def ndi() -> InstrumentDefinition:
    return parse_definition(raw("ndi"))


def answers(keys: list[str], values: list[int | None]) -> dict[str, int | None]:
    return dict(zip(keys, values, strict=True))


# --- The shipped data ---------------------------------------------------------------------------


def test_both_instruments_ship_ten_items_with_six_ordered_options(
    odi: InstrumentDefinition, ndi: InstrumentDefinition
) -> None:
    assert [data["code"] for data in shipped_instruments()] == ["ndi", "odi"]
    assert list(odi.item_keys) == ODI_KEYS
    assert list(ndi.item_keys) == NDI_KEYS
    for definition in (odi, ndi):
        assert all(
            [option.value for option in item.options] == [0, 1, 2, 3, 4, 5] for item in definition.items
        )
        assert definition.scoring.max_missing == 1
        assert language_available(definition, "en")
        assert language_available(definition, "es")
    assert (odi.region, ndi.region) == ("lumbar", "cervical")


def test_loinc_codes_are_the_referenced_ones_each_with_source_and_confidence(
    odi: InstrumentDefinition, ndi: InstrumentDefinition
) -> None:
    assert (odi.loinc["panel"]["code"], odi.loinc["score"]["code"]) == ("97908-8", "97909-6")
    assert "verify at loinc.org" in odi.loinc["score"]["note"].lower()
    assert (ndi.loinc["panel"]["code"], ndi.loinc["score"]["code"]) == ("82226-2", "82237-9")
    assert [item.loinc for item in ndi.items] == [
        "82227-0",
        "82228-8",
        "82229-6",
        "82230-4",
        "82231-2",
        "82232-0",
        "82233-8",
        "82234-6",
        "82235-3",
        "82236-1",
    ]
    assert all(item.loinc is None for item in odi.items)
    for definition in (odi, ndi):
        for part in ("panel", "score", "items"):
            assert definition.loinc[part]["source"]
            assert definition.loinc[part]["confidence"] in {"H", "M", "L", "-"}
        assert definition.loinc["panel"]["confidence"] == "M"


def test_thresholds_are_the_clinical_reference_values_with_their_sources(
    odi: InstrumentDefinition, ndi: InstrumentDefinition
) -> None:
    expected = {
        ("odi", "mcid"): (Decimal("12.8"), "percent", "M", "Copay"),
        ("odi", "scb"): (Decimal("18.8"), "percent", "H", "Glassman"),
        ("ndi", "mcid"): (Decimal("7.5"), "points_0_50", "M", "Carreon"),
        ("ndi", "scb"): (Decimal("9.5"), "points_0_50", "M", "Carreon"),
    }
    for (code, kind), (value, scale, confidence, author) in expected.items():
        threshold = (odi if code == "odi" else ndi).thresholds[kind]
        assert (threshold.value, threshold.scale, threshold.confidence) == (value, scale, confidence)
        assert author in threshold.source


def test_our_wording_is_not_the_official_wording(
    odi: InstrumentDefinition, ndi: InstrumentDefinition
) -> None:
    # A few distinctive official phrases must never appear in the shipped text.
    official = [
        "the pain is very mild at the moment",
        "i can look after myself normally without causing extra pain",
        "i do not get dressed, i wash with difficulty and stay in bed",
        "pain prevents me from lifting heavy weights off the floor",
        "i can read as much as i want with no pain in my neck",
    ]
    text = json.dumps([raw("odi"), raw("ndi")]).lower()
    assert not [phrase for phrase in official if phrase in text]


def test_a_malformed_instrument_is_rejected_with_every_problem() -> None:
    data = copy.deepcopy(raw("odi"))
    data["items"][0]["options"].pop()
    data["thresholds"]["mcid"]["value"] = 12.8
    data["loinc"]["panel"]["confidence"] = "maybe"
    with pytest.raises(DefinitionError) as excinfo:
        parse_definition(data)
    problems = " ".join(excinfo.value.problems)
    assert "items[0].options" in problems
    assert "thresholds.mcid.value" in problems
    assert "loinc.panel.confidence" in problems


# --- Scoring ------------------------------------------------------------------------------------


def test_odi_complete_hand_worked_example(odi: InstrumentDefinition) -> None:
    score = score_answers(odi, answers(ODI_KEYS, [3, 2, 4, 1, 0, 2, 3, 1, 2, 2]))
    assert (score.raw, score.max_raw, score.answered, score.missing) == (20, 50, 10, 0)
    assert score.percent == Decimal("40.0")  # 20 / 50 x 100


def test_odi_one_missing_section_drops_out_of_the_denominator(odi: InstrumentDefinition) -> None:
    score = score_answers(odi, answers(ODI_KEYS, [3, 2, 4, 1, 0, 2, 3, None, 2, 2]))
    assert (score.raw, score.max_raw, score.answered, score.missing) == (19, 45, 9, 1)
    assert score.percent == Decimal("42.2")  # 19 / 45 x 100 = 42.22...


def test_odi_scoring_sheet_example_rounds_half_up(odi: InstrumentDefinition) -> None:
    # The ODI scoring sheet's example: 16 points with one section missing = 16/45 x 100 = 35.55...
    score = score_answers(odi, answers(ODI_KEYS, [2, 2, 2, 2, 2, 2, 2, 2, None, 0]))
    assert (score.raw, score.max_raw) == (16, 45)
    assert score.percent == Decimal("35.6")


def test_odi_two_missing_sections_is_refused(odi: InstrumentDefinition) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        score_answers(odi, answers(ODI_KEYS, [3, 2, 4, 1, 0, 2, 3, None, None, 2]))
    assert list(excinfo.value.errors) == ["answers"]


def test_odi_extremes(odi: InstrumentDefinition) -> None:
    assert score_answers(odi, answers(ODI_KEYS, [0] * 10)).percent == Decimal("0.0")
    assert score_answers(odi, answers(ODI_KEYS, [5] * 10)).percent == Decimal("100.0")


def test_ndi_total_and_percentage(ndi: InstrumentDefinition) -> None:
    score = score_answers(ndi, answers(NDI_KEYS, [2, 1, 2, 2, 3, 2, 2, 2, 2, 2]))
    assert (score.raw, score.max_raw) == (20, 50)
    assert score.percent == Decimal("40.0")  # total x 2
    assert comparison_value(ndi, score) == Decimal("20.0")  # the 0-50 scale of the NDI thresholds


def test_ndi_with_driving_skipped_is_prorated_on_the_0_50_scale(ndi: InstrumentDefinition) -> None:
    score = score_answers(ndi, answers(NDI_KEYS, [2, 1, 2, 2, 3, 2, 2, None, 2, 2]))
    assert (score.raw, score.max_raw, score.missing) == (18, 45, 1)
    assert score.percent == Decimal("40.0")
    assert comparison_value(ndi, score) == Decimal("20.0")


def test_ndi_two_missing_items_is_refused(ndi: InstrumentDefinition) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        score_answers(ndi, answers(NDI_KEYS, [2, 1, 2, 2, 3, 2, 2, None, None, 2]))
    assert list(excinfo.value.errors) == ["answers"]


@pytest.mark.parametrize("value", [6, -1, 2.5, "3", True, [1], {"v": 1}])
def test_an_out_of_range_or_non_integer_answer_names_the_item(odi: InstrumentDefinition, value: Any) -> None:
    given: dict[str, Any] = answers(ODI_KEYS, [1] * 10)
    given["walking"] = value
    with pytest.raises(ValidationFailed) as excinfo:
        clean_answers(odi, given)
    assert list(excinfo.value.errors) == ["answers.walking"]


def test_missing_and_unknown_items_are_reported(odi: InstrumentDefinition) -> None:
    given: dict[str, Any] = answers(ODI_KEYS, [1] * 10)
    del given["sitting"]
    given["mood"] = 2
    with pytest.raises(ValidationFailed) as excinfo:
        clean_answers(odi, given)
    assert set(excinfo.value.errors) == {"answers", "answers.mood"}
    assert "sitting" in excinfo.value.errors["answers"][0]


# --- Change from baseline -----------------------------------------------------------------------


def test_odi_change_reaches_mcid_but_not_scb(odi: InstrumentDefinition) -> None:
    baseline = score_answers(odi, answers(ODI_KEYS, [3, 3, 3, 3, 3, 3, 3, 2, 2, 2]))  # 27/50 = 54%
    follow_up = score_answers(odi, answers(ODI_KEYS, [3, 2, 4, 1, 0, 2, 3, 1, 2, 2]))  # 40%
    result = evaluate(odi, score=follow_up, baseline=baseline, is_baseline=False)
    assert result.change is not None
    assert (result.change.baseline_value, result.change.follow_up_value) == (Decimal("54.0"), Decimal("40.0"))
    assert result.change.improvement == Decimal("14.0")
    assert result.change.scale == "percent"
    assert result.mcid is not None and result.mcid.met is True
    assert result.scb is not None and result.scb.met is False


def test_odi_change_reaching_scb(odi: InstrumentDefinition) -> None:
    baseline = score_answers(odi, answers(ODI_KEYS, [4, 3, 4, 4, 3, 3, 3, 3, 3, 3]))  # 66%
    follow_up = score_answers(odi, answers(ODI_KEYS, [2, 1, 2, 2, 1, 2, 2, 1, 2, 1]))  # 32%
    result = evaluate(odi, score=follow_up, baseline=baseline, is_baseline=False)
    assert result.change is not None and result.change.improvement == Decimal("34.0")
    assert result.mcid is not None and result.mcid.met is True
    assert result.scb is not None and result.scb.met is True


def test_worsening_is_a_negative_improvement(odi: InstrumentDefinition) -> None:
    baseline = score_answers(odi, answers(ODI_KEYS, [1] * 10))
    follow_up = score_answers(odi, answers(ODI_KEYS, [2] * 10))
    result = evaluate(odi, score=follow_up, baseline=baseline, is_baseline=False)
    assert result.change is not None and result.change.improvement == Decimal("-20.0")
    assert result.mcid is not None and result.mcid.met is False


def test_ndi_change_is_measured_on_the_0_50_scale(ndi: InstrumentDefinition) -> None:
    baseline = score_answers(ndi, answers(NDI_KEYS, [3, 3, 3, 3, 3, 3, 3, 3, 3, 3]))  # 30 of 50
    follow_up = score_answers(ndi, answers(NDI_KEYS, [2, 2, 2, 2, 2, 2, 2, 2, 3, 3]))  # 22 of 50
    result = evaluate(ndi, score=follow_up, baseline=baseline, is_baseline=False)
    assert result.change is not None
    assert (result.change.improvement, result.change.scale) == (Decimal("8.0"), "points_0_50")
    assert result.mcid is not None and result.mcid.met is True  # 8.0 >= 7.5
    assert result.scb is not None and result.scb.met is False  # 8.0 < 9.5


def test_a_change_equal_to_the_threshold_meets_it() -> None:
    data = copy.deepcopy(raw("odi"))
    data["thresholds"]["mcid"]["value"] = "14.0"
    definition = parse_definition(data)
    baseline = score_answers(definition, answers(ODI_KEYS, [3, 3, 3, 3, 3, 3, 3, 2, 2, 2]))
    follow_up = score_answers(definition, answers(ODI_KEYS, [3, 2, 4, 1, 0, 2, 3, 1, 2, 2]))
    result = evaluate(definition, score=follow_up, baseline=baseline, is_baseline=False)
    assert result.mcid is not None and result.mcid.met is True


def test_no_baseline_gives_thresholds_without_a_verdict(odi: InstrumentDefinition) -> None:
    follow_up = score_answers(odi, answers(ODI_KEYS, [1] * 10))
    result = evaluate(odi, score=follow_up, baseline=None, is_baseline=False)
    assert result.change is None
    assert result.mcid is not None and result.mcid.met is None
    assert result.mcid.threshold.value == Decimal("12.8")


def test_the_baseline_itself_has_no_change(odi: InstrumentDefinition) -> None:
    score = score_answers(odi, answers(ODI_KEYS, [1] * 10))
    result = evaluate(odi, score=score, baseline=score, is_baseline=True)
    assert (result.change, result.mcid, result.scb) == (None, None, None)


# --- Wording --------------------------------------------------------------------------------------


def licensed(definition: InstrumentDefinition) -> list[dict[str, Any]]:
    return [
        {"key": item.key, "text": f"Licensed {item.key}", "options": [f"L{i}" for i in range(6)]}
        for item in definition.items
    ]


def test_spanish_and_english_rendering(odi: InstrumentDefinition) -> None:
    english = render_items(odi, "en", None)
    spanish = render_items(odi, "es", None)
    assert english[0].text.startswith("Right now")
    assert spanish[0].text.startswith("Ahora mismo")
    assert [option.value for option in spanish[0].options] == [0, 1, 2, 3, 4, 5]
    assert [item.position for item in english] == list(range(1, 11))


def test_licensed_override_is_validated_and_rendered(odi: InstrumentDefinition) -> None:
    normalised = validate_text_override(odi, licensed(odi))
    rendered = render_items(odi, "en", normalised)
    assert rendered[3].text == "Licensed walking"
    assert [option.text for option in rendered[3].options] == [f"L{i}" for i in range(6)]
    assert [option.value for option in rendered[3].options] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda items: items.reverse(), "keys must be exactly"),
        (lambda items: items.pop(), "keys must be exactly"),
        (lambda items: items[2]["options"].pop(), "must be a list of 6 texts"),
        (lambda items: items[2].__setitem__("text", ""), "non-empty string"),
        (lambda items: items[2]["options"].__setitem__(0, 5), "non-empty string"),
        (lambda items: items[2].__setitem__("score", 1), "unknown fields"),
    ],
)
def test_licensed_override_with_another_structure_is_rejected(
    odi: InstrumentDefinition, change: Any, fragment: str
) -> None:
    items = licensed(odi)
    change(items)
    with pytest.raises(DefinitionError) as excinfo:
        validate_text_override(odi, items)
    assert fragment in " ".join(excinfo.value.problems)


# --- Timepoints ---------------------------------------------------------------------------------

SURGERY = date(2026, 3, 2)


def on_day(day: int) -> date:
    return SURGERY + timedelta(days=day)


def test_default_schedule_windows() -> None:
    schedule = {tp.key: (tp.opens_day, tp.target_day, tp.closes_day) for tp in default_schedule()}
    assert schedule == {
        "baseline": (-30, 0, 0),
        "week_6": (35, 42, 56),
        "month_3": (76, 91, 104),
        "month_6": (160, 182, 200),
        "month_12": (335, 365, 395),
    }
    assert [tp.key for tp in default_schedule() if tp.is_baseline] == ["baseline"]
    assert all("clinic default" in tp.window_source for tp in default_schedule())


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (-31, None),
        (-30, "baseline"),
        (0, "baseline"),
        (1, None),
        (34, None),
        (35, "week_6"),
        (56, "week_6"),
        (57, None),
        (76, "month_3"),
        (104, "month_3"),
        (160, "month_6"),
        (200, "month_6"),
        (335, "month_12"),
        (395, "month_12"),
        (396, None),
    ],
)
def test_a_day_belongs_to_at_most_one_window(day: int, expected: str | None) -> None:
    found = timepoint_on(default_schedule(), surgery_date=SURGERY, day=on_day(day))
    assert (found.key if found else None) == expected


def test_states_across_a_window() -> None:
    (week_6,) = [tp for tp in default_schedule() if tp.key == "week_6"]

    def state(day: int, completed: bool = False) -> State:
        return state_of(week_6, surgery_date=SURGERY, today=on_day(day), completed=completed)

    assert [state(34), state(35), state(56), state(57)] == [
        State.UPCOMING,
        State.DUE,
        State.DUE,
        State.MISSED,
    ]
    assert state(40, completed=True) == State.COMPLETED


def test_next_opening() -> None:
    upcoming = next_opening(default_schedule(), surgery_date=SURGERY, day=on_day(10))
    assert upcoming is not None and upcoming.key == "week_6"
    assert next_opening(default_schedule(), surgery_date=SURGERY, day=on_day(400)) is None


def tp(key: str, opens: int, closes: int, baseline: bool = False) -> Timepoint:
    return Timepoint(key, key, baseline, opens, opens, closes, "test", "clinic default")


def test_schedule_checks() -> None:
    assert check_schedule([tp("a", 0, 10), tp("b", 11, 20)]) == []
    assert "overlaps" in check_schedule([tp("a", 0, 10), tp("b", 10, 20)])[0]
    assert "more than once" in check_schedule([tp("a", 0, 10), tp("a", 11, 20)])[0]
    assert (
        "one timepoint can be the baseline" in check_schedule([tp("a", 0, 1, True), tp("b", 2, 3, True)])[0]
    )
    assert "opens_day <= target_day" in check_schedule([Timepoint("x", "x", False, 5, 6, 7, "s", "w")])[0]
