"""What the load benchmark's simulated people do: the endpoints, their weights and request bodies.

Shared by the locust users (``bench/locustfile.py``, under gevent) and the orchestrator
(``bench/load.py``, which probes every endpoint once before the load): so nothing here imports
Django or locust.

An endpoint is named by its method and route template under ``/api/v1`` (``POST /episodes/{id}/check-ins/``),
which is also its name in locust's statistics, so figures group per endpoint and not per episode.
An endpoint whose route does not exist yet (the probe gets a 404 that no route explains) is left
out of the run and reported as skipped. A stand-in (``stands_in_for``) runs only while the endpoint
it stands in for is missing: the clinicians' cohort worklist is the episode list until ``GET /cohort/``
exists, and their trajectory read is the check-in list until ``GET /episodes/{id}/trajectory/``
exists. Adding an endpoint is one line in ``ENDPOINTS``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypedDict

API_PREFIX: Final = "/api/v1"
PATIENT: Final = "patient"
CLINICIAN: Final = "clinician"

#: Kinds of acknowledged writes, as written in the acknowledgement files (``<kind> <uuid>`` a line).
CHECK_IN: Final = "check-in"
EXERCISE_LOG: Final = "exercise-log"
WRITE_KINDS: Final = (CHECK_IN, EXERCISE_LOG)

#: Default seconds a simulated person pauses between two requests (uniform). The server's
#: keep-alive is set above the longest pause (bench/load.py).
THINK_SECONDS: Final = (0.5, 1.5)

#: Environment variable naming the JSON seed file (``Seed``) for the locust processes.
SEED_ENV: Final = "BENCH_LOAD_SEED"
#: Environment variable with the path prefix of the statistics the locustfile writes when locust
#: quits: ``<prefix>_stats.csv``, ``<prefix>_failures.csv``, ``<prefix>_exceptions.csv``.
CSV_ENV: Final = "BENCH_LOAD_CSV"


@dataclass(frozen=True)
class Endpoint:
    name: str
    role: str
    weight: int
    writes: str | None = None
    stands_in_for: str | None = None
    label: str = ""
    description: str = ""

    @property
    def method(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def template(self) -> str:
        return self.name.split(" ", 1)[1]

    def path(self, episode_id: str) -> str:
        return API_PREFIX + self.template.replace("{id}", episode_id)

    @property
    def ok_statuses(self) -> frozenset[int]:
        # 200 on a write is the replay of an id already stored: acknowledged all the same.
        return frozenset({200, 201}) if self.writes else frozenset({200})


ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    # A patient's phone: today's plan, a logged exercise session, a check-in.
    Endpoint("POST /episodes/{id}/check-ins/", PATIENT, 3, writes=CHECK_IN),
    Endpoint("POST /episodes/{id}/exercise-logs/", PATIENT, 4, writes=EXERCISE_LOG),
    Endpoint("GET /episodes/{id}/plan/today/", PATIENT, 3),
    # A clinician's dashboard: the worklist (open alerts first, then the cohort by risk), one
    # patient's trajectory, their adherence.
    Endpoint("GET /alerts/", CLINICIAN, 2, label="alert worklist"),
    Endpoint("GET /cohort/", CLINICIAN, 2, label="worklist"),
    Endpoint(
        "GET /episodes/",
        CLINICIAN,
        2,
        stands_in_for="GET /cohort/",
        label="worklist",
        description="the episode list",
    ),
    Endpoint("GET /episodes/{id}/trajectory/", CLINICIAN, 3, label="trajectory"),
    Endpoint(
        "GET /episodes/{id}/check-ins/",
        CLINICIAN,
        3,
        stands_in_for="GET /episodes/{id}/trajectory/",
        label="trajectory",
        description="the check-in list",
    ),
    Endpoint("GET /episodes/{id}/adherence/", CLINICIAN, 2),
)


def endpoint_named(name: str) -> Endpoint:
    for endpoint in ENDPOINTS:
        if endpoint.name == name:
            return endpoint
    raise KeyError(name)


def select_endpoints(
    available: Collection[str], endpoints: Sequence[Endpoint] = ENDPOINTS
) -> tuple[Endpoint, ...]:
    """The endpoints to load: the available ones, less stand-ins for an endpoint that is available."""
    return tuple(
        endpoint
        for endpoint in endpoints
        if endpoint.name in available
        and (endpoint.stands_in_for is None or endpoint.stands_in_for not in available)
    )


# ---------------------------------------------------------------------------------------------
# Seed file (written by bench/load.py, read by every locust process)
# ---------------------------------------------------------------------------------------------


class PatientSeed(TypedDict):
    token: str
    episode: str
    assignments: list[str]


class ClinicianSeed(TypedDict):
    token: str
    role: str
    episodes: list[str]


class Seed(TypedDict):
    patients: list[PatientSeed]
    clinicians: list[ClinicianSeed]
    endpoints: list[str]
    acks_dir: str
    think_seconds: tuple[float, float]


# ---------------------------------------------------------------------------------------------
# Request bodies: every write carries a fresh client-made uuid4, so every 201 is a new row
# ---------------------------------------------------------------------------------------------


def checkin_body() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "axial_pain": random.randint(0, 6),
        "limb_pain": random.randint(0, 5),
        "walking_minutes": random.choice([5, 10, 20, 30, 45]),
        "red_flags": [],
    }


def exercise_log_body(assignment_id: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "assignment": assignment_id,
        "sets_completed": random.randint(1, 3),
        "reps_completed": random.randint(5, 12),
        "pain_during": random.randint(0, 5),
        "difficulty": random.choice(["easy", "ok", "hard"]),
    }


def request_body(endpoint: Endpoint, patient: PatientSeed | None) -> dict[str, Any] | None:
    """The JSON body of one request (``None`` for a read); writes are the patient's own."""
    if endpoint.writes is None:
        return None
    if patient is None:
        raise ValueError(f"{endpoint.name} is a patient's write")
    if endpoint.writes == CHECK_IN:
        return checkin_body()
    if endpoint.writes == EXERCISE_LOG:
        return exercise_log_body(random.choice(patient["assignments"]))
    raise ValueError(f"no body for writes={endpoint.writes!r}")
