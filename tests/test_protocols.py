"""Expected-recovery protocols: file validation, versioned loading, the daily band, selectors and
clinic overrides (domain level; the HTTP side is in test_protocols_api.py)."""

from __future__ import annotations

import copy
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest
from django.core.management import CommandError, call_command

from recovery.core.errors import ValidationFailed
from recovery.protocols.documents import ProtocolFileError, content_hash, validate_document
from recovery.protocols.loading import (
    DATA_DIR,
    ProtocolVersionConflict,
    load_shipped_protocols,
    shipped_documents,
    shipped_procedure_codes,
)
from recovery.protocols.models import ClinicProtocolOverride, Protocol, ProtocolVersion
from recovery.protocols.selectors import ProtocolNotFound, expected_recoveries, expected_recovery
from recovery.protocols.services import protocol_adopt, protocol_override
from recovery.protocols.types import ExpectedRecovery, PainPoint, Source
from tests.conftest import World

MICRO = "lumbar_microdiscectomy"


def shipped(code: str = MICRO) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / f"{code}.json").read_text(encoding="utf-8"))
    return data


def errors_of(doc: Any) -> dict[str, list[str]]:
    with pytest.raises(ProtocolFileError) as caught:
        validate_document(doc)
    return caught.value.errors


def write(directory: Path, doc: dict[str, Any], *, indent: int = 2) -> Path:
    path = directory / f"{doc['procedure']}.json"
    path.write_text(json.dumps(doc, indent=indent), encoding="utf-8")
    return path


# --- validation on load ---------------------------------------------------------------------------


def test_a_value_without_a_source_fails_validation() -> None:
    doc = shipped()
    del doc["axial"][1]["source"]
    assert "axial[1].source" in errors_of(doc)


@pytest.mark.parametrize("section", ["limb", "proms", "thresholds", "milestones"])
def test_every_kind_of_value_needs_a_source(section: str) -> None:
    doc = shipped()
    del doc[section][0]["source"]
    assert f"{section}[0].source" in errors_of(doc)


def test_a_source_with_an_empty_reference_fails() -> None:
    doc = shipped()
    doc["proms"][0]["source"]["reference"] = "  "
    assert "proms[0].source.reference" in errors_of(doc)


def test_an_interpolated_value_must_say_how() -> None:
    doc = shipped()
    point = next(p for p in doc["axial"] if p["source"].get("interpolated"))
    index = doc["axial"].index(point)
    point["source"]["method"] = ""
    assert f"axial[{index}].source.method" in errors_of(doc)


def test_a_clinic_default_carries_no_confidence_and_evidence_must_carry_one() -> None:
    doc = shipped()
    doc["milestones"][0]["source"] = {"reference": "clinic default, not evidence", "confidence": "H"}
    doc["milestones"][1]["source"]["confidence"] = "high"
    found = errors_of(doc)
    assert "milestones[0].source.confidence" in found
    assert "milestones[1].source.confidence" in found


def test_pain_rules_range_order_and_upper_at_least_center() -> None:
    doc = shipped()
    doc["axial"][1]["upper"] = doc["axial"][1]["center"] - 0.5
    doc["axial"][2]["center"] = 11
    doc["limb"][2]["post_op_day"] = doc["limb"][1]["post_op_day"]
    doc["limb"][0]["post_op_day"] = 3
    found = errors_of(doc)
    assert "axial[1].upper" in found
    assert "axial[2].center" in found
    assert "limb[2].post_op_day" in found
    assert "limb[0].post_op_day" in found


def test_numbers_must_be_json_numbers_not_booleans_or_strings() -> None:
    doc = shipped()
    doc["axial"][1]["center"] = "2.4"
    doc["milestones"][0]["expected_by_day"] = True
    doc["version"] = "1"
    found = errors_of(doc)
    assert {"axial[1].center", "milestones[0].expected_by_day", "version"} <= set(found)


def test_unknown_fields_and_wrong_instrument_are_refused() -> None:
    doc = shipped()
    doc["colour"] = "blue"
    doc["axial"][0]["note"] = "x"
    doc["instrument"] = "ndi"
    found = errors_of(doc)
    assert {"colour", "axial[0].note", "instrument"} <= set(found)


