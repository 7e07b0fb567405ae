"""Signing in: bearer tokens, sessions with CSRF, invitations and password rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.tokens import default_token_generator
from django.test import override_settings
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from recovery.accounts.models import ApiToken, Invitation
from recovery.accounts.services import hash_token
from tests.conftest import World
from tests.factories import PASSWORD, PatientFactory


def sign_in(email: str, password: str = PASSWORD) -> Any:
    return APIClient().post("/api/v1/auth/token/", {"email": email, "password": password}, format="json")


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_token_is_issued_hashed_and_works(world: World) -> None:
    response = sign_in("Patient@River.example")
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"token", "expires_at"}
    stored = ApiToken.objects.get(user=world.patient)
    assert stored.key_hash == hash_token(data["token"]) and data["token"] not in stored.key_hash
    assert abs(stored.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert bearer(data["token"]).get("/api/v1/me/").json()["email"] == "patient@river.example"


@pytest.mark.parametrize(
    ("email", "password"), [("patient@river.example", "wrong-password"), ("nobody@river.example", PASSWORD)]
)
def test_wrong_credentials_are_401_with_the_same_answer(world: World, email: str, password: str) -> None:
    response = sign_in(email, password)
    assert response.status_code == 401
    assert response.json() == {
        "errors": {"non_field_errors": ["Unable to sign in with this email and password."]}
    }


def test_inactive_user_cannot_sign_in(world: World) -> None:
    world.patient.is_active = False
    world.patient.save()
    assert sign_in(world.patient.email).status_code == 401


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "a@b.c"}, "password"),
        ({"email": 5, "password": PASSWORD}, "email"),
        ({"email": "a@b.c", "password": PASSWORD, "remember": True}, "remember"),
    ],
)
def test_token_request_validation(world: World, payload: dict[str, Any], field: str) -> None:
    response = APIClient().post("/api/v1/auth/token/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_expired_token_is_refused(world: World) -> None:
    token = sign_in(world.patient.email).json()["token"]
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        response = bearer(token).get("/api/v1/me/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_refused_and_revoking_twice_is_401(world: World) -> None:
    token = sign_in(world.patient.email).json()["token"]
    other = sign_in(world.patient.email).json()["token"]
    assert bearer(token).delete("/api/v1/auth/token/").status_code == 204
    assert bearer(token).get("/api/v1/me/").status_code == 401
    assert bearer(token).delete("/api/v1/auth/token/").status_code == 401
    assert bearer(other).get("/api/v1/me/").status_code == 200


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer mbz_forged", "Bearer not-even-prefixed"])
def test_malformed_or_unknown_bearer_is_401(world: World, header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "errors" in response.json()


def test_session_login_requires_csrf_and_then_works(world: World) -> None:
    client = APIClient(enforce_csrf_checks=True)
    credentials = {"email": world.surgeon.email, "password": PASSWORD}
    refused = client.post("/api/v1/auth/login/", credentials, format="json")
    assert refused.status_code == 403 and "errors" in refused.json()
    csrf = client.get("/api/v1/auth/csrf/").json()["csrf_token"]
    response = client.post("/api/v1/auth/login/", credentials, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200 and response.json()["role"] == "surgeon"
    assert client.get(f"/api/v1/episodes/{world.episode.id}/").status_code == 200
    # Session writes need the (rotated) CSRF token too.
    assert client.post("/api/v1/auth/logout/").status_code == 403
    csrf = client.cookies["csrftoken"].value
    assert client.post("/api/v1/auth/logout/", HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert client.get("/api/v1/me/").status_code == 401


def test_session_login_with_wrong_password_is_401(world: World) -> None:
    client = APIClient()
    response = client.post(
        "/api/v1/auth/login/", {"email": world.surgeon.email, "password": "nope"}, format="json"
    )
    assert response.status_code == 401


def _invite_link_parts(user: Any) -> tuple[str, str]:
    return urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)


def test_invited_patient_sets_a_password_then_signs_in(world: World) -> None:
    patient = PatientFactory.create(clinic=world.clinic, email="new@river.example", password=None)
    patient.set_unusable_password()
    patient.save()
    Invitation.objects.create(user=patient, invited_by=world.surgeon)
    uid, token = _invite_link_parts(patient)
    weak = APIClient().post(
        "/api/v1/auth/set-password/", {"uid": uid, "token": token, "password": "12345"}, format="json"
    )
    assert weak.status_code == 400 and "password" in weak.json()["errors"]
    ok = APIClient().post(
        "/api/v1/auth/set-password/",
        {"uid": uid, "token": token, "password": "walk-every-morning-42"},
        format="json",
    )
    assert ok.status_code == 204
    assert Invitation.objects.get(user=patient).accepted_at is not None
    assert sign_in("new@river.example", "walk-every-morning-42").status_code == 201
    # The link is single-use: the token is bound to the old password hash.
    again = APIClient().post(
        "/api/v1/auth/set-password/",
        {"uid": uid, "token": token, "password": "another-long-pass-7"},
        format="json",
    )
    assert again.status_code == 400 and "token" in again.json()["errors"]


@pytest.mark.parametrize("uid", ["garbage", "", urlsafe_base64_encode(b"not-a-uuid")])
def test_bad_invitation_links_are_400(world: World, uid: str) -> None:
    response = APIClient().post(
        "/api/v1/auth/set-password/",
        {"uid": uid or "x", "token": "abc", "password": "walk-every-morning-42"},
        format="json",
    )
    assert response.status_code == 400 and "token" in response.json()["errors"]


def test_invitation_page_renders_the_set_password_form(world: World) -> None:
    uid, token = _invite_link_parts(world.patient)
    response = APIClient().get(f"/accounts/set-password/{uid}/{token}/", follow=True)
    assert response.status_code == 200
    assert b"new_password1" in response.content


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"])
def test_passwords_are_hashed_with_argon2(world: World) -> None:
    world.patient.set_password("a-long-enough-password")
    world.patient.save()
    assert world.patient.password.startswith("argon2")
    assert sign_in(world.patient.email, "a-long-enough-password").status_code == 201
