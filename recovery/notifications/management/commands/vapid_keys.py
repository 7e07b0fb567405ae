"""``manage.py vapid_keys``: make a VAPID key pair for Web Push and print it as environment lines.

Prints ``VAPID_PUBLIC_KEY=...`` (base64url uncompressed P-256 point, the PWA's applicationServerKey)
and ``VAPID_PRIVATE_KEY=...`` (base64url raw 32-byte private key), ready for an env file or a secret
store. Changing the pair later invalidates every browser's subscription: they must subscribe again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from recovery.notifications.vapid import vapid_keys_generate


class Command(BaseCommand):
    help = (
        "Generate a VAPID (Web Push) key pair and print it as VAPID_PUBLIC_KEY=... and VAPID_PRIVATE_KEY=..."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        keys = vapid_keys_generate()
        self.stdout.write(f"VAPID_PUBLIC_KEY={keys.public_key}")
        self.stdout.write(f"VAPID_PRIVATE_KEY={keys.private_key}")
