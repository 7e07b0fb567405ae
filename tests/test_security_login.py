"""Sign-in throttling and lockout: per account and per address, no user enumeration, a success resets
the account's count. Limits are pinned here (5 per account, 20 per address, 15-minute window and
lockout) so the tests do not depend on the environment."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import RequestFactory, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from recovery.security.models import Lockout, LoginFailure
from recovery.security.net import client_address
from tests.conftest import World
from tests.factories import PASSWORD

LOCKED_BODY = {
    "errors": {
        "non_field_errors": [
            "Too many failed sign-in attempts. Try again later. Expected available in 900 seconds."
        ]
    }
}


@pytest.fixture(autouse=True)
def _limits() -> Iterator[None]:
    # The write rate limit is another test's subject; keep it out of the way of these sign-in bursts.
    with override_settings(
        SECURITY_LOGIN_ACCOUNT_FAILURES=5,
        SECURITY_LOGIN_ADDRESS_FAILURES=20,
        SECURITY_LOGIN_WINDOW_SECONDS=900,
        SECURITY_LOGIN_LOCKOUT_SECONDS=900,
        SECURITY_WRITE_RATE="100000/minute",
    ):
        yield


def fresh_address() -> str:
    """A TEST-NET-3 address of its own per test, so address counts never mix between tests."""
    n = uuid.uuid4().int
    return f"203.0.{n % 250}.{(n >> 8) % 250 + 1}"


def sign_in(email: str, password: str, address: str = "198.51.100.1", **extra: Any) -> Any:
    return APIClient(REMOTE_ADDR=address).post(
        "/api/v1/auth/token/", {"email": email, "password": password, **extra}, format="json"
    )


def start() -> datetime:
    return timezone.now().replace(microsecond=0)


def test_five_failures_lock_the_account_for_fifteen_minutes(world: World) -> None:
    address = fresh_address()
    t0 = start()
    with time_machine.travel(t0, tick=False) as clock:
        for _ in range(5):
            assert sign_in(world.patient.email, "wrong-password", address).status_code == 401
        locked = sign_in(world.patient.email, PASSWORD, address)
        assert locked.status_code == 429
        assert locked.headers["Retry-After"] == "900"
        assert locked.json() == LOCKED_BODY
        clock.move_to(t0 + timedelta(minutes=14, seconds=59))
        still = sign_in(world.patient.email, PASSWORD, address)
        assert still.status_code == 429 and still.headers["Retry-After"] == "1"
        clock.move_to(t0 + timedelta(minutes=15, seconds=1))
        assert sign_in(world.patient.email, PASSWORD, address).status_code == 201


def test_the_lockout_is_per_account_not_for_everyone(world: World) -> None:
    address = fresh_address()
    for _ in range(5):
        sign_in(world.patient.email, "wrong-password", address)
    assert sign_in(world.patient.email, PASSWORD, address).status_code == 429
    assert sign_in(world.physio.email, PASSWORD, address).status_code == 201


def test_a_locked_answer_does_not_tell_whether_the_email_exists_or_the_password_is_right(
    world: World,
) -> None:
    t0 = start()
    with time_machine.travel(t0, tick=False):
        for email in (world.patient.email, "nobody@river.example"):
            for _ in range(5):
                assert sign_in(email, "wrong-password", fresh_address()).status_code == 401
        answers = [
            sign_in(world.patient.email, PASSWORD, fresh_address()),
            sign_in("PATIENT@river.example ", "wrong-password", fresh_address()),
            sign_in("nobody@river.example", PASSWORD, fresh_address()),
        ]
    assert {(a.status_code, a.headers["Retry-After"]) for a in answers} == {(429, "900")}
    assert all(a.json() == LOCKED_BODY for a in answers)


def test_an_unknown_email_costs_a_password_hash_like_a_wrong_password(world: World) -> None:
    calls: list[str] = []
    original = MD5PasswordHasher.encode

    def spy(self: MD5PasswordHasher, password: str, salt: str) -> str:
        calls.append(password)
        return original(self, password, salt)

    with mock.patch.object(MD5PasswordHasher, "encode", spy):
        sign_in("nobody@river.example", "guess-one", fresh_address())
        unknown = calls.count("guess-one")
        sign_in(world.patient.email, "guess-two", fresh_address())
        known = calls.count("guess-two")
    assert unknown == known == 1


def test_a_success_resets_the_account_count(world: World) -> None:
    address = fresh_address()
    for _ in range(4):
        assert sign_in(world.patient.email, "wrong-password", address).status_code == 401
    assert sign_in(world.patient.email, PASSWORD, address).status_code == 201
    for _ in range(4):
        assert sign_in(world.patient.email, "wrong-password", address).status_code == 401
    assert sign_in(world.patient.email, PASSWORD, address).status_code == 201
    assert LoginFailure.objects.filter(email=world.patient.email, cleared_at__isnull=True).count() == 0
    assert LoginFailure.objects.filter(email=world.patient.email).count() == 8


def test_failures_older_than_the_window_do_not_count(world: World) -> None:
    address = fresh_address()
    t0 = start()
    with time_machine.travel(t0, tick=False) as clock:
        for _ in range(4):
            sign_in(world.patient.email, "wrong-password", address)
        clock.move_to(t0 + timedelta(minutes=15, seconds=1))
        assert sign_in(world.patient.email, "wrong-password", address).status_code == 401
        assert sign_in(world.patient.email, PASSWORD, address).status_code == 201


def test_attempts_during_a_lockout_are_not_counted(world: World) -> None:
    address = fresh_address()
    t0 = start()
    with time_machine.travel(t0, tick=False) as clock:
        for _ in range(5):
            sign_in(world.patient.email, "wrong-password", address)
        for _ in range(10):
            assert sign_in(world.patient.email, "wrong-password", address).status_code == 429
        assert LoginFailure.objects.filter(email=world.patient.email).count() == 5
        clock.move_to(t0 + timedelta(minutes=15, seconds=1))
        # The lock ended on time and one more mistake does not bring it back.
        assert sign_in(world.patient.email, "wrong-password", address).status_code == 401
        assert sign_in(world.patient.email, PASSWORD, address).status_code == 201


def test_twenty_failures_from_one_address_refuse_that_address(world: World) -> None:
    address = fresh_address()
    t0 = start()
    with time_machine.travel(t0, tick=False):
        for n in range(20):
            # Twenty different emails: no single account reaches its own limit.
            assert sign_in(f"guess{n}@river.example", "wrong-password", address).status_code == 401
        refused = sign_in(world.patient.email, PASSWORD, address)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "900"
        assert refused.json() == LOCKED_BODY
        assert sign_in(world.patient.email, PASSWORD, fresh_address()).status_code == 201
    assert Lockout.objects.filter(scope="address", key=address).exists()


def test_session_sign_in_shares_the_lockout(world: World) -> None:
    with time_machine.travel(start(), tick=False):
        for _ in range(5):
            sign_in(world.surgeon.email, "wrong-password", fresh_address())
        client = APIClient(enforce_csrf_checks=True, REMOTE_ADDR=fresh_address())
        csrf = client.get("/api/v1/auth/csrf/").json()["csrf_token"]
        response = client.post(
            "/api/v1/auth/login/",
            {"email": world.surgeon.email, "password": PASSWORD},
            format="json",
            HTTP_X_CSRFTOKEN=csrf,
        )
    assert response.status_code == 429 and response.json() == LOCKED_BODY
    assert response.headers["Retry-After"] == "900"
    assert "sessionid" not in response.cookies


def test_session_sign_in_failures_count_toward_the_lockout(world: World) -> None:
    client = APIClient(REMOTE_ADDR=fresh_address())
    for _ in range(5):
        response = client.post(
            "/api/v1/auth/login/", {"email": world.surgeon.email, "password": "nope"}, format="json"
        )
        assert response.status_code == 401
    assert sign_in(world.surgeon.email, PASSWORD, fresh_address()).status_code == 429


def test_bad_input_is_400_and_is_not_a_failure(world: World) -> None:
    response = APIClient().post("/api/v1/auth/token/", {"email": world.patient.email}, format="json")
    assert response.status_code == 400 and "password" in response.json()["errors"]
    assert not LoginFailure.objects.exists()


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.1.1.1", "10.0.0.9"),
        (1, "6.6.6.6, 198.51.100.20", "198.51.100.20"),
        (2, "6.6.6.6, 198.51.100.20, 10.0.0.2", "198.51.100.20"),
        (2, "198.51.100.20", "10.0.0.9"),
    ],
)
def test_client_address_trusts_only_the_configured_proxies(
    proxies: int, forwarded: str, expected: str
) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(SECURITY_TRUSTED_PROXIES=proxies):
        assert client_address(request) == expected


def test_old_failures_and_lockouts_are_purged_once(world: World) -> None:
    from recovery.security.tasks import purge_login_failures

    t0 = start()
    with time_machine.travel(t0 - timedelta(days=31), tick=False):
        for _ in range(5):
            sign_in("old@river.example", "wrong-password", fresh_address())
    sign_in("new@river.example", "wrong-password", fresh_address())
    assert purge_login_failures.delay().get() == 6
    assert purge_login_failures.delay().get() == 0
    assert list(LoginFailure.objects.values_list("email", flat=True)) == ["new@river.example"]
    assert not Lockout.objects.exists()
