"""The protocol endpoints: effective protocol with sources, adoption, overrides and their history."""

from __future__ import annotations

from typing import Any

import pytest

from recovery.protocols.loading import shipped_procedure_codes
from recovery.protocols.models import ClinicProtocolOverride
from tests.conftest import World, client_for

MICRO = "lumbar_microdiscectomy"
BASE = "/api/v1/protocols/"


def override(world: World, body: dict[str, Any], *, user: Any = None, procedure: str = MICRO) -> Any:
    return client_for(user or world.surgeon).post(f"{BASE}{procedure}/overrides/", body, format="json")


@pytest.mark.django_db
def test_detail_gives_every_value_with_its_source(world: World) -> None:
    body = client_for(world.physio).get(f"{BASE}{MICRO}/").json()
    assert (body["procedure"], body["version"], body["instrument"], body["overridden"]) == (
        MICRO,
        1,
        "odi",
        False,
    )
    assert body["adoption"] is None and "flat" in body["band_rule"]
    items = [*body["axial"], *body["limb"], *body["proms"], *body["thresholds"], *body["milestones"]]
    assert len(items) > 20
    for item in items:
        assert item["source"]["reference"].strip()
        assert set(item["source"]) == {
            "reference",
            "confidence",
            "interpolated",
            "method",
            "overridden_by",
            "overridden_at",
        }
    assert any(i["source"]["interpolated"] for i in body["axial"])
    driving = next(m for m in body["milestones"] if m["key"] == "driving")
    assert driving["expected_by_day"] == 30 and driving["source"]["confidence"] == "H"


@pytest.mark.django_db
def test_unknown_procedure_is_404(world: World) -> None:
    client = client_for(world.surgeon)
    for response in (
        client.get(f"{BASE}hip_replacement/"),
        client.get(f"{BASE}hip_replacement/overrides/"),
        client.post(f"{BASE}hip_replacement/adopt/", {"version": 1}, format="json"),
        client.post(
            f"{BASE}hip_replacement/overrides/",
            {"target": "axial.0.upper", "value": 5, "reason": "x"},
            format="json",
        ),
    ):
        assert response.status_code == 404
        assert set(response.json()) == {"errors"}


@pytest.mark.django_db
def test_list_shows_the_version_in_use_and_overrides_in_constant_queries(
    world: World, django_assert_max_num_queries: Any
) -> None:
    client = client_for(world.physio)
    with django_assert_max_num_queries(12) as before:
        client.get(BASE)
        baseline = len(before)
    override(world, {"target": "axial.30.upper", "value": 5.0, "reason": "local audit"})
    override(world, {"target": "limb.0.upper", "value": 9.5, "reason": "local audit"}, procedure="acdf")
    client_for(world.surgeon).post(f"{BASE}mis_tlif/adopt/", {"version": 1}, format="json")
    with django_assert_max_num_queries(baseline):
        body = client.get(BASE).json()
    assert {row["procedure"] for row in body} == shipped_procedure_codes()
    by_code = {row["procedure"]: row for row in body}
    assert by_code[MICRO]["overridden"] and by_code[MICRO]["override_count"] == 1
    assert by_code["mis_tlif"]["adopted"] and by_code["mis_tlif"]["adopted_by"] == "Dr Ana Ruiz"
    assert not by_code["mis_tlif"]["overridden"]
    assert by_code["acdf"]["procedure_name"] == "Anterior cervical discectomy and fusion (ACDF)"


@pytest.mark.django_db
def test_an_override_shows_who_and_when_and_stays_in_its_clinic(world: World) -> None:
    response = override(
        world, {"target": "milestones.driving.expected_by_day", "value": 42, "reason": "6 weeks"}
    )
    assert response.status_code == 201, response.content
    state = response.json()
    assert (state["value"], state["shipped_value"], state["overridden"]) == (42.0, 30.0, True)
    assert state["last_change"]["created_by"]["name"] == "Dr Ana Ruiz"
    assert (state["last_change"]["old_value"], state["last_change"]["new_value"]) == (30.0, 42.0)

    ours = client_for(world.physio).get(f"{BASE}{MICRO}/").json()
    driving = next(m for m in ours["milestones"] if m["key"] == "driving")
    assert driving["expected_by_day"] == 42 and ours["overridden"]
    assert driving["source"]["overridden_by"] == "Dr Ana Ruiz" and driving["source"]["overridden_at"]

    theirs = client_for(world.other_clinic_surgeon).get(f"{BASE}{MICRO}/").json()
    assert next(m for m in theirs["milestones"] if m["key"] == "driving")["expected_by_day"] == 30
    assert not theirs["overridden"]
    history = client_for(world.other_clinic_surgeon).get(f"{BASE}{MICRO}/overrides/").json()
    assert history["count"] == 0


