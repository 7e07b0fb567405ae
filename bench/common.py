"""What the benchmarks share: the bench database, in-process Django, a gunicorn server on a free port.

Nothing here prints: each benchmark reports its own figures. Something that breaks (a database
that cannot be created, a server that does not come up) raises ``BenchError``, and the benchmark
exits non-zero.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from recovery.env import env_str

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/mobilize_bench"
HOST = "127.0.0.1"


class BenchError(Exception):
    """Something broke (not a slow figure): the run exits non-zero."""


def add_database_argument(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--database-url",
        default=env_str("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help=f"PostgreSQL database to create, migrate and use (env BENCH_DATABASE_URL, default {DEFAULT_DATABASE_URL})",
    )


# ---------------------------------------------------------------------------------------------
# Database and in-process Django
# ---------------------------------------------------------------------------------------------


def inprocess_environment(database_url: str) -> dict[str, str]:
    """Settings of the benchmark's own process (seeding, query counts): test settings, bench routes on."""
    return {
        "DJANGO_SETTINGS_MODULE": "recovery.settings",
        "MOBILIZE_ENV": "test",
        "MOBILIZE_BENCH": "1",
        "DEBUG": "false",
        "DATABASE_URL": database_url,
    }


def ensure_database(database_url: str) -> str:
    """Create the database if it does not exist; returns its name."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(database_url)
    if not str(config["ENGINE"]).endswith("postgresql"):
        raise BenchError(f"the benchmark needs a postgres:// database URL, got {database_url!r}")
    name = str(config["NAME"])
    params: dict[str, Any] = {
        key: value
        for key, value in {
            "host": config.get("HOST"),
            "port": config.get("PORT"),
            "user": config.get("USER"),
            "password": config.get("PASSWORD"),
        }.items()
        if value
    }
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise BenchError(f"cannot prepare the database {name!r}: {exc}") from None
    return name


def setup_django(database_url: str) -> None:
    """Set Django up in this process against the bench database and migrate it.

    Running a second benchmark in the same process is fine: the settings are already loaded from
    the same environment, ``django.setup`` does nothing the second time and ``migrate`` finds no work.
    """
    os.environ.update(inprocess_environment(database_url))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def log_tail(log: IO[bytes], lines: int = 30) -> str:
    log.flush()
    log.seek(0)
    return "\n".join(log.read().decode("utf-8", "replace").splitlines()[-lines:])


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log: IO[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"gunicorn exited with {process.returncode}:\n{log_tail(log)}")
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/api/v1/health/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    raise BenchError(f"gunicorn did not answer /api/v1/health/ within {timeout:.0f} s:\n{log_tail(log)}")


@contextmanager
def running_gunicorn(
    *,
    port: int,
    workers: int,
    threads: int,
    worker_class: str,
    env: Mapping[str, str],
    extra_args: Sequence[str] = (),
) -> Iterator[IO[bytes]]:
    """``recovery.wsgi:application`` under gunicorn on ``HOST:port``, healthy on entry, stopped on exit.

    ``env`` is the server's whole environment. Yields the server's log (a temporary file).
    """
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "recovery.wsgi:application",
        f"--bind={HOST}:{port}",
        f"--workers={workers}",
        f"--worker-class={worker_class}",
        f"--threads={threads}",
        "--keep-alive=5",
        "--log-level=warning",
        *extra_args,
    ]
    with tempfile.TemporaryFile(prefix="mobilize-bench-gunicorn-") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_healthy(process, port, log)
            yield log
            if process.poll() is not None:
                raise BenchError(f"gunicorn exited during the run:\n{log_tail(log)}")
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
