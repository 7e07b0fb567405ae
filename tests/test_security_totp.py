"""Two-factor sign-in (TOTP, RFC 6238) for staff: the algorithm against the RFC's test vectors,
enrolment, sign-in with a code, replay refusal, and a clinic making it mandatory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from recovery.accounts.models import User
from recovery.security import totp
from recovery.security.models import ClinicSecurityPolicy, TotpDevice
from tests.conftest import World, client_for
from tests.factories import PASSWORD

# RFC 6238 Appendix B: the seeds are the ASCII strings below; 8-digit codes.
RFC6238_SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_VECTORS = [
    (59, "sha1", "94287082"),
    (59, "sha256", "46119246"),
    (59, "sha512", "90693936"),
    (1111111109, "sha1", "07081804"),
    (1111111111, "sha256", "67062674"),
    (1234567890, "sha1", "89005924"),
    (1234567890, "sha512", "93441116"),
    (2000000000, "sha1", "69279037"),
    (20000000000, "sha1", "65353130"),
    (20000000000, "sha256", "77737706"),
]
# RFC 4226 Appendix D: HOTP values for counters 0..9 with the same SHA-1 seed, 6 digits.
RFC4226_HOTP = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]


@pytest.mark.parametrize(("unix_time", "digest", "expected"), RFC6238_VECTORS)
def test_totp_matches_the_rfc_6238_test_vectors(unix_time: int, digest: str, expected: str) -> None:
    assert totp.totp(RFC6238_SEEDS[digest], unix_time, digits=8, digest=digest) == expected


def test_hotp_matches_the_rfc_4226_test_vectors() -> None:
    assert [totp.hotp(RFC6238_SEEDS["sha1"], n) for n in range(10)] == RFC4226_HOTP


def test_verify_accepts_one_step_of_drift_and_no_more() -> None:
    secret = totp.new_secret()
    now = 1_800_000_015.0
    assert totp.verify(secret, totp.code_for(secret, now), now) == totp.counter_at(now)
    assert totp.verify(secret, totp.code_for(secret, now - 30), now) == totp.counter_at(now) - 1
    assert totp.verify(secret, totp.code_for(secret, now + 30), now) == totp.counter_at(now) + 1
    assert totp.verify(secret, totp.code_for(secret, now - 60), now) is None
    assert totp.verify(secret, "12345", now) is None and totp.verify(secret, "abcdef", now) is None


def test_the_provisioning_uri_carries_secret_issuer_and_account() -> None:
    uri = totp.provisioning_uri(secret_b32="JBSWY3DPEHPK3PXP", account="dr@river.example", issuer="Mobilize")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parsed.path == "/Mobilize:dr@river.example"
    query = parse_qs(parsed.query)
    assert query["secret"] == ["JBSWY3DPEHPK3PXP"] and query["issuer"] == ["Mobilize"]
    assert query["digits"] == ["6"] and query["period"] == ["30"]


# Through the API -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _limits() -> Iterator[None]:
    with override_settings(
        SECURITY_LOGIN_ACCOUNT_FAILURES=5,
        SECURITY_LOGIN_WINDOW_SECONDS=900,
        SECURITY_LOGIN_LOCKOUT_SECONDS=900,
        SECURITY_WRITE_RATE="100000/minute",
    ):
        yield


def sign_in(email: str, **extra: Any) -> Any:
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    return APIClient(REMOTE_ADDR=address).post(
        "/api/v1/auth/token/", {"email": email, "password": PASSWORD, **extra}, format="json"
    )


def code(secret: str, at: datetime) -> str:
    return totp.code_for(secret, at.timestamp())


def enrol(user: User, at: datetime) -> str:
    client = client_for(user)
    started = client.post("/api/v1/auth/totp/")
    assert started.status_code == 201
    secret = str(started.json()["secret"])
    confirmed = client.post("/api/v1/auth/totp/confirm/", {"otp": code(secret, at)}, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["enrolled"] is True
    return secret


def other_than(good: str) -> str:
    """A well-formed code that is not ``good`` (nor, with drift, likely valid: checked by the callers)."""
    return str((int(good) + 1) % 1_000_000).zfill(6)


def step_start() -> datetime:
    """The start of a 30-second step a minute ahead, so 'the next step' is always 30 s later."""
    now = timezone.now()
    return datetime.fromtimestamp((int(now.timestamp()) // 30 + 2) * 30, tz=now.tzinfo)


def test_staff_enrol_with_a_first_code(world: World) -> None:
    client = client_for(world.surgeon)
    assert client.get("/api/v1/auth/totp/").json() == {
        "enrolled": False,
        "pending": False,
        "required_by_clinic": False,
    }
    t0 = step_start()
    with time_machine.travel(t0, tick=False):
        started = client.post("/api/v1/auth/totp/")
        assert started.status_code == 201
        body = started.json()
        assert body["otpauth_uri"] == totp.provisioning_uri(
            secret_b32=body["secret"], account="surgeon@river.example", issuer="Mobilize"
        )
        assert len(body["secret"]) == 32 and (body["digits"], body["period"]) == (6, 30)
        assert client.get("/api/v1/auth/totp/").json()["pending"] is True
        wrong = client.post(
            "/api/v1/auth/totp/confirm/", {"otp": other_than(code(body["secret"], t0))}, format="json"
        )
        assert wrong.status_code == 400 and "otp" in wrong.json()["errors"]
        # Until confirmed, the password alone still signs in.
        assert sign_in(world.surgeon.email).status_code == 201
        ok = client.post("/api/v1/auth/totp/confirm/", {"otp": code(body["secret"], t0)}, format="json")
        assert ok.status_code == 200 and ok.json()["enrolled"] is True
        # Starting again once confirmed is a conflict: remove the old one first.
        assert client.post("/api/v1/auth/totp/").status_code == 409


def test_the_secret_is_stored_sealed_and_a_rotated_key_still_opens_it(world: World) -> None:
    t0 = step_start()
    with time_machine.travel(t0, tick=False) as clock:
        secret = enrol(world.surgeon, t0)
        stored = TotpDevice.objects.get(user=world.surgeon).secret
        assert secret not in stored
        clock.move_to(t0 + timedelta(seconds=30))
        from django.conf import settings

        rotated = {"SECRET_KEY": "a-brand-new-key-" + "k" * 40, "SECRET_KEY_FALLBACKS": [settings.SECRET_KEY]}
        with override_settings(**rotated):
            assert (
                sign_in(world.surgeon.email, otp=code(secret, t0 + timedelta(seconds=30))).status_code == 201
            )
        clock.move_to(t0 + timedelta(seconds=60))
        with override_settings(SECRET_KEY="a-brand-new-key-" + "k" * 40, SECRET_KEY_FALLBACKS=[]):
            # Without the old key the sealed secret cannot be opened: the code is refused, not crashed on.
            assert (
                sign_in(world.surgeon.email, otp=code(secret, t0 + timedelta(seconds=60))).status_code == 401
            )


def test_patients_cannot_enrol(world: World) -> None:
    response = client_for(world.patient).post("/api/v1/auth/totp/")
    assert response.status_code == 403 and set(response.json()) == {"errors"}
    assert not TotpDevice.objects.exists()


def test_an_enrolled_user_signs_in_with_a_code_once(world: World) -> None:
    t0 = step_start()
    with time_machine.travel(t0, tick=False) as clock:
        secret = enrol(world.physio, t0)
        clock.move_to(t0 + timedelta(seconds=30))
        missing = sign_in(world.physio.email)
        assert missing.status_code == 401
        assert set(missing.json()["errors"]) == {"otp"}
        assert "authenticator" in missing.json()["errors"]["otp"][0]
        now_code = code(secret, t0 + timedelta(seconds=30))
        wrong = other_than(now_code)
        refused = sign_in(world.physio.email, otp=wrong)
        assert refused.status_code == 401 and set(refused.json()["errors"]) == {"otp"}
        assert sign_in(world.physio.email, otp=now_code).status_code == 201
        # The same code again (replay within its 30 seconds) is refused.
        assert sign_in(world.physio.email, otp=now_code).status_code == 401
        clock.move_to(t0 + timedelta(seconds=60))
        assert sign_in(world.physio.email, otp=code(secret, t0 + timedelta(seconds=60))).status_code == 201


def test_a_wrong_code_counts_toward_the_lockout(world: World) -> None:
    t0 = step_start()
    with time_machine.travel(t0, tick=False) as clock:
        secret = enrol(world.surgeon, t0)
        clock.move_to(t0 + timedelta(seconds=60))
        good = code(secret, t0 + timedelta(seconds=60))
        wrong = other_than(good)
        for _ in range(5):
            assert sign_in(world.surgeon.email, otp=wrong).status_code == 401
        locked = sign_in(world.surgeon.email, otp=good)
        assert locked.status_code == 429 and locked.headers["Retry-After"] == "900"


def test_the_session_sign_in_asks_for_the_code_too(world: World) -> None:
    t0 = step_start()
    with time_machine.travel(t0, tick=False) as clock:
        secret = enrol(world.surgeon, t0)
        clock.move_to(t0 + timedelta(seconds=30))
        client = APIClient()
        body = {"email": world.surgeon.email, "password": PASSWORD}
        assert client.post("/api/v1/auth/login/", body, format="json").status_code == 401
        otp = code(secret, t0 + timedelta(seconds=30))
        response = client.post("/api/v1/auth/login/", {**body, "otp": otp}, format="json")
        assert response.status_code == 200 and response.json()["role"] == "surgeon"


def test_a_clinic_admin_makes_two_factor_mandatory_for_staff(world: World) -> None:
    admin = client_for(world.clinic_admin)
    assert admin.get("/api/v1/clinic/security/").json() == {"totp_required": False}
    t0 = step_start()
    with time_machine.travel(t0, tick=False):
        # The admin has to have a second factor before requiring one, or they would be shut out.
        first = admin.put("/api/v1/clinic/security/", {"totp_required": True}, format="json")
        assert first.status_code == 400 and "totp_required" in first.json()["errors"]
        assert not ClinicSecurityPolicy.objects.exists()
        enrol(world.clinic_admin, t0)
        changed = admin.put("/api/v1/clinic/security/", {"totp_required": True}, format="json")
        assert changed.status_code == 200 and changed.json() == {"totp_required": True}
        assert (
            admin.put("/api/v1/clinic/security/", {"totp_required": True}, format="json").status_code == 200
        )
        assert ClinicSecurityPolicy.objects.get(clinic=world.clinic).updated_by == world.clinic_admin
        bad = admin.put("/api/v1/clinic/security/", {"totp_required": "yes"}, format="json")
        assert bad.status_code == 400 and "totp_required" in bad.json()["errors"]

        # Not enrolled yet: the sign-in works, but only for enrolment.
        token = sign_in(world.physio.email).json()["token"]
        physio = APIClient()
        physio.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        blocked = physio.get("/api/v1/episodes/")
        assert blocked.status_code == 403
        assert "two-factor" in blocked.json()["errors"]["non_field_errors"][0]
        assert physio.get("/api/v1/me/").status_code == 200
        assert physio.get("/api/v1/auth/totp/").json()["required_by_clinic"] is True
        secret = physio.post("/api/v1/auth/totp/").json()["secret"]
        assert (
            physio.post("/api/v1/auth/totp/confirm/", {"otp": code(secret, t0)}, format="json").status_code
            == 200
        )
        assert physio.get("/api/v1/episodes/").status_code == 200
    # Patients are not affected, and the clinic elsewhere neither.
    assert client_for(world.patient).get("/api/v1/episodes/").status_code == 200
    assert client_for(world.other_clinic_surgeon).get("/api/v1/episodes/").status_code == 200


def test_two_factor_can_be_removed_with_a_code_unless_the_clinic_requires_it(world: World) -> None:
    t0 = step_start()
    with time_machine.travel(t0, tick=False) as clock:
        secret = enrol(world.surgeon, t0)
        surgeon = client_for(world.surgeon)
        ClinicSecurityPolicy.objects.create(clinic=world.clinic, totp_required=True)
        clock.move_to(t0 + timedelta(seconds=30))
        refused = surgeon.delete(
            "/api/v1/auth/totp/", {"otp": code(secret, t0 + timedelta(seconds=30))}, format="json"
        )
        assert refused.status_code == 403
        ClinicSecurityPolicy.objects.filter(clinic=world.clinic).update(totp_required=False)
        clock.move_to(t0 + timedelta(seconds=60))
        assert surgeon.delete("/api/v1/auth/totp/", {"otp": "12"}, format="json").status_code == 400
        removed = surgeon.delete(
            "/api/v1/auth/totp/", {"otp": code(secret, t0 + timedelta(seconds=60))}, format="json"
        )
        assert removed.status_code == 204
        assert surgeon.delete("/api/v1/auth/totp/", {"otp": "123456"}, format="json").status_code == 404
        assert sign_in(world.surgeon.email).status_code == 201


def test_only_the_clinics_admin_sets_its_policy(world: World) -> None:
    for user in (world.surgeon, world.physio, world.patient, world.other_clinic_surgeon):
        response = client_for(user).put("/api/v1/clinic/security/", {"totp_required": True}, format="json")
        assert response.status_code == 403
    assert not ClinicSecurityPolicy.objects.exists()


# The Django admin's sign-in follows the same rules -------------------------------------------------


def admin_login(email: str, password: str = PASSWORD, otp: str = "") -> Any:
    from django.test import Client

    client = Client(REMOTE_ADDR=f"198.51.100.{uuid.uuid4().int % 250 + 1}")
    return client.post("/admin/login/?next=/admin/", {"username": email, "password": password, "otp": otp})


def test_admin_sign_in_asks_an_enrolled_user_for_the_code(world: World) -> None:
    t0 = step_start()
    with time_machine.travel(t0, tick=False) as clock:
        secret = enrol(world.clinic_admin, t0)
        clock.move_to(t0 + timedelta(seconds=30))
        without = admin_login(world.clinic_admin.email)
        assert without.status_code == 200 and b"authenticator" in without.content
        page = admin_login(world.clinic_admin.email, otp=code(secret, t0 + timedelta(seconds=30)))
        assert page.status_code == 302 and page.headers["Location"] == "/admin/"


def test_admin_sign_in_is_locked_with_the_api(world: World) -> None:
    for _ in range(5):
        assert admin_login(world.clinic_admin.email, "wrong-password").status_code == 200
    locked = admin_login(world.clinic_admin.email)
    assert locked.status_code == 200 and b"Too many failed sign-in attempts" in locked.content
    assert sign_in(world.clinic_admin.email).status_code == 429


def test_admin_sign_in_is_refused_to_staff_who_owe_a_second_factor(world: World) -> None:
    ClinicSecurityPolicy.objects.create(clinic=world.clinic, totp_required=True)
    refused = admin_login(world.surgeon.email)
    assert refused.status_code == 200 and b"requires two-factor sign-in" in refused.content
    assert b'name="otp"' in refused.content


def test_the_admin_sign_in_page_shows_the_code_field(db: None) -> None:
    from django.test import Client

    page = Client().get("/admin/login/")
    assert page.status_code == 200
    assert b'name="otp"' in page.content and b'autocomplete="one-time-code"' in page.content
