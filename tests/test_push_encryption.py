"""aes128gcm message encryption (RFC 8291 / RFC 8188) on its own, and the reminder benchmark's push
endpoint (``bench.reminders_push.Receiver``): it must accept exactly what a real push service and
browser would, and refuse the rest, or the benchmark's "0 refused" would mean nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec

from bench.reminders_push import Receiver
from recovery.notifications.push import PushPayload, encrypt_aes128gcm, vapid_authorization
from tests.push_service import SUBJECT, Browser, configure_vapid_from_command

ORIGIN = "http://127.0.0.1:8999"
MESSAGE = PushPayload(title="Time for your walk", body="Ten minutes.", url="/today", tag="walk")


@pytest.fixture
def vapid(settings: Any) -> tuple[str, str]:
    return configure_vapid_from_command(settings)


def test_a_message_decrypts_with_the_browser_keys() -> None:
    browser = Browser()
    body = encrypt_aes128gcm(MESSAGE.to_bytes(), p256dh=browser.p256dh, auth=browser.auth)

    assert json.loads(browser.decrypt(body)) == MESSAGE.as_dict()
    # RFC 8188 header: 16-byte salt, record size 4096, a 65-byte key id (the sender's P-256 point).
    assert int.from_bytes(body[16:20], "big") == 4096
    assert body[20] == 65 and body[21] == 0x04


def test_every_message_has_its_own_sender_key_and_salt() -> None:
    browser = Browser()
    first = encrypt_aes128gcm(MESSAGE.to_bytes(), p256dh=browser.p256dh, auth=browser.auth)
    second = encrypt_aes128gcm(MESSAGE.to_bytes(), p256dh=browser.p256dh, auth=browser.auth)

    assert first[:16] != second[:16]  # salt
    assert first[21:86] != second[21:86]  # sender public key
    assert browser.decrypt(first) == browser.decrypt(second)


def test_another_browser_cannot_read_it() -> None:
    body = encrypt_aes128gcm(MESSAGE.to_bytes(), p256dh=Browser().p256dh, auth=Browser().auth)
    with pytest.raises(InvalidTag):
        Browser().decrypt(body)


def _receiver(public_key: str, browser: Browser) -> Receiver:
    return Receiver(
        origin=ORIGIN,
        vapid_public_key=public_key,
        subject=SUBJECT,
        browser_key=browser.private_key,
        auth_secret=browser.auth_secret,
    )


def _headers(authorization: str) -> dict[str, str]:
    return {"authorization": authorization, "content-encoding": "aes128gcm", "ttl": "3600"}


def test_bench_endpoint_accepts_a_signed_encrypted_message(vapid: tuple[str, str]) -> None:
    browser = Browser()
    receiver = _receiver(vapid[0], browser)
    body = encrypt_aes128gcm(MESSAGE.to_bytes(), p256dh=browser.p256dh, auth=browser.auth)
    authorization = vapid_authorization(f"{ORIGIN}/push/1")

    assert receiver.receive("/push/1", _headers(authorization), body)
    assert receiver.receive(
        "/push/2", _headers(authorization), body
    )  # signature remembered, claims rechecked
    assert (receiver.decrypted, receiver.errors, receiver.paths) == (2, 0, ["/push/1", "/push/2"])


def test_bench_endpoint_refuses_a_wrong_signature(vapid: tuple[str, str], settings: Any) -> None:
    browser = Browser()
    receiver = _receiver(vapid[0], browser)
    body = encrypt_aes128gcm(MESSAGE.to_bytes(), p256dh=browser.p256dh, auth=browser.auth)
    key = vapid_authorization(f"{ORIGIN}/push/1").partition(",k=")[2]
    # Signed by another key pair but claiming the configured public key.
    configure_vapid_from_command(settings)
    forged = vapid_authorization(f"{ORIGIN}/push/1").partition(",k=")[0] + ",k=" + key

    assert not receiver.receive("/push/1", _headers(forged), body)
    assert receiver.errors == 1 and "signature" in receiver.error_samples[0]


def test_bench_endpoint_refuses_another_origin_a_tampered_body_and_a_stranger_key(
    vapid: tuple[str, str],
) -> None:
    browser = Browser()
    receiver = _receiver(vapid[0], browser)
    body = encrypt_aes128gcm(MESSAGE.to_bytes(), p256dh=browser.p256dh, auth=browser.auth)
    stranger = Browser()
    for_stranger = encrypt_aes128gcm(MESSAGE.to_bytes(), p256dh=stranger.p256dh, auth=stranger.auth)
    elsewhere = vapid_authorization("http://127.0.0.1:9000/push/1")
    good = vapid_authorization(f"{ORIGIN}/push/1")
    tampered = body[:-1] + bytes([body[-1] ^ 1])

    assert not receiver.receive("/push/1", _headers(elsewhere), body)
    assert not receiver.receive("/push/1", _headers(good), tampered)
    assert not receiver.receive("/push/1", _headers(good), for_stranger)
    assert not receiver.receive("/elsewhere", _headers(good), body)
    assert not receiver.receive("/push/1", {**_headers(good), "content-encoding": "aesgcm"}, body)
    assert (receiver.decrypted, receiver.errors) == (0, 5)


def test_bench_endpoint_key_round_trips_through_its_command_line_form() -> None:
    from bench.reminders import browser_keys
    from bench.reminders_push import unb64url

    keys = browser_keys()
    private = ec.derive_private_key(int.from_bytes(unb64url(keys.private), "big"), ec.SECP256R1())
    body = encrypt_aes128gcm(MESSAGE.to_bytes(), p256dh=keys.p256dh, auth=keys.auth)
    receiver = Receiver(
        origin=ORIGIN,
        vapid_public_key=Browser().p256dh,  # any P-256 point: only decryption is exercised
        subject=SUBJECT,
        browser_key=private,
        auth_secret=unb64url(keys.auth),
    )
    assert json.loads(receiver.decrypt(body)) == MESSAGE.as_dict()
