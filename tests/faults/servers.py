"""Throwaway servers and fault switches for the fault tests.

``RedisServer`` runs a real ``redis-server`` on a free loopback port (no persistence) that a test stops
and starts again on the same port. ``use_broker`` points this process's Celery app at it (and drops the
pooled connections to the previous broker). ``kill_own_backend_on`` terminates this process's own
PostgreSQL backend (``pg_terminate_backend`` from a second connection) just before a chosen statement
runs: what a database restart does to a request that is in flight.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection

from recovery.celery import app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def _drop_broker_pools() -> None:
    # Celery caches its connection and producer pools on first use; they hold the old broker's URL.
    # Only the references go: the pools themselves live in kombu's registry (keyed by URL) and are
    # shared, so closing them would break whoever uses that broker next.
    celery_app: Any = app
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def use_broker(url: str) -> Iterator[None]:
    conf: Any = app.conf
    previous = conf.broker_url
    conf.broker_url = url
    _drop_broker_pools()
    try:
        yield
    finally:
        conf.broker_url = previous
        _drop_broker_pools()


def dsn() -> str:
    db = connection.settings_dict
    return f"host={db['HOST']} port={db['PORT']} user={db['USER']} dbname={db['NAME']}"


def terminate_backend(pid: int) -> None:
    with psycopg.connect(dsn(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


def count_rows(sql: str, params: list[Any] | None = None) -> int:
    """Count through a connection of its own: the test's connection may be the one that was cut."""
    with psycopg.connect(dsn(), autocommit=True) as other:
        row = other.execute(sql, params or []).fetchone()
        assert row is not None
        return int(row[0])


@contextmanager
def kill_own_backend_on(fragment: str) -> Iterator[list[str]]:
    """Terminate this connection's server backend right before the first statement containing
    ``fragment``; that statement then fails as it would against a restarting server. Yields the
    statements that were cut (one at most)."""
    cut: list[str] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not cut and fragment in sql:
            cut.append(sql)
            terminate_backend(connection.connection.info.backend_pid)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield cut
