"""Access rows for exercise logs, today's plan and adherence."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import World
from tests.factories import AssignmentFactory
from tests.test_access_matrix import Row

_READ = [200, 200, 200, 404, 404, 404, 401]


def _episode(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id}


def _assignment(world: World) -> dict[str, Any]:
    return {"assignment": AssignmentFactory.create(episode=world.episode)}


def _log_body(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "assignment": str(made["assignment"].id),
        "sets_completed": 2,
        "reps_completed": 10,
    }


ROWS: list[Row] = [
    Row("exercise-log-list", "get", _READ, kwargs=_episode),
    Row(
        "exercise-log-list",
        "post",
        [201, 403, 403, 404, 404, 404, 401],
        kwargs=_episode,
        prepare=_assignment,
        body=_log_body,
    ),
    Row("plan-today", "get", _READ, kwargs=_episode, prepare=_assignment),
    Row("adherence", "get", _READ, kwargs=_episode, prepare=_assignment),
]
