"""Configuration fails fast, naming the variable, and the demo needs no server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from recovery.env import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.DEBUG, s.ALLOWED_HOSTS]))"
)


def run_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MOBILIZE_", "DATABASE_", "REDIS_", "SECRET_", "DEBUG", "EMAIL_"))
    }
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "recovery.settings", "MOBILIZE_VAR_DIR": str(tmp_path / "var"), **env}
    )
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


PRODUCTION = {
    "MOBILIZE_ENV": "production",
    "SECRET_KEY": "x" * 50,
    "DATABASE_URL": "postgres://u@db:5432/mobilize",
    "REDIS_URL": "redis://redis:6379/0",
    "ALLOWED_HOSTS": "mobilize.example",
}


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://u@db/x"}, "DATABASE_URL"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"REDIS_URL": "http://redis"}, "REDIS_URL"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT"),
        ({"MOBILIZE_ENV": "staging"}, "MOBILIZE_ENV"),
        ({"MOBILIZE_BASE_URL": "ftp://x"}, "MOBILIZE_BASE_URL"),
    ],
)
def test_bad_configuration_stops_start_up_naming_the_variable(
    tmp_path: Path, change: dict[str, str], variable: str
) -> None:
    result = run_settings(tmp_path, **{**PRODUCTION, **change})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and variable in result.stderr.splitlines()[-1]


def test_production_settings_load_with_debug_off(tmp_path: Path) -> None:
    result = run_settings(tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert (
        '"django.db.backends.postgresql", "redis://redis:6379/0", false, ["mobilize.example"]'
        in result.stdout
    )


def test_demo_runs_on_sqlite_and_a_file_system_broker(tmp_path: Path) -> None:
    result = run_settings(tmp_path, MOBILIZE_ENV="demo")
    assert result.returncode == 0, result.stderr
    assert '"django.db.backends.sqlite3", "filesystem://"' in result.stdout
    assert (tmp_path / "var" / "broker" / "in").is_dir()


def test_demo_uses_redis_and_postgres_when_given(tmp_path: Path) -> None:
    result = run_settings(
        tmp_path,
        MOBILIZE_ENV="demo",
        REDIS_URL="redis://127.0.0.1:6379/3",
        DATABASE_URL="postgres://p@127.0.0.1/m",
    )
    assert '"django.db.backends.postgresql", "redis://127.0.0.1:6379/3"' in result.stdout


def test_env_helpers_parse_strictly() -> None:
    env = {"B": "yes", "I": "42", "L": "a, b,,c", "BAD": "nope", "NEG": "-1"}
    assert env_bool("B", False, environ=env) is True
    assert env_bool("MISSING", True, environ=env) is True
    assert env_int("I", 0, environ=env) == 42
    assert env_list("L", [], environ=env) == ["a", "b", "c"]
    assert env_str("MISSING", "d", environ=env) == "d"
    with pytest.raises(ImproperlyConfigured, match="BAD"):
        env_bool("BAD", False, environ=env)
    with pytest.raises(ImproperlyConfigured, match="NEG"):
        env_int("NEG", 0, minimum=0, environ=env)
    with pytest.raises(ImproperlyConfigured, match="REQUIRED"):
        env_str("REQUIRED", environ=env)
