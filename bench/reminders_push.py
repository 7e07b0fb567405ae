"""The reminder benchmark's push endpoint: a stand-in for the browser vendors' push services, in its
own process(es), so that what it costs is not counted against the workers or the measuring process.

``python -m bench.reminders_push --fd N --origin ... --vapid-public-key ... --subject ... --browser-key
... --auth ... --stats FILE`` serves HTTP/1.1 (keep-alive) on the listening socket ``N`` it inherits
(several processes may share one socket; the kernel hands each connection to one of them) with one
asyncio loop. For every ``POST /push/<n>`` it does what a push service and the receiving browser do
between them, and answers 201 only if all of it holds, else 400 (and counts the error):

- the VAPID ``Authorization: vapid t=<JWT>,k=<key>`` header (RFC 8292): ``k`` is the configured public
  key, the ES256 signature verifies with it, ``aud`` is this origin, ``exp`` is in the future and at
  most 24 hours away, ``sub`` is the configured subject. The signature check of a header is
  remembered (the workers reuse one signed header per origin for hours, as real push services see);
  the claims are checked on every request;
- ``Content-Encoding: aes128gcm`` and a ``TTL``;
- every body is decrypted (RFC 8291 key derivation with the browser's private key and auth secret,
  RFC 8188 one-record aes128gcm, ``cryptography`` primitives written from the RFCs, independent of the
  sender's code) and must be the JSON a service worker shows: ``title``, ``body``, ``url``, ``tag``.

It prints ``ready`` once it serves. On SIGTERM it writes its figures to ``--stats`` (JSON: the paths received, in order, the count
decrypted, the errors, its CPU seconds) and exits. No Django, no database.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
_MAX_BODY = 8192
_MAX_HEAD = 16384
#: Errors kept verbatim in the stats (the rest are only counted).
_ERRORS_KEPT = 20


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


class PushRefused(Exception):
    pass


@dataclass
class Receiver:
    """What the push service and the browser check, and what they saw."""

    origin: str
    vapid_public_key: str
    subject: str
    browser_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    paths: list[str] = field(default_factory=list)
    decrypted: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    _verified: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._browser_point = _point(self.browser_key.public_key())
        self._vapid_key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), unb64url(self.vapid_public_key)
        )

    def claims(self, authorization: str) -> dict[str, Any]:
        """The claims of a valid VAPID header, its signature checked once per distinct header."""
        known = self._verified.get(authorization)
        if known is not None:
            return known
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise PushRefused("not a vapid Authorization")
        parts = dict(item.strip().split("=", 1) for item in params.split(",") if "=" in item)
        if parts.get("k") != self.vapid_public_key:
            raise PushRefused("k is not the configured VAPID public key")
        signing_input, _, signature = parts.get("t", "").rpartition(".")
        header_b64, _, claims_b64 = signing_input.partition(".")
        if json.loads(unb64url(header_b64)) != {"typ": "JWT", "alg": "ES256"}:
            raise PushRefused("JWT header is not ES256")
        raw = unb64url(signature)
        if len(raw) != 64:
            raise PushRefused("ES256 signature is not 64 bytes")
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            self._vapid_key.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise PushRefused("VAPID signature does not verify") from None
        claims: dict[str, Any] = json.loads(unb64url(claims_b64))
        if len(self._verified) > 1000:
            self._verified.clear()
        self._verified[authorization] = claims
        return claims

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 section 3.4 key derivation and RFC 8188 aes128gcm decoding (one record)."""
        salt, record_size, id_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        sender_point = body[21 : 21 + id_length]
        ciphertext = body[21 + id_length :]
        if id_length != 65 or len(ciphertext) > record_size:
            raise PushRefused("expected one record keyed by a P-256 point")
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_point)
        shared = self.browser_key.exchange(ec.ECDH(), sender)
        key_info = b"WebPush: info\x00" + self._browser_point + sender_point
        ikm = _hmac(_hmac(self.auth_secret, shared), key_info + b"\x01")
        prk = _hmac(salt, ikm)
        cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
        nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
        try:
            padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
        except InvalidTag:
            raise PushRefused("aes128gcm record does not decrypt") from None
        plaintext = padded.rstrip(b"\x00")
        if not plaintext.endswith(b"\x02"):
            raise PushRefused("the last record must end with the 0x02 delimiter")
        return plaintext[:-1]

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> bool:
        self.paths.append(path)
        try:
            if not path.startswith("/push/"):
                raise PushRefused(f"unknown endpoint {path}")
            claims = self.claims(headers.get("authorization", ""))
            now = time.time()
            if claims.get("aud") != self.origin:
                raise PushRefused(f"aud {claims.get('aud')!r} is not {self.origin}")
            if not now < float(claims.get("exp", 0)) <= now + 24 * 3600:
                raise PushRefused(f"exp {claims.get('exp')!r} is not within the next 24 hours")
            if claims.get("sub") != self.subject:
                raise PushRefused(f"sub {claims.get('sub')!r} is not {self.subject}")
            if headers.get("content-encoding") != "aes128gcm" or not headers.get("ttl", "").isdigit():
                raise PushRefused("Content-Encoding aes128gcm and a TTL are required")
            message = json.loads(self.decrypt(body))
            if not {"title", "body", "url", "tag"} <= set(message):
                raise PushRefused(f"not a notification: {sorted(message)}")
        except (PushRefused, ValueError, KeyError) as exc:
            self.errors += 1
            if len(self.error_samples) < _ERRORS_KEPT:
                self.error_samples.append(f"{path}: {type(exc).__name__}: {exc}")
            return False
        self.decrypted += 1
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "paths": self.paths,
            "decrypted": self.decrypted,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "cpu_seconds": time.process_time(),
        }


