"""Access rows for Web Push subscriptions, the VAPID public key and notification consent.

Every signed-in person manages only their own; anonymous callers get 401. Push is not configured in
the test settings, so the public key is 404 for everyone signed in (tests/test_push_api.py covers it
configured)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import World
from tests.push_service import Browser
from tests.test_access_matrix import Row

SIGNED_IN = [200, 200, 200, 200, 200, 200, 401]


def _subscription(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    browser = Browser()
    return {
        "endpoint": f"https://push.example.org/send/{persona}-{uuid.uuid4().hex}",
        "keys": {"p256dh": browser.p256dh, "auth": browser.auth},
        "expirationTime": None,
    }


ROWS: list[Row] = [
    Row("push-subscriptions", "get", SIGNED_IN),
    Row("push-subscriptions", "post", [201, 201, 201, 201, 201, 201, 401], body=_subscription),
    Row(
        "push-subscriptions",
        "delete",
        [204, 204, 204, 204, 204, 204, 401],
        body=lambda world, persona, made: {"endpoint": "https://push.example.org/send/unknown"},
    ),
    Row("push-public-key", "get", [404, 404, 404, 404, 404, 404, 401]),
    Row("notification-consent", "get", SIGNED_IN),
    Row(
        "notification-consent",
        "post",
        [201, 201, 201, 201, 201, 201, 401],
        body=lambda world, persona, made: {"kind": "push", "granted": True, "version": "2026-05"},
    ),
]
