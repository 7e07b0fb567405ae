"""The access matrix: every API endpoint against every persona.

Each row is an endpoint and method (feature modules add theirs in ``tests/access_rows/``); columns
are the personas of ``tests.conftest.World``. Anything outside a
user's scope is 404; inside scope but not theirs to do is 403; anonymous is 401. A final test checks
that every routed endpoint and method appears here, so a new endpoint cannot skip the matrix.
"""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.urls import URLPattern, reverse
from django.utils import timezone

from api import urls as api_urls
from tests.conftest import World, client_for
from tests.factories import CheckInFactory


def extra_rows() -> list[Any]:
    """Rows contributed by feature modules ``tests/access_rows/*.py`` (each defines ``ROWS``)."""
    import tests.access_rows as package

    rows: list[Any] = []
    for info in pkgutil.iter_modules(package.__path__):
        rows.extend(importlib.import_module(f"{package.__name__}.{info.name}").ROWS)
    return rows


PERSONAS = [
    "patient",
    "physio",
    "surgeon",
    "clinic_admin",
    "other_patient",
    "other_clinic_surgeon",
    "anonymous",
]


@dataclass(frozen=True)
class Row:
    """One endpoint and method: expected status per persona (PERSONAS order), how to build the URL
    kwargs from the world (after ``prepare`` made any objects it needs) and the request body."""

    name: str
    method: str
    expected: list[int]
    kwargs: Callable[[World, dict[str, Any]], dict[str, Any]] = lambda world, made: {}
    body: Callable[[World, str, dict[str, Any]], dict[str, Any] | None] = lambda world, persona, made: None
    prepare: Callable[[World], dict[str, Any]] = lambda world: {}


def _enrol_body(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient": {
            "email": f"new-{persona}-{uuid.uuid4().hex[:6]}@example.org",
            "name": "New Patient",
            "date_of_birth": "1980-02-03",
            "time_zone": "America/New_York",
        },
        "procedure": "acdf",
        "levels": ["C5-C6"],
        "surgery_date": (timezone.now().date() + timedelta(days=7)).isoformat(),
    }
    if persona == "clinic_admin":
        body["surgeon"] = str(world.surgeon.id)
    return body


def _episode(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id}


def _checkin(world: World) -> dict[str, Any]:
    return {"checkin": CheckInFactory.create(episode=world.episode)}


def _checkin_kwargs(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id, "checkin_id": made["checkin"].id}


CORE_ROWS = [
    Row("me", "get", [200, 200, 200, 200, 200, 200, 401]),
    Row("episode-list", "get", [200, 200, 200, 200, 200, 200, 401]),
    Row("episode-list", "post", [403, 403, 201, 201, 403, 201, 401], body=_enrol_body),
    Row("episode-detail", "get", [200, 200, 200, 200, 404, 404, 401], kwargs=_episode),
    Row("checkin-list", "get", [200, 200, 200, 404, 404, 404, 401], kwargs=_episode),
    Row(
        "checkin-list",
        "post",
        [201, 403, 403, 404, 404, 404, 401],
        kwargs=_episode,
        body=lambda world, persona, made: {"id": str(uuid.uuid4()), "axial_pain": 3, "limb_pain": 2},
    ),
    Row(
        "checkin-detail", "get", [200, 200, 200, 404, 404, 404, 401], kwargs=_checkin_kwargs, prepare=_checkin
    ),
    Row(
        "checkin-detail",
        "patch",
        [200, 403, 403, 404, 404, 404, 401],
        kwargs=_checkin_kwargs,
        prepare=_checkin,
        body=lambda world, persona, made: {"note": "Felt better after a walk."},
    ),
    Row(
        "checkin-detail",
        "delete",
        [204, 403, 403, 404, 404, 404, 401],
        kwargs=_checkin_kwargs,
        prepare=_checkin,
    ),
    Row("logout", "post", [204, 204, 204, 204, 204, 204, 401]),
    Row("token", "delete", [204, 204, 204, 204, 204, 204, 401]),
]

#: Every row, from every feature's module of rows.
ROWS: list[Row] = [*CORE_ROWS, *extra_rows()]

# Endpoints open to anyone; covered by tests/test_auth.py and tests/test_schema_and_errors.py.
PUBLIC = {("health", "get"), ("token", "post"), ("csrf", "get"), ("login", "post"), ("set-password", "post")}

CASES = [
    pytest.param(row, persona, row.expected[i], id=f"{row.name}-{row.method}-{persona}")
    for row in ROWS
    for i, persona in enumerate(PERSONAS)
]


@pytest.mark.parametrize(("row", "persona", "expected"), CASES)
def test_access_matrix(world: World, row: Row, persona: str, expected: int) -> None:
    made = row.prepare(world)
    url = reverse(f"api:{row.name}", kwargs=row.kwargs(world, made))
    user = None if persona == "anonymous" else getattr(world, persona)
    client = client_for(user)
    body = row.body(world, persona, made)
    call = getattr(client, row.method)
    response = call(url, body, format="json") if body is not None else call(url)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert set(response.json()) == {"errors"}


def test_episode_list_shows_only_episodes_in_scope(world: World) -> None:
    expected = {
        "patient": {world.episode.id},
        "physio": {world.episode.id},
        "surgeon": {world.episode.id},
        "clinic_admin": {world.episode.id, world.other_episode.id},
        "other_patient": {world.other_episode.id},
        "other_clinic_surgeon": set(),
    }
    for persona, ids in expected.items():
        results = client_for(getattr(world, persona)).get("/api/v1/episodes/").json()["results"]
        assert {uuid.UUID(r["id"]) for r in results} == ids, persona


def test_checkin_of_another_episode_is_404_even_through_own_episode_url(world: World) -> None:
    foreign = CheckInFactory.create(episode=world.other_episode)
    url = f"/api/v1/episodes/{world.episode.id}/check-ins/{foreign.id}/"
    assert client_for(world.patient).get(url).status_code == 404
    assert client_for(world.patient).patch(url, {"note": "x"}, format="json").status_code == 404
    assert client_for(world.patient).delete(url).status_code == 404


def test_every_api_endpoint_is_in_the_matrix() -> None:
    routed: set[tuple[str, str]] = set()
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view_class = pattern.callback.view_class  # type: ignore[attr-defined]
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view_class, method):
                routed.add((str(pattern.name), method))
    assert routed == {(row.name, row.method) for row in ROWS} | PUBLIC
