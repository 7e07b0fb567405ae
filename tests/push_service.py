"""A real Web Push service on loopback for the push tests, and the browser side of a subscription.

``PushService`` is an ``http.server`` on 127.0.0.1 (random port) in a thread. For every POST it does
what a push service and the receiving browser do between them: it checks the VAPID ``Authorization``
header (RFC 8292: ES256 signature by the configured public key, ``aud`` its own origin, ``exp`` in the
future and at most 24 hours away, ``sub`` the configured subject), then decrypts the aes128gcm body
(RFC 8291) with the browser's private key and auth secret. Decryption is written here from the RFC with
``cryptography`` alone, independent of the library that encrypts. Each endpoint answers 201 unless the
test scripted other answers for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


class Browser:
    """The receiving side of a subscription, as ``PushManager.subscribe()`` makes it."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)
        self.p256dh = b64url(_point(self.private_key.public_key()))
        self.auth = b64url(self.auth_secret)

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 section 3.4 key derivation and RFC 8188 aes128gcm decoding (one record)."""
        salt, record_size, id_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        sender_point = body[21 : 21 + id_length]
        ciphertext = body[21 + id_length :]
        assert id_length == 65 and len(ciphertext) <= record_size, (
            "expected one record keyed by a P-256 point"
        )
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_point)
        shared = self.private_key.exchange(ec.ECDH(), sender)
        key_info = b"WebPush: info\x00" + _point(self.private_key.public_key()) + sender_point
        ikm = _hmac(_hmac(self.auth_secret, shared), key_info + b"\x01")
        prk = _hmac(salt, ikm)
        cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
        nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
        padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
        plaintext = padded.rstrip(b"\x00")
        assert plaintext.endswith(b"\x02"), "the last record ends with the 0x02 delimiter"
        return plaintext[:-1]


def verify_vapid(authorization: str, *, public_key: str) -> dict[str, Any]:
    """The claims of a valid ``vapid t=<JWT>,k=<key>`` header; AssertionError otherwise."""
    scheme, _, params = authorization.partition(" ")
    assert scheme.lower() == "vapid", authorization
    parts = dict(item.strip().split("=", 1) for item in params.split(","))
    assert parts["k"] == public_key, "k must be the configured VAPID public key"
    signing_input, _, signature = parts["t"].rpartition(".")
    header_b64, _, claims_b64 = signing_input.partition(".")
    assert json.loads(unb64url(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    raw = unb64url(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key))
    key.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature
    claims: dict[str, Any] = json.loads(unb64url(claims_b64))
    return claims


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    claims: dict[str, Any] | None = None
    payload: Any = None
    error: str | None = None


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class PushService:
    def __init__(self, *, public_key: str, subject: str) -> None:
        self.public_key = public_key
        self.subject = subject
        self.received: list[Received] = []
        self._browsers: dict[str, Browser] = {}
        self._answers: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> PushService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def endpoint(self, browser: Browser) -> str:
        path = f"/push/{secrets.token_urlsafe(16)}"
        with self._lock:
            self._browsers[path] = browser
        return self.origin + path

    def answer(self, endpoint: str, *answers: Answer) -> None:
        """Script the next answers of one endpoint; after them it answers 201 again."""
        with self._lock:
            self._answers.setdefault(endpoint.removeprefix(self.origin), []).extend(answers)

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        got = Received(path=path, headers=headers)
        with self._lock:
            browser = self._browsers.get(path)
            scripted = self._answers.get(path) or []
            answer = scripted.pop(0) if scripted else Answer(201)
            self.received.append(got)
        if browser is None:
            got.error = "unknown endpoint"
            return Answer(404)
        try:
            got.claims = verify_vapid(headers.get("authorization", ""), public_key=self.public_key)
            now = time.time()
            assert got.claims["aud"] == self.origin, got.claims
            assert now < got.claims["exp"] <= now + 24 * 3600, got.claims
            assert got.claims["sub"] == self.subject, got.claims
            assert headers.get("content-encoding") == "aes128gcm", headers
            got.payload = json.loads(browser.decrypt(body))
        except Exception as exc:  # noqa: BLE001  (recorded for the test thread to assert on)
            got.error = f"{type(exc).__name__}: {exc}"
            return Answer(403)
        return answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                answer = service._receive(self.path, headers, body)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


SUBJECT = "mailto:push-test@mobilize.example"


def configure_vapid_from_command(settings: Any) -> tuple[str, str]:
    """Run ``manage.py vapid_keys``, load what it printed through the settings' own checks, and put
    the pair into ``settings`` (pytest-django's fixture, restored after the test)."""
    from django.core.management import call_command

    from recovery.notifications.vapid import vapid_configure

    out = io.StringIO()
    call_command("vapid_keys", stdout=out)
    printed = dict(line.split("=", 1) for line in out.getvalue().splitlines())
    assert set(printed) == {"VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY"}
    public, private, subject = vapid_configure(
        public_key=printed["VAPID_PUBLIC_KEY"],
        private_key=printed["VAPID_PRIVATE_KEY"],
        subject=SUBJECT,
        subject_is_default=False,
    )
    assert (public, private) == (printed["VAPID_PUBLIC_KEY"], printed["VAPID_PRIVATE_KEY"])
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY, settings.VAPID_SUBJECT = public, private, subject
    return printed["VAPID_PUBLIC_KEY"], printed["VAPID_PRIVATE_KEY"]
