"""The exercise library: the shipped exercises, browsing and filtering, and a clinic's own exercises."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from recovery.accounts.models import User
from recovery.rehab.library import DEFAULT_DOSE_SOURCE, LIBRARY, load_library
from recovery.rehab.models import Exercise
from recovery.rehab.vocabulary import MOVEMENT_TAGS, BodyRegion, Phase
from tests.conftest import World, client_for
from tests.factories import ExerciseFactory, load_shipped_rehab

URL = "/api/v1/exercises/"


@pytest.fixture
def shipped(world: World) -> None:
    load_shipped_rehab()


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Towel squeeze",
        "instructions": ["Sit tall on a firm chair.", "Squeeze a rolled towel between your knees.", "Relax."],
        "region": "lumbar",
        "phase": "early",
        "default_sets": 2,
        "default_reps": 10,
        "movement_tags": [],
        **overrides,
    }


def names(response: Any) -> list[str]:
    return [item["name"] for item in response.json()["results"]]


def all_names(user: User, query: str = "") -> set[str]:
    data = client_for(user).get(f"{URL}?page_size=200{query}").json()
    return {item["name"] for item in data["results"]}


# --- The shipped library ---------------------------------------------------------------------------


def test_library_has_at_least_25_exercises_covering_both_regions_and_every_phase() -> None:
    assert len(LIBRARY) >= 25
    assert {BodyRegion.LUMBAR, BodyRegion.CERVICAL} <= {item.region for item in LIBRARY}
    assert {item.phase for item in LIBRARY} == set(Phase.values)
    for region in (BodyRegion.LUMBAR, BodyRegion.CERVICAL):
        assert {item.phase for item in LIBRARY if item.region == region} == set(Phase.values), region


def test_library_includes_the_staple_exercises_after_spine_surgery() -> None:
    slugs = {item.slug for item in LIBRARY}
    assert {
        "walking",
        "ankle-pumps",
        "heel-slides",
        "abdominal-bracing",
        "pelvic-tilts",
        "glute-bridges",
        "sciatic-nerve-glides",
        "chin-tucks",
        "shoulder-blade-squeezes",
        "wall-slides",
        "log-roll",
        "sit-to-stand",
        "stationary-bike",
    } <= slugs
    assert len(slugs) == len(LIBRARY)


@pytest.mark.parametrize("item", LIBRARY, ids=lambda item: item.slug)
def test_every_shipped_exercise_has_short_plain_steps_a_dose_and_valid_tags(item: Any) -> None:
    assert 3 <= len(item.instructions) <= 6
    assert all(step.strip() and len(step) <= 120 for step in item.instructions)
    assert set(item.tags) <= set(MOVEMENT_TAGS)
    assert item.reps is not None or item.hold_seconds is not None
    assert 1 <= item.sets <= 20 and 1 <= item.sessions_per_day <= 10
    assert item.reps is None or 1 <= item.reps <= 100
    assert item.hold_seconds is None or 1 <= item.hold_seconds <= 600


def test_loading_the_library_twice_changes_nothing(db: None) -> None:
    load_library(apps, None)
    first = {row["slug"]: row for row in Exercise.objects.filter(clinic__isnull=True).values()}
    load_library(apps, None)
    second = {row["slug"]: row for row in Exercise.objects.filter(clinic__isnull=True).values()}
    assert first.keys() == second.keys() == {item.slug for item in LIBRARY}
    assert {slug: row["id"] for slug, row in first.items()} == {
        slug: row["id"] for slug, row in second.items()
    }
    assert all(row["media_url"] == "" and row["clinic_id"] is None for row in second.values())


def test_shipped_doses_are_labelled_as_clinic_defaults_not_evidence(world: World, shipped: None) -> None:
    walking = Exercise.objects.get(slug="walking", clinic__isnull=True)
    data = client_for(world.physio).get(f"{URL}{walking.id}/").json()
    assert data["shipped"] is True
    assert data["default_dose_source"] == DEFAULT_DOSE_SOURCE
    assert "clinic default, not evidence" in data["default_dose_source"]


# --- Browsing --------------------------------------------------------------------------------------


def test_library_lists_shipped_and_own_clinic_exercises_but_never_another_clinics(
    world: World, shipped: None
) -> None:
    ExerciseFactory.create(clinic=world.clinic, name="Riverside towel squeeze")
    ExerciseFactory.create(clinic=world.clinic, name="Riverside retired drill", is_active=False)
    ExerciseFactory.create(clinic=world.other_clinic_surgeon.clinic, name="Elsewhere secret drill")
    seen = all_names(world.physio)
    assert "Walking" in seen and "Riverside towel squeeze" in seen
    assert "Elsewhere secret drill" not in seen
    assert "Riverside retired drill" not in seen
    assert len(seen) == len(LIBRARY) + 1
    assert all_names(world.patient) == seen
    outsider_view = all_names(world.other_clinic_surgeon)
    assert "Elsewhere secret drill" in outsider_view and "Riverside towel squeeze" not in outsider_view


def test_search_matches_name_or_steps_case_insensitively(world: World, shipped: None) -> None:
    client = client_for(world.patient)
    assert names(client.get(f"{URL}?search=WALKING")) == ["Walking"]
    # "rolled towel" appears only in the steps of the clinic's own exercise.
    ExerciseFactory.create(clinic=world.clinic, name="Knee squeeze", instructions=["Hold a Rolled Towel."])
    assert names(client.get(f"{URL}?search=rolled towel")) == ["Knee squeeze"]
    assert names(client.get(f"{URL}?search=no-such-exercise")) == []


def test_filters_by_region_phase_and_tag_combine(world: World, shipped: None) -> None:
    client = client_for(world.physio)
    cervical_late = client.get(f"{URL}?region=cervical&phase=late&page_size=200").json()["results"]
    assert cervical_late
    assert all(item["region"] == "cervical" and item["phase"] == "late" for item in cervical_late)
    flexion = client.get(f"{URL}?tag=lumbar_flexion&page_size=200").json()["results"]
    assert {item["name"] for item in flexion} >= {"Pelvic tilts", "Cat-camel"}
    assert all("lumbar_flexion" in item["movement_tags"] for item in flexion)
    early_nerve = names(client.get(f"{URL}?tag=neural_tension&phase=early&search=leg"))
    assert early_nerve == ["Leg nerve glides (sciatic nerve)"]


def test_library_is_paginated(world: World, shipped: None) -> None:
    data = client_for(world.physio).get(f"{URL}?page_size=10&page=2").json()
    assert data["count"] == len(LIBRARY)
    assert len(data["results"]) == 10
    assert data["previous"] is not None and data["next"] is not None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("region=thoracic", "region"),
        ("phase=week-1", "phase"),
        ("tag=bending", "tag"),
        ("page=0", "page"),
        ("page_size=abc", "page_size"),
        ("search=" + "x" * 101, "search"),
    ],
)
def test_bad_filter_value_is_400_naming_the_parameter(world: World, query: str, field: str) -> None:
    response = client_for(world.physio).get(f"{URL}?{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_library_list_runs_the_same_queries_however_long_it_is(world: World) -> None:
    client = client_for(world.physio)
    ExerciseFactory.create(clinic=world.clinic)
    client.get(URL)  # the first request of a token records its first use
    for query in ("", "?search=exercise&tag=lumbar_flexion&region=lumbar"):
        with CaptureQueriesContext(connection) as few:
            client.get(URL + query)
        for _ in range(15):
            ExerciseFactory.create(clinic=world.clinic, movement_tags=["lumbar_flexion"])
        with CaptureQueriesContext(connection) as many:
            response = client.get(URL + query)
        assert response.json()["count"] >= 15
        assert len(many) == len(few), query


# --- A clinic's own exercises ----------------------------------------------------------------------


def test_physio_adds_an_exercise_to_their_clinics_library(world: World) -> None:
    response = client_for(world.physio).post(
        URL, body(movement_tags=["lumbar_flexion", "neural_tension", "lumbar_flexion"]), format="json"
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["slug"] == "towel-squeeze"
    assert data["shipped"] is False
    assert data["movement_tags"] == ["lumbar_flexion", "neural_tension"]
    assert (data["default_sets"], data["default_reps"], data["default_hold_seconds"]) == (2, 10, None)
    assert data["default_sessions_per_day"] == 1
    stored = Exercise.objects.get(pk=data["id"])
    assert stored.clinic_id == world.clinic.id
    assert stored.created_by == world.physio


def test_exercise_post_with_the_same_id_is_200_and_other_content_409(world: World) -> None:
    client = client_for(world.surgeon)
    payload = body(id=str(uuid.uuid4()))
    first = client.post(URL, payload, format="json")
    again = client.post(URL, payload, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    changed = client.post(URL, {**payload, "default_reps": 12}, format="json")
    assert changed.status_code == 409
    assert "id" in changed.json()["errors"]
    assert Exercise.objects.filter(pk=payload["id"]).count() == 1
    assert Exercise.objects.get(pk=payload["id"]).default_reps == 10


def test_reusing_the_id_of_a_shipped_exercise_is_409(world: World, shipped: None) -> None:
    walking = Exercise.objects.get(slug="walking", clinic__isnull=True)
    response = client_for(world.physio).post(URL, body(id=str(walking.id)), format="json")
    assert response.status_code == 409


BAD_EXERCISES = [
    ({"instructions": []}, "instructions"),
    ({"instructions": ["Step."] * 13}, "instructions"),
    ({"instructions": ["x" * 501]}, "instructions"),
    ({"instructions": ["Fine.", 3]}, "instructions"),
    ({"instructions": ["   "]}, "instructions"),
    ({"instructions": "Sit tall."}, "instructions"),
    ({"movement_tags": ["bending"]}, "movement_tags"),
    ({"default_reps": None, "default_hold_seconds": None}, "default_reps"),
    ({"default_reps": "10"}, "default_reps"),
    ({"default_reps": 101}, "default_reps"),
    ({"default_hold_seconds": 601}, "default_hold_seconds"),
    ({"default_sets": 0}, "default_sets"),
    ({"default_sessions_per_day": 11}, "default_sessions_per_day"),
    ({"region": "thoracic"}, "region"),
    ({"phase": 1}, "phase"),
    ({"name": ""}, "name"),
    ({"slug": "has spaces"}, "slug"),
    ({"media_url": "javascript:alert(1)"}, "media_url"),
    ({"colour": "blue"}, "colour"),
]


@pytest.mark.parametrize(("change", "field"), BAD_EXERCISES)
def test_bad_exercise_is_400_naming_the_field_and_saves_nothing(
    world: World, change: dict[str, Any], field: str
) -> None:
    response = client_for(world.physio).post(URL, body(**change), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Exercise.objects.filter(clinic=world.clinic).exists()


def test_a_slug_already_used_in_the_clinic_is_400(world: World) -> None:
    client = client_for(world.physio)
    assert client.post(URL, body(), format="json").status_code == 201
    response = client.post(URL, body(default_reps=5), format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["errors"]


def test_patients_cannot_add_or_change_exercises(world: World) -> None:
    own = ExerciseFactory.create(clinic=world.clinic)
    client = client_for(world.patient)
    assert client.post(URL, body(), format="json").status_code == 403
    assert client.patch(f"{URL}{own.id}/", {"name": "Mine"}, format="json").status_code == 403
    assert Exercise.objects.get(pk=own.id).name == own.name


def test_staff_edit_their_clinics_exercise(world: World) -> None:
    own = ExerciseFactory.create(clinic=world.clinic, default_reps=10)
    response = client_for(world.clinic_admin).patch(
        f"{URL}{own.id}/",
        {"default_reps": None, "default_hold_seconds": 30, "instructions": ["Hold still.", "Breathe."]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    own.refresh_from_db()
    assert (own.default_reps, own.default_hold_seconds) == (None, 30)
    assert own.instructions == ["Hold still.", "Breathe."]


def test_patch_leaving_neither_reps_nor_hold_is_400(world: World) -> None:
    own = ExerciseFactory.create(clinic=world.clinic, default_reps=10)
    response = client_for(world.physio).patch(f"{URL}{own.id}/", {"default_reps": None}, format="json")
    assert response.status_code == 400
    assert "default_reps" in response.json()["errors"]
    own.refresh_from_db()
    assert own.default_reps == 10


def test_editing_a_shipped_exercise_is_403_with_a_clear_message(world: World, shipped: None) -> None:
    walking = Exercise.objects.get(slug="walking", clinic__isnull=True)
    response = client_for(world.surgeon).patch(f"{URL}{walking.id}/", {"name": "Strolling"}, format="json")
    assert response.status_code == 403
    assert "Shipped exercises are read-only" in response.json()["errors"]["non_field_errors"][0]
    walking.refresh_from_db()
    assert walking.name == "Walking"


def test_another_clinics_exercise_is_404(world: World) -> None:
    foreign = ExerciseFactory.create(clinic=world.other_clinic_surgeon.clinic)
    client = client_for(world.physio)
    assert client.get(f"{URL}{foreign.id}/").status_code == 404
    assert client.patch(f"{URL}{foreign.id}/", {"name": "Ours now"}, format="json").status_code == 404
    assert (
        client_for(world.patient).patch(f"{URL}{foreign.id}/", {"name": "x"}, format="json").status_code
        == 404
    )


def test_retired_exercise_leaves_the_list_but_the_clinic_can_bring_it_back(world: World) -> None:
    own = ExerciseFactory.create(clinic=world.clinic, name="Old drill")
    client = client_for(world.physio)
    assert client.patch(f"{URL}{own.id}/", {"is_active": False}, format="json").status_code == 200
    assert "Old drill" not in all_names(world.physio)
    assert client.get(f"{URL}{own.id}/").json()["is_active"] is False
    assert client.patch(f"{URL}{own.id}/", {"is_active": True}, format="json").status_code == 200
    assert "Old drill" in all_names(world.physio)


# --- Admin -----------------------------------------------------------------------------------------


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_shows_shipped_exercises_read_only_and_never_another_clinics(
    world: World, shipped: None
) -> None:
    walking = Exercise.objects.get(slug="walking", clinic__isnull=True)
    own = ExerciseFactory.create(clinic=world.clinic, name="Riverside drill")
    foreign = ExerciseFactory.create(clinic=world.other_clinic_surgeon.clinic, name="Elsewhere drill")
    physio = admin_client(world.physio)
    listing = physio.get("/admin/rehab/exercise/?all=").content.decode()
    assert "Riverside drill" in listing and "Elsewhere drill" not in listing
    shipped_page = physio.get(f"/admin/rehab/exercise/{walking.pk}/change/")
    assert shipped_page.status_code == 200
    assert b'name="_save"' not in shipped_page.content
    assert physio.post(f"/admin/rehab/exercise/{walking.pk}/change/", {"name": "x"}).status_code == 403
    assert b'name="_save"' in physio.get(f"/admin/rehab/exercise/{own.pk}/change/").content
    assert physio.get(f"/admin/rehab/exercise/{foreign.pk}/change/").status_code == 302


def test_admin_form_runs_the_library_checks(world: World) -> None:
    own = ExerciseFactory.create(clinic=world.clinic, slug="drill", name="Drill")
    form = {
        "slug": "drill",
        "name": "Drill",
        "instructions": '["Stand tall."]',
        "region": "lumbar",
        "phase": "early",
        "default_sets": "1",
        "default_reps": "5",
        "default_hold_seconds": "",
        "default_sessions_per_day": "1",
        "movement_tags": '["bending"]',
        "media_url": "",
        "is_active": "on",
    }
    response = admin_client(world.physio).post(f"/admin/rehab/exercise/{own.pk}/change/", form)
    assert response.status_code == 200  # the form comes back with errors
    assert b"Use only these tags" in response.content
    own.refresh_from_db()
    assert own.movement_tags == []
