"""Locust users of ``python -m bench load``: patients writing, clinicians reading.

Run by ``bench/load.py`` (``python -m locust -f bench/locustfile.py --headless ...``) with the
environment variable ``BENCH_LOAD_SEED`` naming the seed file: tokens, episodes and assignments of
the seeded people, the endpoints to load (those the probe found), and the folder for acknowledgements.
The endpoints, their weights and bodies are in ``bench/load_plan.py``.

The statistics are written when locust quits, in the format of locust's ``--csv`` files, to the
prefix in ``BENCH_LOAD_CSV``: locust's own ``--csv`` writer rewrites its files once a second and
is stopped before the last requests are counted (the last second, and those that finish during
``--stop-timeout``), so its figures would fall short of the acknowledged writes.

Every write that the server acknowledges (201, or 200 for a replay) is appended to
``<acks_dir>/acks-<pid>.txt`` as ``<kind> <id>`` before the next request of that user, so that
afterwards the stored rows can be compared with what the clients were told was stored.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from locust import FastHttpUser, TaskSet, between, events
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from bench.load_plan import (
    CLINICIAN,
    CSV_ENV,
    PATIENT,
    SEED_ENV,
    ClinicianSeed,
    Endpoint,
    PatientSeed,
    Seed,
    request_body,
    select_endpoints,
)

SEED: Seed = json.loads(Path(os.environ[SEED_ENV]).read_text())
ENABLED = select_endpoints(SEED["endpoints"])


class _Acks:
    """One append-only file per process (locust may fork workers); one line per acknowledged write."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self._pid = -1
        self._file: IO[str] | None = None

    def record(self, kind: str, row_id: str) -> None:
        if self._file is None or self._pid != os.getpid():
            self._pid = os.getpid()
            # Line-buffered: a line is in the file as soon as it is written, even if locust is killed.
            self._file = (self.folder / f"acks-{self._pid}.txt").open("a", buffering=1, encoding="utf-8")
        self._file.write(f"{kind} {row_id}\n")


ACKS = _Acks(SEED["acks_dir"])
_environments: list[Environment] = []


@events.init.add_listener
def _remember_environment(environment: Environment, **_: Any) -> None:
    _environments.append(environment)


@events.quit.add_listener
def _write_statistics(**_: Any) -> None:
    # Fired after the runner has stopped every user: the statistics are complete.
    prefix = os.environ.get(CSV_ENV)
    if not prefix or not _environments:
        return
    writer = StatsCSV(_environments[0], PERCENTILES_TO_REPORT)
    for suffix, write in (
        ("stats", writer.requests_csv),
        ("failures", writer.failures_csv),
        ("exceptions", writer.exceptions_csv),
    ):
        with Path(f"{prefix}_{suffix}.csv").open("w", newline="", encoding="utf-8") as file:
            write(csv.writer(file))


_patients = itertools.cycle(SEED["patients"])
_clinicians = itertools.cycle(SEED["clinicians"])


def _task(endpoint: Endpoint) -> Callable[[BenchUser], None]:
    def task(user: BenchUser) -> None:
        user.call(endpoint)

    task.__name__ = endpoint.name
    return task


def _tasks(role: str) -> list[TaskSet | Callable[..., Any]]:
    # A task listed n times is picked n times as often (what locust makes of a {task: weight} dict).
    return [_task(endpoint) for endpoint in ENABLED if endpoint.role == role for _ in range(endpoint.weight)]


class BenchUser(FastHttpUser):
    abstract = True
    wait_time = between(*SEED["think_seconds"])
    connection_timeout = 10.0
    network_timeout = 30.0

    token: str
    patient: PatientSeed | None = None

    def episode_id(self) -> str:
        raise NotImplementedError

    def call(self, endpoint: Endpoint) -> None:
        body = request_body(endpoint, self.patient)
        with self.client.request(
            endpoint.method,
            endpoint.path(self.episode_id()),
            name=endpoint.name,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            catch_response=True,
        ) as response:
            if response.status_code in endpoint.ok_statuses:
                if body is not None and endpoint.writes is not None:
                    ACKS.record(endpoint.writes, str(body["id"]))
                response.success()
            elif response.status_code:
                text: Any = response.text or ""
                response.failure(f"HTTP {response.status_code}: {str(text)[:160]}")
            else:
                response.failure(f"no response: {getattr(response, 'error', None)!r}")


class PatientUser(BenchUser):
    """One seeded patient on their phone (patients are handed out in turn, shared when fewer)."""

    weight = 4
    tasks = _tasks(PATIENT)

    def on_start(self) -> None:
        self.patient = next(_patients)
        self.token = self.patient["token"]

    def episode_id(self) -> str:
        assert self.patient is not None
        return self.patient["episode"]


class ClinicianUser(BenchUser):
    """The surgeon or a physiotherapist at the dashboard, looking at episodes in their scope."""

    weight = 1
    tasks = _tasks(CLINICIAN)
    clinician: ClinicianSeed

    def on_start(self) -> None:
        self.clinician = next(_clinicians)
        self.token = self.clinician["token"]

    def episode_id(self) -> str:
        return random.choice(self.clinician["episodes"])
