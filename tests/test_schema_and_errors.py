"""The OpenAPI schema is valid and complete; errors everywhere share one JSON shape."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from tests.conftest import World, client_for


@pytest.fixture
def schema(db: None) -> dict[str, Any]:
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def test_schema_is_valid_openapi_3(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_schema_lists_every_contract_path(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    for path, methods in {
        "/api/v1/auth/token/": {"post", "delete"},
        "/api/v1/auth/login/": {"post"},
        "/api/v1/auth/logout/": {"post"},
        "/api/v1/me/": {"get"},
        "/api/v1/episodes/": {"get", "post"},
        "/api/v1/episodes/{episode_id}/": {"get"},
        "/api/v1/episodes/{episode_id}/check-ins/": {"get", "post"},
        "/api/v1/episodes/{episode_id}/check-ins/{checkin_id}/": {"get", "patch", "delete"},
    }.items():
        assert methods <= set(paths[path]), path
    checkin = schema["components"]["schemas"]["CheckInInputRequest"]["properties"]
    assert {"id", "recorded_at", "axial_pain", "limb_pain", "red_flags", "note"} <= set(checkin)


def test_interactive_docs_are_served_without_internet(db: None) -> None:
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn.jsdelivr" not in response.content


def test_unknown_api_path_is_json_404(world: World) -> None:
    response = client_for(world.patient).get("/api/v1/does-not-exist/")
    assert response.status_code == 404
    assert response.json() == {"errors": {"non_field_errors": ["Not found."]}}


def test_non_uuid_episode_id_is_404(world: World) -> None:
    response = client_for(world.patient).get("/api/v1/episodes/123/")
    assert response.status_code == 404
    assert "errors" in response.json()


def test_method_not_allowed_uses_the_error_shape(world: World) -> None:
    response = client_for(world.patient).put(f"/api/v1/episodes/{world.episode.id}/", {}, format="json")
    assert response.status_code == 405
    assert "non_field_errors" in response.json()["errors"]


def test_health_reports_ok(db: None) -> None:
    assert APIClient().get("/api/v1/health/").json() == {"status": "ok"}


def test_home_page_links_to_the_docs(db: None) -> None:
    response = APIClient().get("/")
    assert response.status_code == 200
    assert b"/api/docs/" in response.content