@pytest.mark.django_db
def test_posting_the_same_override_again_is_200_and_adds_no_row(world: World) -> None:
    body = {"target": "axial.30.upper", "value": 5.0, "reason": "local audit"}
    assert override(world, body).status_code == 201
    again = override(world, {**body, "reason": "retry"}, user=world.clinic_admin)
    assert again.status_code == 200
    assert again.json()["last_change"]["reason"] == "local audit"
    history = client_for(world.physio).get(f"{BASE}{MICRO}/overrides/").json()
    assert history["count"] == 1
    assert history["results"][0]["target"] == "axial.30.upper"


@pytest.mark.django_db
def test_null_reverts_to_the_shipped_value(world: World) -> None:
    override(world, {"target": "thresholds.mcid.improvement", "value": 10, "reason": "local"})
    reverted = override(world, {"target": "thresholds.mcid.improvement", "value": None, "reason": "back"})
    assert reverted.status_code == 201
    assert (reverted.json()["value"], reverted.json()["overridden"]) == (12.8, False)
    detail = client_for(world.surgeon).get(f"{BASE}{MICRO}/").json()
    mcid = next(t for t in detail["thresholds"] if t["kind"] == "mcid")
    assert mcid["improvement"] == 12.8 and not detail["overridden"]
    history = client_for(world.surgeon).get(f"{BASE}{MICRO}/overrides/").json()["results"]
    assert [(r["old_value"], r["new_value"]) for r in history] == [(10.0, None), (12.8, 10.0)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": "axial.42.upper", "value": 5, "reason": "x"}, "target"),
        ({"target": "nonsense", "value": 5, "reason": "x"}, "target"),
        ({"target": "axial.30.upper", "value": 1.0, "reason": "below the center"}, "value"),
        ({"target": "axial.30.center", "value": 11, "reason": "x"}, "value"),
        ({"target": "milestones.driving.expected_by_day", "value": -1, "reason": "x"}, "value"),
        ({"target": "milestones.driving.expected_by_day", "value": 2.5, "reason": "x"}, "value"),
        ({"target": "axial.30.upper", "value": "5", "reason": "x"}, "value"),
        ({"target": "axial.30.upper", "value": True, "reason": "x"}, "value"),
        ({"target": "axial.30.upper", "value": 5, "reason": " "}, "reason"),
        ({"target": "axial.30.upper", "value": 5}, "reason"),
        ({"target": "axial.30.upper", "reason": "x"}, "value"),
        ({"target": "axial.30.upper", "value": 5, "reason": "x", "clinic": "other"}, "clinic"),
    ],
)
@pytest.mark.django_db
def test_bad_override_is_400_naming_the_field_and_saves_nothing(
    world: World, body: dict[str, Any], field: str
) -> None:
    response = override(world, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not ClinicProtocolOverride.objects.exists()


@pytest.mark.django_db
def test_adopt_is_idempotent_and_refuses_unknown_versions(world: World) -> None:
    client = client_for(world.clinic_admin)
    first = client.post(f"{BASE}acdf/adopt/", {"version": 1}, format="json")
    assert first.status_code == 201
    assert first.json()["adoption"]["adopted_by"]["name"] == "Kim Admin"
    assert client.post(f"{BASE}acdf/adopt/", {"version": 1}, format="json").status_code == 200
    missing = client.post(f"{BASE}acdf/adopt/", {"version": 7}, format="json")
    assert missing.status_code == 400 and "version" in missing.json()["errors"]
    wrong_type = client.post(f"{BASE}acdf/adopt/", {"version": "1"}, format="json")
    assert wrong_type.status_code == 400 and "version" in wrong_type.json()["errors"]


@pytest.mark.django_db
def test_physiotherapists_read_but_do_not_change_protocols(world: World) -> None:
    response = override(world, {"target": "axial.30.upper", "value": 5, "reason": "x"}, user=world.physio)
    assert response.status_code == 403
    assert set(response.json()) == {"errors"}
    assert not ClinicProtocolOverride.objects.exists()
