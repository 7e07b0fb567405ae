"""Bearer tokens per device, CSRF on session writes, and the per-user write rate limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from recovery.accounts.models import ApiToken
from recovery.accounts.services import token_issue
from recovery.security.ratelimit import Rate, parse_rate
from tests.conftest import World, client_for
from tests.factories import PASSWORD


@pytest.fixture(autouse=True)
def _generous_rate() -> Iterator[None]:
    with override_settings(SECURITY_WRITE_RATE="100000/minute"):
        yield


def sign_in(email: str, **extra: Any) -> Any:
    return APIClient().post(
        "/api/v1/auth/token/", {"email": email, "password": PASSWORD, **extra}, format="json"
    )


def bearer(token: str, **defaults: Any) -> APIClient:
    client = APIClient(**defaults)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# Tokens per device ---------------------------------------------------------------------------------


def test_token_list_shows_live_tokens_with_their_device_and_marks_the_current_one(world: World) -> None:
    phone = sign_in(world.surgeon.email, device="Ana's phone").json()["token"]
    laptop = sign_in(world.surgeon.email).json()["token"]
    revoked = sign_in(world.surgeon.email, device="old tablet").json()["token"]
    assert bearer(revoked).delete("/api/v1/auth/token/").status_code == 204
    token_issue(user=world.physio)
    stale_raw, stale = token_issue(user=world.surgeon)
    ApiToken.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = bearer(laptop).get("/api/v1/auth/tokens/")
    assert response.status_code == 200
    listed = response.json()
    assert [t["device"] for t in listed] == ["", "Ana's phone"]
    assert [t["current"] for t in listed] == [True, False]
    assert set(listed[0]) == {
        "id",
        "device",
        "client",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "current",
    }
    text = response.content.decode()
    for secret in (phone, laptop, stale_raw):
        assert secret not in text
    assert listed[1]["prefix"] == phone[:10]


def test_token_list_costs_the_same_queries_for_one_or_many_tokens(world: World) -> None:
    raw, _ = token_issue(user=world.surgeon)
    client = bearer(raw)
    client.get("/api/v1/auth/tokens/")
    with CaptureQueriesContext(connection) as one:
        client.get("/api/v1/auth/tokens/")
    for n in range(5):
        sign_in(world.surgeon.email, device=f"device {n}")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/api/v1/auth/tokens/")
    assert len(response.json()) == 6
    assert len(many) == len(one)


def test_revoking_one_of_my_tokens_stops_it_and_only_it(world: World) -> None:
    mine = sign_in(world.patient.email, device="phone").json()["token"]
    other = sign_in(world.patient.email, device="tablet").json()["token"]
    other_id = next(t["id"] for t in bearer(mine).get("/api/v1/auth/tokens/").json() if not t["current"])
    assert bearer(mine).delete(f"/api/v1/auth/tokens/{other_id}/").status_code == 204
    assert bearer(other).get("/api/v1/me/").status_code == 401
    assert bearer(mine).get("/api/v1/me/").status_code == 200
    # Again: it is no longer live, so it is not found.
    assert bearer(mine).delete(f"/api/v1/auth/tokens/{other_id}/").status_code == 404


def test_someone_elses_token_is_404_and_keeps_working(world: World) -> None:
    theirs, token = token_issue(user=world.other_patient)
    response = client_for(world.patient).delete(f"/api/v1/auth/tokens/{token.id}/")
    assert response.status_code == 404 and set(response.json()) == {"errors"}
    assert bearer(theirs).get("/api/v1/me/").status_code == 200
    assert client_for(world.patient).delete(f"/api/v1/auth/tokens/{uuid.uuid4()}/").status_code == 404


def test_revoking_all_others_keeps_the_current_token(world: World) -> None:
    keep = sign_in(world.physio.email, device="desk").json()["token"]
    others = [sign_in(world.physio.email).json()["token"] for _ in range(3)]
    theirs, _ = token_issue(user=world.surgeon)
    assert bearer(keep).delete("/api/v1/auth/tokens/").status_code == 204
    assert bearer(keep).delete("/api/v1/auth/tokens/").status_code == 204
    assert all(bearer(t).get("/api/v1/me/").status_code == 401 for t in others)
    assert bearer(keep).get("/api/v1/me/").status_code == 200
    assert bearer(theirs).get("/api/v1/me/").status_code == 200
    assert [t["current"] for t in bearer(keep).get("/api/v1/auth/tokens/").json()] == [True]


@pytest.mark.parametrize(("device", "message_part"), [("x" * 101, "100"), (7, "string")])
def test_a_bad_device_name_is_400_naming_device(world: World, device: Any, message_part: str) -> None:
    response = sign_in(world.patient.email, device=device)
    assert response.status_code == 400
    assert message_part in response.json()["errors"]["device"][0]
    assert not ApiToken.objects.filter(user=world.patient).exists()


# CSRF on session writes ----------------------------------------------------------------------------


def _session_client(world: World) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    csrf = client.get("/api/v1/auth/csrf/").json()["csrf_token"]
    response = client.post(
        "/api/v1/auth/login/",
        {"email": world.patient.email, "password": PASSWORD},
        format="json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == 200
    return client


def test_session_cookie_is_http_only_and_same_site_lax(world: World) -> None:
    client = _session_client(world)
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"
    assert client.cookies["csrftoken"]["samesite"] == "Lax"


def test_session_write_without_csrf_token_is_403_json_and_saves_nothing(world: World) -> None:
    client = _session_client(world)
    url = f"/api/v1/episodes/{world.episode.id}/check-ins/"
    checkin = {"id": str(uuid.uuid4()), "axial_pain": 3, "limb_pain": 2}
    refused = client.post(url, checkin, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["errors"]["non_field_errors"][0]
    assert client.get(url).json()["count"] == 0
    accepted = client.post(url, checkin, format="json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert accepted.status_code == 201


def test_token_authenticated_writes_need_no_csrf_token(world: World) -> None:
    raw, _ = token_issue(user=world.patient)
    client = bearer(raw, enforce_csrf_checks=True)
    url = f"/api/v1/episodes/{world.episode.id}/check-ins/"
    response = client.post(url, {"id": str(uuid.uuid4()), "axial_pain": 3, "limb_pain": 2}, format="json")
    assert response.status_code == 201


# Write rate limit ----------------------------------------------------------------------------------


def minute_start() -> datetime:
    """Five seconds into the next minute: a whole fixed window ahead, whatever the time of day."""
    return timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=5)


def test_writes_over_the_rate_are_429_with_retry_after(world: World) -> None:
    patient = client_for(world.patient)
    physio = client_for(world.physio)
    t0 = minute_start()
    with override_settings(SECURITY_WRITE_RATE="3/minute"), time_machine.travel(t0, tick=False) as clock:
        for _ in range(3):
            assert patient.delete("/api/v1/auth/tokens/").status_code == 204
        refused = patient.delete("/api/v1/auth/tokens/")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "55"
        assert set(refused.json()["errors"]) == {"non_field_errors"}
        assert "throttled" in refused.json()["errors"]["non_field_errors"][0]
        # Reads are not limited, and the limit is per user.
        assert patient.get("/api/v1/auth/tokens/").status_code == 200
        assert physio.delete("/api/v1/auth/tokens/").status_code == 204
        clock.move_to(t0 + timedelta(seconds=55))
        assert patient.delete("/api/v1/auth/tokens/").status_code == 204


def test_a_refused_write_saves_nothing(world: World) -> None:
    patient = client_for(world.patient)
    url = f"/api/v1/episodes/{world.episode.id}/check-ins/"
    with override_settings(SECURITY_WRITE_RATE="1/minute"), time_machine.travel(minute_start(), tick=True):
        assert patient.delete("/api/v1/auth/tokens/").status_code == 204
        checkin = {"id": str(uuid.uuid4()), "axial_pain": 3, "limb_pain": 2}
        assert patient.post(url, checkin, format="json").status_code == 429
    assert patient.get(url).json()["count"] == 0


def test_anonymous_writes_are_limited_per_address(world: World) -> None:
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    with override_settings(SECURITY_WRITE_RATE="2/minute"), time_machine.travel(minute_start(), tick=False):
        client = APIClient(REMOTE_ADDR=address)
        body = {"email": world.patient.email, "password": PASSWORD}
        assert client.post("/api/v1/auth/token/", body, format="json").status_code == 201
        assert client.post("/api/v1/auth/token/", body, format="json").status_code == 201
        refused = client.post("/api/v1/auth/token/", body, format="json")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "55"
        other = APIClient(REMOTE_ADDR="192.0.2.77")
        assert other.post("/api/v1/auth/token/", body, format="json").status_code == 201
    assert ApiToken.objects.filter(user=world.patient).count() == 3


@pytest.mark.parametrize(
    ("text", "rate"), [("120/minute", Rate(120, 60)), ("5/second", Rate(5, 1)), (" 2 / hour ", Rate(2, 3600))]
)
def test_rates_parse(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "120", "0/minute", "10/fortnight", "-1/second", "ten/minute"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="120/minute"):
        parse_rate(text)
