"""Security headers on real responses, CORS closed unless configured, production settings
(HSTS, secure cookies) and ``manage.py check --deploy`` clean."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, override_settings

from tests.conftest import World, client_for
from tests.test_settings import PRODUCTION, ROOT, run_settings

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def test_api_responses_carry_the_security_headers(world: World) -> None:
    response = client_for(world.patient).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == STRICT_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_error_responses_carry_them_too(db: None) -> None:
    response = Client().get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.headers["Content-Security-Policy"] == STRICT_CSP
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_api_docs_page_runs_no_inline_script(db: None) -> None:
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    html = page.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    # Every script is same-origin: the shipped Swagger UI files, and its start-up script from the view.
    sources = [m.group(1).replace("&amp;", "&") for m in re.finditer(r'src="([^"]+)"', html)]
    assert len(sources) == len(scripts) == 3
    for src in sources[:2]:
        assert src.startswith("/static/") and finders.find(src.removeprefix("/static/")) is not None
    start_up = client.get(sources[2])
    assert start_up.status_code == 200 and b"SwaggerUIBundle" in start_up.content


def test_cors_is_closed_by_default(world: World) -> None:
    client = client_for(world.patient)
    response = client.get("/api/v1/me/", HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = Client().options(
        "/api/v1/me/", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


@override_settings(CORS_ALLOWED_ORIGINS=["https://app.mobilize.example"])
def test_cors_answers_only_the_configured_origins(world: World) -> None:
    client = client_for(world.patient)
    allowed = client.get("/api/v1/me/", HTTP_ORIGIN="https://app.mobilize.example")
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.mobilize.example"
    assert "Origin" in allowed.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    other = client.get("/api/v1/me/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other.headers and "Origin" in other.headers["Vary"]
    preflight = Client().options(
        "/api/v1/episodes/",
        HTTP_ORIGIN="https://app.mobilize.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.mobilize.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("origins", ["app.example", "https://app.example/", "ftp://app.example"])
def test_a_malformed_cors_origin_stops_start_up(tmp_path: Path, origins: str) -> None:
    result = run_settings(tmp_path, **PRODUCTION, CORS_ALLOWED_ORIGINS=origins)
    assert result.returncode != 0 and "CORS_ALLOWED_ORIGINS" in result.stderr.splitlines()[-1]


def test_a_malformed_write_rate_stops_start_up(tmp_path: Path) -> None:
    result = run_settings(tmp_path, **PRODUCTION, SECURITY_WRITE_RATE="lots")
    assert result.returncode != 0 and "SECURITY_WRITE_RATE" in result.stderr.splitlines()[-1]


def _production_env(tmp_path: Path) -> dict[str, str]:
    import os

    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MOBILIZE_", "DATABASE_", "REDIS_", "SECRET_", "DEBUG", "EMAIL_", "SECURE_"))
    }
    return {
        **clean,
        **PRODUCTION,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SETTINGS_MODULE": "recovery.settings",
        "MOBILIZE_VAR_DIR": str(tmp_path / "var"),
    }


PRODUCTION_PROBE = """
import django, json
django.setup()
from django.conf import settings as s
from django.test import Client
r = Client().get("/no-such-page/", secure=True, HTTP_HOST="mobilize.example")
plain = Client().get("/no-such-page/", HTTP_HOST="mobilize.example")
print(json.dumps({
    "hsts": r.headers.get("Strict-Transport-Security"),
    "csp": r.headers.get("Content-Security-Policy"),
    "redirect": [plain.status_code, plain.headers.get("Location")],
    "cookies": [s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE,
                s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_SAMESITE],
}))
"""


def test_production_sends_hsts_redirects_to_https_and_secures_cookies(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_PROBE],
        cwd=ROOT,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["csp"] == STRICT_CSP
    assert seen["redirect"] == [301, "https://mobilize.example/no-such-page/"]
    assert seen["cookies"] == [True, True, "Lax", True, "Lax"]


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
