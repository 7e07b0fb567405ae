"""Access rows for the prescription endpoints: library, assignments, restrictions, clinic defaults.

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.factories import AssignmentFactory, ExerciseFactory
from tests.test_access_matrix import Row


def _clinic_exercise(world: World) -> dict[str, Any]:
    return {"exercise": ExerciseFactory.create(clinic=world.clinic)}


def _exercise_kwargs(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"exercise_id": made["exercise"].id}


def _new_exercise(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Towel squeeze",
        "instructions": ["Sit tall.", "Squeeze a rolled towel between your knees.", "Relax."],
        "region": "lumbar",
        "phase": "early",
        "default_reps": 10,
    }


def _episode(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id}


def _shipped_exercise(world: World) -> dict[str, Any]:
    return {"exercise": ExerciseFactory.create()}


def _assignment(world: World) -> dict[str, Any]:
    return {"assignment": AssignmentFactory.create(episode=world.episode, prescribed_by=world.physio)}


def _assignment_kwargs(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id, "assignment_id": made["assignment"].id}


def _restrictions_body(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    return {
        "lifting_limit_kg": 4.5,
        "lifting_limit_until_day": 14,
        "forbidden_movements": [{"tag": "lumbar_flexion", "until_day": 42}],
        "overrides": [],
        "source": "Set by the surgeon after the operation.",
    }


def _defaults_body(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    return {
        "lifting_limit_kg": None,
        "lifting_limit_until_day": None,
        "forbidden_movements": [{"tag": "lumbar_flexion", "until_day": 42}],
        "source": "clinic default, not evidence",
    }


def _procedure(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"code": "mis_tlif"}


ROWS: list[Row] = [
    Row("exercise-list", "get", [200, 200, 200, 200, 200, 200, 401]),
    Row("exercise-list", "post", [403, 201, 201, 201, 403, 201, 401], body=_new_exercise),
    Row(
        "exercise-detail",
        "get",
        [200, 200, 200, 200, 200, 404, 401],
        kwargs=_exercise_kwargs,
        prepare=_clinic_exercise,
    ),
    Row(
        "exercise-detail",
        "patch",
        [403, 200, 200, 200, 403, 404, 401],
        kwargs=_exercise_kwargs,
        prepare=_clinic_exercise,
        body=lambda world, persona, made: {"name": "Renamed"},
    ),
    Row("assignment-list", "get", [200, 200, 200, 404, 404, 404, 401], kwargs=_episode),
    Row(
        "assignment-list",
        "post",
        [403, 201, 201, 404, 404, 404, 401],
        kwargs=_episode,
        prepare=_shipped_exercise,
        body=lambda world, persona, made: {"exercise": str(made["exercise"].id)},
    ),
    Row(
        "assignment-detail",
        "get",
        [200, 200, 200, 404, 404, 404, 401],
        kwargs=_assignment_kwargs,
        prepare=_assignment,
    ),
    Row(
        "assignment-detail",
        "patch",
        [403, 200, 200, 404, 404, 404, 401],
        kwargs=_assignment_kwargs,
        prepare=_assignment,
        body=lambda world, persona, made: {"notes": "Slow and steady."},
    ),
    Row(
        "assignment-detail",
        "delete",
        [403, 204, 204, 404, 404, 404, 401],
        kwargs=_assignment_kwargs,
        prepare=_assignment,
    ),
    Row("restrictions", "get", [200, 200, 200, 404, 404, 404, 401], kwargs=_episode),
    Row("restrictions", "put", [403, 403, 200, 404, 404, 404, 401], kwargs=_episode, body=_restrictions_body),
    Row("restriction-defaults", "get", [403, 200, 200, 200, 403, 200, 401], kwargs=_procedure),
    Row(
        "restriction-defaults",
        "put",
        [403, 403, 201, 201, 403, 201, 401],
        kwargs=_procedure,
        body=_defaults_body,
    ),
]
