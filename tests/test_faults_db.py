"""The database going away under requests.

First for real: a throwaway PostgreSQL cluster holding a copy of the test database, gunicorn in front
of it, and the cluster restarted (and stopped for a while) while the patient posts check-ins over HTTP.
Then deterministically, by terminating the server backend of this process's own
connection (``pg_terminate_backend``: what a PostgreSQL restart does to every open session) at a chosen
statement. The request in flight answers 503 with the standard error body and stores nothing, not half
of anything; the next request gets a working connection again; a retry with the same client UUID
stores exactly one check-in.

The test client turns off Django's ``request_started -> close_old_connections`` (so a test's connection
survives between requests); the tests call it where a real server would, at the start of each request.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.db import close_old_connections, connection

from recovery.accounts.services import token_issue
from recovery.checkins.models import CheckIn
from recovery.outbox.models import OutboxMessage
from tests.conftest import World, client_for
from tests.faults.postgres import ThrowawayPostgres, WebServer, postgres_bin
from tests.faults.servers import count_rows, kill_own_backend_on, terminate_backend

UNAVAILABLE = {
    "errors": {
        "non_field_errors": ["The service is briefly unavailable. Your data was not saved; please try again."]
    }
}


def url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/check-ins/"


def stored(checkin_id: str) -> int:
    return count_rows("SELECT count(*) FROM checkins_checkin WHERE id = %s", [checkin_id])


def post(client: Any, world: World, body: dict[str, Any]) -> Any:
    close_old_connections()  # Django does this as each request starts (see the module docstring).
    return client.post(url(world), body, format="json")


@pytest.mark.django_db(transaction=True)
def test_database_cut_during_a_check_in_answers_503_and_the_retry_stores_one(world: World) -> None:
    client = client_for(world.patient)
    body: dict[str, Any] = {"id": str(uuid.uuid4()), "axial_pain": 3, "limb_pain": 2}
    with kill_own_backend_on('INSERT INTO "checkins_checkin"') as cut:
        response = post(client, world, body)
    assert cut, "the insert never ran"
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "5"
    assert stored(body["id"]) == 0

    retried = post(client, world, body)
    assert retried.status_code == 201, retried.content
    replayed = post(client, world, body)
    assert replayed.status_code == 200
    assert replayed.json()["id"] == body["id"]
    assert stored(body["id"]) == 1


@pytest.mark.django_db(transaction=True)
def test_database_cut_between_a_red_flag_check_in_and_its_outbox_row_saves_neither(world: World) -> None:
    client = client_for(world.patient)
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "axial_pain": 6,
        "limb_pain": 7,
        "red_flags": ["new_weakness"],
    }
    with kill_own_backend_on('INSERT INTO "outbox_outboxmessage"') as cut:
        response = post(client, world, body)
    assert cut
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert stored(body["id"]) == 0
    assert count_rows("SELECT count(*) FROM outbox_outboxmessage") == 0

    assert post(client, world, body).status_code == 201
    assert post(client, world, body).status_code == 200
    assert CheckIn.objects.filter(pk=body["id"]).count() == 1
    # One alert task for the one check-in, published or run once (the tests run tasks eagerly).
    assert OutboxMessage.objects.filter(args=[body["id"]]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_connection_cut_while_idle_is_replaced_before_the_next_request(world: World) -> None:
    client = client_for(world.patient)
    assert post(client, world, {"id": str(uuid.uuid4()), "axial_pain": 1, "limb_pain": 1}).status_code == 201
    # A restart between requests: the pooled connection (CONN_MAX_AGE) is dead; the health check on
    # its first use in the next request notices and reconnects, so that request succeeds.
    terminate_backend(connection.connection.info.backend_pid)
    body: dict[str, Any] = {"id": str(uuid.uuid4()), "axial_pain": 2, "limb_pain": 2}
    response = post(client, world, body)
    assert response.status_code == 201, response.content
    assert stored(body["id"]) == 1


@pytest.fixture
def cluster() -> Iterator[ThrowawayPostgres]:
    bindir = postgres_bin()
    assert bindir is not None, "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    pg = ThrowawayPostgres(bindir)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


@pytest.mark.django_db(transaction=True)
def test_a_real_database_restart_under_a_running_server_fails_cleanly_and_retries_store_once(
    world: World, cluster: ThrowawayPostgres
) -> None:
    raw, _ = token_issue(user=world.patient)
    db = connection.settings_dict
    cluster.clone_from(f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    server = WebServer(
        {
            **os.environ,
            "MOBILIZE_ENV": "test",
            "DATABASE_URL": cluster.url(),
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "LOG_LEVEL": "WARNING",
            # The posting loop below sends hundreds of writes a minute; the rate limit is not under test.
            "SECURITY_WRITE_RATE": "100000/minute",
        }
    )
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {raw}"
    endpoint = f"{server.origin}{url(world)}"

    def send(checkin_id: str) -> requests.Response:
        body = {"id": checkin_id, "axial_pain": 4, "limb_pain": 3, "red_flags": ["fever"]}
        return session.post(endpoint, json=body, timeout=20)

    try:
        assert send(str(uuid.uuid4())).status_code == 201, server.output()
        # Restarted between requests: the pooled connection is dead; the next request reconnects.
        cluster.restart()
        assert send(str(uuid.uuid4())).status_code == 201, server.output()

        # Down: the request fails cleanly and promptly, and saves nothing.
        cluster.stop()
        down_id = str(uuid.uuid4())
        down = send(down_id)
        assert down.status_code == 503, down.text
        assert down.json() == UNAVAILABLE
        assert down.elapsed.total_seconds() < 6
        cluster.start()
        assert cluster.count(f"SELECT count(*) FROM checkins_checkin WHERE id = '{down_id}'") == 0
        assert send(down_id).status_code == 201
        assert send(down_id).status_code == 200

        # Restarted while requests are in flight: each answers 201 or a clean 503, none hangs or 500s.
        answers: list[tuple[str, int, Any]] = []
        stop = threading.Event()

        def patient_keeps_posting() -> None:
            while not stop.is_set():
                checkin_id = str(uuid.uuid4())
                response = send(checkin_id)
                answers.append((checkin_id, response.status_code, response.json()))

        posters = [threading.Thread(target=patient_keeps_posting) for _ in range(3)]
        for poster in posters:
            poster.start()
        try:
            cluster.restart()
        finally:
            stop.set()
            for poster in posters:
                poster.join(timeout=30)
        assert answers, "no request was made during the restart"
        assert {status for _, status, _ in answers} <= {201, 503}, answers
        assert all(body == UNAVAILABLE for _, status, body in answers if status == 503)
        # The app retries the failed ones with the same ids: each is stored exactly once.
        for checkin_id, status, _ in answers:
            if status == 503:
                assert send(checkin_id).status_code in {200, 201}
            assert send(checkin_id).status_code == 200
        expected = 3 + len(answers)
        assert cluster.count("SELECT count(*) FROM checkins_checkin") == expected
        assert cluster.count("SELECT count(DISTINCT id) FROM checkins_checkin") == expected
        # Every red-flag check-in has exactly one alert task in the outbox, run once.
        assert (
            cluster.count("SELECT count(*) FROM outbox_outboxmessage WHERE task LIKE '%raise_red_flag%'")
            == expected
        )
        assert "Traceback" not in server.output(), server.output()
    finally:
        server.stop()