def test_milestone_metric_and_target_must_agree() -> None:
    doc = shipped()
    walk = next(m for m in doc["milestones"] if m["metric"] == "walk_any")
    steps = next(m for m in doc["milestones"] if m["metric"] == "steps_ratio")
    walk["target"] = 1.0
    steps["target"] = None
    found = errors_of(doc)
    assert f"milestones[{doc['milestones'].index(walk)}].target" in found
    assert f"milestones[{doc['milestones'].index(steps)}].target" in found


def test_a_file_whose_name_differs_from_its_procedure_is_refused(tmp_path: Path) -> None:
    doc = shipped()
    (tmp_path / "acdf.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ProtocolFileError, match="file name"):
        shipped_documents(tmp_path)


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / f"{MICRO}.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ProtocolFileError, match="not valid JSON"):
        shipped_documents(tmp_path)


# --- the shipped files --------------------------------------------------------------------------


def test_one_valid_file_per_shipped_procedure() -> None:
    docs = shipped_documents()
    assert {doc["procedure"] for doc in docs} == shipped_procedure_codes()
    for doc in docs:
        assert doc["band_rule"].strip() and "flat" in doc["band_rule"]


def sources(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        item["source"] for key in ("axial", "limb", "proms", "thresholds", "milestones") for item in doc[key]
    ]


def test_every_shipped_value_points_into_the_clinical_reference_or_says_it_is_not_evidence() -> None:
    for doc in shipped_documents():
        for source in sources(doc):
            reference = source["reference"]
            assert "clinical reference" in reference or reference == "clinic default, not evidence", reference
            if source.get("interpolated") or reference.startswith("borrowed"):
                assert source["method"].strip(), reference


def test_procedures_without_their_own_data_say_each_value_is_borrowed() -> None:
    for code in ("tubular_discectomy", "full_endoscopic_discectomy"):
        doc = shipped(code)
        for point in doc["axial"] + doc["limb"]:
            assert point["source"]["reference"].startswith("borrowed: "), (code, point)
            assert "no " in point["source"]["method"], (code, point)


def test_interpolated_pain_points_lie_on_the_line_between_their_neighbours() -> None:
    checked = 0
    for doc in shipped_documents():
        for site in ("axial", "limb"):
            points = doc[site]
            for before, point, after in zip(points, points[1:], points[2:], strict=False):
                if not point["source"].get("interpolated"):
                    continue
                share = (point["post_op_day"] - before["post_op_day"]) / (
                    after["post_op_day"] - before["post_op_day"]
                )
                for field in ("center", "upper"):
                    line = before[field] + (after[field] - before[field]) * share
                    assert point[field] == pytest.approx(line, abs=0.011), (doc["procedure"], site, point)
                checked += 1
    assert checked >= 30


def test_sourced_pain_points_keep_the_published_mean_and_sd() -> None:
    # Kim CH et al. 2021 Table 3: VAS back 2.43 ± 1.88 and VAS leg 2.75 ± 2.34 at 1 month.
    doc = shipped()
    axial = next(p for p in doc["axial"] if p["post_op_day"] == 30)
    limb = next(p for p in doc["limb"] if p["post_op_day"] == 30)
    assert (axial["center"], axial["upper"]) == (2.43, pytest.approx(2.43 + 1.88))
    assert (limb["center"], limb["upper"]) == (2.75, pytest.approx(2.75 + 2.34))
    assert "Kim CH" in axial["source"]["reference"] and axial["source"]["confidence"] == "H"


# --- loading ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_migrate_loads_every_shipped_protocol() -> None:
    assert set(Protocol.objects.values_list("procedure_code", flat=True)) == shipped_procedure_codes()
    for doc in shipped_documents():
        stored = ProtocolVersion.objects.get(
            protocol__procedure_code=doc["procedure"], version=doc["version"]
        )
        assert stored.content_hash == content_hash(doc)
        assert stored.document == doc


@pytest.mark.django_db
def test_loading_again_changes_nothing() -> None:
    before = list(ProtocolVersion.objects.order_by("pk").values_list("pk", "content_hash"))
    results = load_shipped_protocols()
    assert results and not any(result.created for result in results)
    assert list(ProtocolVersion.objects.order_by("pk").values_list("pk", "content_hash")) == before


@pytest.mark.django_db
def test_reformatting_a_file_is_not_a_content_change(tmp_path: Path) -> None:
    write(tmp_path, shipped(), indent=7)
    assert [r.created for r in load_shipped_protocols(directory=tmp_path)] == [False]


@pytest.mark.django_db
def test_changing_a_file_without_bumping_its_version_is_refused(tmp_path: Path) -> None:
    doc = shipped()
    doc["axial"][1]["center"] = 4.0
    write(tmp_path, doc)
    with pytest.raises(ProtocolVersionConflict, match="bump 'version'"):
        load_shipped_protocols(directory=tmp_path)
    stored = ProtocolVersion.objects.get(protocol__procedure_code=MICRO, version=1)
    assert stored.document == shipped()


@pytest.mark.django_db
def test_the_command_reports_a_changed_file_clearly_and_loads_nothing(tmp_path: Path) -> None:
    good = shipped("acdf")
    good["version"] = 2
    write(tmp_path, good)
    changed = shipped()
    changed["milestones"][0]["expected_by_day"] = 0
    write(tmp_path, changed)
    with pytest.raises(CommandError, match=f"{MICRO}.json: the content of version 1 differs"):
        call_command("load_protocols", "--dir", str(tmp_path))
    assert not ProtocolVersion.objects.filter(protocol__procedure_code="acdf", version=2).exists()


@pytest.mark.django_db
def test_the_command_is_safe_to_run_twice() -> None:
    out = StringIO()
    call_command("load_protocols", stdout=out)
    call_command("load_protocols", stdout=out)
    assert out.getvalue().count("unchanged") == 2 * len(shipped_procedure_codes())
    assert ProtocolVersion.objects.count() == len(shipped_procedure_codes())


@pytest.mark.django_db
def test_a_bumped_version_becomes_the_default_but_an_adopting_clinic_keeps_its_own(
    world: World, tmp_path: Path
) -> None:
    protocol_adopt(actor=world.surgeon, procedure_code=MICRO, version=1)
    doc = shipped()
    doc["version"] = 2
    doc["milestones"][-1]["expected_by_day"] = 28
    write(tmp_path, doc)
    assert [r.created for r in load_shipped_protocols(directory=tmp_path)] == [True]
    assert (
        expected_recovery(procedure_code=MICRO, clinic_id=world.other_clinic_surgeon.tenant_id).version == 2
    )
    assert expected_recovery(procedure_code=MICRO, clinic_id=world.clinic.id).version == 1
    doc["version"] = 4
    write(tmp_path, doc)
    load_shipped_protocols(directory=tmp_path)
    doc["version"] = 3
    write(tmp_path, doc)
    with pytest.raises(ProtocolVersionConflict, match="older than version 4"):
        load_shipped_protocols(directory=tmp_path)


# --- the daily band -------------------------------------------------------------------------------


def two_point_protocol() -> ExpectedRecovery:
    source = Source(reference="test")
    return ExpectedRecovery(
        procedure="x",
        version=1,
        region="lumbar",
        instrument="odi",
        axial=(PainPoint(0, 6.0, 8.0, source), PainPoint(10, 2.0, 4.0, source)),
        limb=(
            PainPoint(0, 7.0, 9.0, source),
            PainPoint(4, 3.0, 5.0, source),
            PainPoint(10, 1.0, 3.0, source),
        ),
        proms=(),
        thresholds=(),
        milestones=(),
    )


def test_band_is_linear_between_points_and_flat_after_the_last() -> None:
    band = two_point_protocol().band(14)
    assert list(band.columns) == ["post_op_day", "axial_center", "axial_upper", "limb_center", "limb_upper"]
    assert band["post_op_day"].tolist() == list(range(15))
    assert str(band["post_op_day"].dtype) == "int64"
    assert all(str(band[c].dtype) == "float64" for c in band.columns[1:])
    day5 = band.loc[band["post_op_day"] == 5].iloc[0]
    assert (day5["axial_center"], day5["axial_upper"]) == (4.0, 6.0)
    day2 = band.loc[band["post_op_day"] == 2].iloc[0]
    assert (day2["limb_center"], day2["limb_upper"]) == (5.0, 7.0)
    after = band.loc[band["post_op_day"] > 10]
    assert (after["axial_center"] == 2.0).all() and (after["limb_upper"] == 3.0).all()


def test_band_of_day_zero_only_is_one_row() -> None:
    band = two_point_protocol().band(0)
    pd.testing.assert_series_equal(
        band.iloc[0],
        pd.Series(
            {
                "post_op_day": 0,
                "axial_center": 6.0,
                "axial_upper": 8.0,
                "limb_center": 7.0,
                "limb_upper": 9.0,
            },
            name=0,
        ),
        check_dtype=False,
    )


@pytest.mark.django_db
def test_shipped_band_passes_through_every_listed_point() -> None:
    expected = expected_recovery(procedure_code="mis_lumbar_decompression", clinic_id=_no_clinic())
    band = expected.band(400).set_index("post_op_day")
    for point in expected.axial:
        assert band.loc[point.post_op_day, "axial_center"] == pytest.approx(point.center)
        assert band.loc[point.post_op_day, "axial_upper"] == pytest.approx(point.upper)
    last = expected.axial[-1]
    assert band.loc[400, "axial_upper"] == pytest.approx(last.upper)


def _no_clinic() -> Any:
    import uuid

    return uuid.uuid4()


# --- selectors and overrides ----------------------------------------------------------------------


@pytest.mark.django_db
def test_expected_recovery_defaults_to_the_latest_shipped_version_in_3_queries(
    world: World, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(3):
        expected = expected_recovery(procedure_code="acdf", clinic_id=world.clinic.id)
    assert (expected.procedure, expected.version, expected.region, expected.instrument) == (
        "acdf",
        1,
        "cervical",
        "ndi",
    )
    assert expected.milestone("driving") is None  # the reference gives no timing for ACDF


@pytest.mark.django_db
def test_expected_recoveries_uses_a_constant_number_of_queries(
    world: World, django_assert_num_queries: Any
) -> None:
    protocol_override(
        actor=world.surgeon, procedure_code="acdf", target="limb.0.upper", value=9.0, reason="local audit"
    )
    protocol_adopt(actor=world.surgeon, procedure_code="mis_tlif", version=1)
    with django_assert_num_queries(3):
        one = expected_recoveries(clinic_id=world.clinic.id, procedure_codes=["acdf"])
    with django_assert_num_queries(3):
        every = expected_recoveries(
            clinic_id=world.clinic.id, procedure_codes=[*shipped_procedure_codes(), "not_a_procedure"]
        )
    assert set(every) == shipped_procedure_codes()
    assert one["acdf"] == every["acdf"]
    assert every["acdf"].limb[0].upper == 9.0


@pytest.mark.django_db
def test_unknown_procedure_raises_not_found(world: World) -> None:
    with pytest.raises(ProtocolNotFound):
        expected_recovery(procedure_code="knee_replacement", clinic_id=world.clinic.id)


@pytest.mark.django_db
def test_an_override_applies_to_its_clinic_only_and_says_who_and_when(world: World) -> None:
    state, created = protocol_override(
        actor=world.surgeon,
        procedure_code=MICRO,
        target="milestones.driving.expected_by_day",
        value=42,
        reason="We advise six weeks.",
    )
    assert created and state.value == 42.0 and state.shipped_value == 30.0
    ours = expected_recovery(procedure_code=MICRO, clinic_id=world.clinic.id).milestone("driving")
    theirs = expected_recovery(
        procedure_code=MICRO, clinic_id=world.other_clinic_surgeon.tenant_id
    ).milestone("driving")
    assert ours is not None and theirs is not None
    assert (ours.expected_by_day, theirs.expected_by_day) == (42, 30)
    assert ours.source.overridden_by == "Dr Ana Ruiz" and ours.source.overridden_at is not None
    assert ours.source.reference == "clinic override, not evidence"
    assert "Thaler" in ours.source.method and "We advise six weeks." in ours.source.method
    assert theirs.source.overridden_by == "" and "Thaler" in theirs.source.reference


@pytest.mark.django_db
def test_posting_the_same_override_twice_adds_one_row(world: World) -> None:
    def post() -> bool:
        return protocol_override(
            actor=world.clinic_admin, procedure_code=MICRO, target="axial.30.upper", value=5.0, reason="audit"
        )[1]

    assert [post(), post()] == [True, False]
    assert ClinicProtocolOverride.objects.filter(clinic=world.clinic).count() == 1


@pytest.mark.django_db
def test_null_reverts_to_the_shipped_value_and_history_is_kept(world: World) -> None:
    target = "proms.month_12.expected_score"
    protocol_override(
        actor=world.surgeon, procedure_code=MICRO, target=target, value=20.0, reason="local data"
    )
    protocol_override(
        actor=world.surgeon, procedure_code=MICRO, target=target, value=22.0, reason="more data"
    )
    state, created = protocol_override(
        actor=world.surgeon, procedure_code=MICRO, target=target, value=None, reason="back to evidence"
    )
    assert created and state.value == 18.0 and not state.overridden
    rows = list(ClinicProtocolOverride.objects.filter(target=target).order_by("sequence"))
    assert [(r.sequence, r.old_value, r.new_value) for r in rows] == [
        (1, 18.0, 20.0),
        (2, 20.0, 22.0),
        (3, 22.0, None),
    ]
    month_12 = next(
        p
        for p in expected_recovery(procedure_code=MICRO, clinic_id=world.clinic.id).proms
        if p.timepoint == "month_12"
    )
    assert month_12.expected_score == 18.0 and month_12.source.overridden_by == ""
    # Reverting what is not overridden changes nothing.
    assert (
        protocol_override(
            actor=world.surgeon, procedure_code=MICRO, target=target, value=None, reason="again"
        )[1]
        is False
    )


@pytest.mark.parametrize(
    ("target", "value", "field"),
    [
        ("axial.999.upper", 5.0, "target"),
        ("axial.30.middle", 5.0, "target"),
        ("hips.30.upper", 5.0, "target"),
        ("milestones.first_walk.target", 1.0, "target"),
        ("axial.30.upper", 2.0, "value"),  # below the center 2.43
        ("axial.30.center", 10.5, "value"),
        ("limb.0.upper", -1.0, "value"),
        ("milestones.driving.expected_by_day", -3.0, "value"),
        ("milestones.driving.expected_by_day", 3.5, "value"),
        ("proms.month_3.expected_score", 101.0, "value"),
    ],
)
@pytest.mark.django_db
def test_an_invalid_override_names_the_field_and_saves_nothing(
    world: World, target: str, value: float, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        protocol_override(actor=world.surgeon, procedure_code=MICRO, target=target, value=value, reason="x")
    assert set(caught.value.errors) == {field}
    assert not ClinicProtocolOverride.objects.exists()


@pytest.mark.django_db
def test_overrides_are_checked_together(world: World) -> None:
    protocol_override(
        actor=world.surgeon, procedure_code=MICRO, target="axial.30.upper", value=3.0, reason="a"
    )
    with pytest.raises(ValidationFailed):
        protocol_override(
            actor=world.surgeon, procedure_code=MICRO, target="axial.30.center", value=3.5, reason="b"
        )


@pytest.mark.django_db
def test_adopting_the_version_in_use_again_changes_nothing(world: World) -> None:
    first, changed = protocol_adopt(actor=world.surgeon, procedure_code=MICRO, version=1)
    again, changed_again = protocol_adopt(actor=world.clinic_admin, procedure_code=MICRO, version=1)
    assert (changed, changed_again) == (True, False)
    assert again.pk == first.pk and again.adopted_by == world.surgeon
    with pytest.raises(ValidationFailed) as caught:
        protocol_adopt(actor=world.surgeon, procedure_code=MICRO, version=9)
    assert set(caught.value.errors) == {"version"}


def test_overrides_do_not_change_the_shipped_document() -> None:
    doc = shipped()
    frozen = copy.deepcopy(doc)
    from django.utils import timezone

    from recovery.protocols.documents import AppliedOverride, parse

    parse(doc, [AppliedOverride("axial.30.upper", 9.0, "x", timezone.now(), "r")])
    assert doc == frozen


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_overrides_store_one_row(world: World) -> None:
    import threading

    from django.db import DatabaseError, connection

    barrier = threading.Barrier(2)
    outcomes: list[bool | Exception] = []

    def post() -> None:
        try:
            barrier.wait()
            outcomes.append(
                protocol_override(
                    actor=world.surgeon,
                    procedure_code=MICRO,
                    target="axial.30.upper",
                    value=5.5,
                    reason="race",
                )[1]
            )
        except (DatabaseError, ValidationFailed) as exc:  # collected and asserted below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [False, True]
    assert ClinicProtocolOverride.objects.filter(target="axial.30.upper").count() == 1