class _Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining; only ``POST`` with a ``Content-Length`` body."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        out: list[bytes] = []
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    self.transport.close()
                break
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length > _MAX_BODY:
                self.transport.close()
                return
            if len(self.buffer) < end + 4 + length:
                break
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, _, rest = lines[0].partition(" ")
            path = rest.partition(" ")[0]
            ok = method == "POST" and self.receiver.receive(path, headers, body)
            out.append(_CREATED if ok else _BAD)
        if out:
            self.transport.write(b"".join(out))


def serve(listening: socket.socket, receiver: Receiver, stats_file: str) -> None:
    loop = asyncio.new_event_loop()
    stop = loop.create_future()

    def finish() -> None:
        if not stop.done():
            stop.set_result(None)

    loop.add_signal_handler(signal.SIGTERM, finish)
    loop.add_signal_handler(signal.SIGINT, finish)

    async def main() -> None:
        server = await loop.create_server(lambda: _Connection(receiver), sock=listening, backlog=1024)
        async with server:
            print("ready", flush=True)
            await stop

    loop.run_until_complete(main())
    with open(stats_file, "w", encoding="utf-8") as out:
        json.dump(receiver.stats(), out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reminders_push", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--origin", required=True, help="this endpoint's origin, the JWT aud")
    parser.add_argument("--vapid-public-key", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--browser-key", required=True, help="the browser's private scalar, base64url")
    parser.add_argument("--auth", required=True, help="the browser's auth secret, base64url")
    parser.add_argument("--stats", required=True, help="where to write the figures on SIGTERM")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    browser_key = ec.derive_private_key(int.from_bytes(unb64url(args.browser_key), "big"), ec.SECP256R1())
    receiver = Receiver(
        origin=args.origin,
        vapid_public_key=args.vapid_public_key,
        subject=args.subject,
        browser_key=browser_key,
        auth_secret=unb64url(args.auth),
    )
    listening = socket.socket(fileno=args.fd)
    serve(listening, receiver, args.stats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
