"""Push notifications in real Chromium: turning them on and off from the Reminders screen, a reminder
pushed by the server reaching the service worker, and the screen its notification opens.

What headless Chromium cannot do, and what stands in for it (measured on Chromium 156):
- ``PushManager.subscribe()`` needs Google's push service (FCM): in a Playwright context (off the
  record) it fails with "permission denied" even with the permission granted, and in a persistent
  profile it never settles without network. An init script therefore replaces only that leg:
  ``subscribe()`` checks the ``applicationServerKey`` the app passes and returns a subscription whose
  endpoint and keys belong to ``tests.push_service`` (a real push service on loopback that verifies the
  VAPID signature and decrypts the payload with the browser's keys). Everything else is the browser's
  and the server's own: the permission, the service worker, the API calls, the delivery.
- A system notification cannot be clicked headless. The push is delivered to the real service worker
  (DevTools ``ServiceWorker.deliverPushMessage``) with the payload the server encrypted, the notification
  it shows is read back from ``registration.getNotifications()``, and its ``data.url`` is opened in the
  page, which must land on the right screen. The click handler itself (focus or open, same origin only)
  is unit-tested in ``frontend/tests/swclick.test.ts``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from recovery.notifications.models import NotificationConsent, PushSubscription
from tests.conftest import World
from tests.push_service import SUBJECT, Browser, PushService, b64url, configure_vapid_from_command
from tests.pwa.browser import axe_check, browser, new_context, sign_in, wait_for_service_worker
from tests.pwa.support import needs_build

pytestmark = needs_build
__all__ = ["browser"]  # the module-scoped fixture

# Replaces PushManager's subscribe/getSubscription (see the module docstring). The subscription lives
# in sessionStorage, so a reload still finds it, and unsubscribe() forgets it as the browser would.
FAKE_PUSH_MANAGER = """
(() => {
  const KEY = "__test_push_subscription";
  const spec = %(spec)s;
  const b64url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  function make() {
    return {
      endpoint: spec.endpoint,
      expirationTime: null,
      options: { userVisibleOnly: true },
      toJSON() { return { endpoint: spec.endpoint, expirationTime: null, keys: { p256dh: spec.p256dh, auth: spec.auth } }; },
      async unsubscribe() { sessionStorage.removeItem(KEY); return true; },
    };
  }
  PushManager.prototype.subscribe = async function (options) {
    if (Notification.permission !== "granted") throw new DOMException("Registration failed - permission denied", "NotAllowedError");
    const key = options && options.applicationServerKey;
    const given = key ? b64url(key instanceof ArrayBuffer ? key : key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength)) : "";
    sessionStorage.setItem(KEY, given);
    return make();
  };
  PushManager.prototype.getSubscription = async function () {
    return sessionStorage.getItem(KEY) === null ? null : make();
  };
  window.__pushKeyGiven = () => sessionStorage.getItem(KEY);
})();
"""


@pytest.fixture
def push_service(settings: Any) -> Iterator[PushService]:
    public, _ = configure_vapid_from_command(settings)
    service = PushService(public_key=public, subject=SUBJECT).start()
    yield service
    service.stop()


def _notifications(page: Any, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The notifications the service worker shows, once there is at least one (polled: the push
    event runs in the worker, apart from the page)."""
    deadline = time.monotonic() + timeout_s
    while True:
        shown: list[dict[str, Any]] = page.evaluate(
            """async () => (await (await navigator.serviceWorker.ready).getNotifications())
                .map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url}))"""
        )
        if shown or time.monotonic() > deadline:
            return shown
        page.wait_for_timeout(100)


def _registration_id(cdp: Any, page: Any) -> str:
    """The service worker registration's id for DevTools (ServiceWorker domain events)."""
    found: list[str] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: found.extend(
            r["registrationId"] for r in event["registrations"] if not r.get("isDeleted")
        ),
    )
    cdp.send("ServiceWorker.enable")
    wait_for_service_worker(page)
    for _ in range(50):
        if found:
            return found[-1]
        page.wait_for_timeout(100)
    raise AssertionError("no service worker registration reported by DevTools")


def test_patient_turns_push_on_gets_a_reminder_that_opens_its_screen_then_turns_push_off(
    transactional_db: None, live_server: Any, browser: Any, world: World, push_service: PushService
) -> None:
    from recovery.reminders import services
    from recovery.reminders.models import ReminderKind, ReminderSchedule

    device = Browser()
    endpoint = push_service.endpoint(device)
    context = new_context(browser)
    context.grant_permissions(["notifications"], origin=live_server.url)
    context.add_init_script(
        script=FAKE_PUSH_MANAGER
        % {"spec": json.dumps({"endpoint": endpoint, "p256dh": device.p256dh, "auth": device.auth})}
    )
    page = context.new_page()
    sign_in(page, live_server.url, world.patient.email, heading="Hello, Pat")
    page.get_by_role("link", name="Reminders").click()
    page.get_by_text("Notifications are off.").wait_for()
    page.get_by_role("button", name="Turn notifications on").click()
    page.get_by_text("Notifications are on for this phone.").wait_for()
    axe_check(page, "patient-push-on")

    # The app subscribed with the server's VAPID key, and the server holds this browser's subscription.
    assert page.evaluate("window.__pushKeyGiven()") == b64url(_raw_public_key(push_service.public_key))
    stored = PushSubscription.objects.get(user=world.patient)
    assert (stored.endpoint, stored.p256dh, stored.auth) == (endpoint, device.p256dh, device.auth)
    consent = NotificationConsent.objects.filter(user=world.patient, kind="push").latest("at")
    assert consent.granted is True

    # A reload still shows it on, and turning it on again is not offered.
    page.reload()
    page.get_by_text("Notifications are on for this phone.").wait_for()
    assert page.get_by_role("button", name="Turn notifications on").count() == 0

    # The server pushes a due check-in reminder; the push service decrypts it with this browser's keys.
    services.schedules_sync_for_episode(episode=world.episode)
    checkin = ReminderSchedule.objects.get(episode=world.episode, kind=ReminderKind.CHECKIN)
    ReminderSchedule.objects.filter(pk=checkin.pk).update(next_due_at=timezone.now() - timedelta(seconds=5))
    checkin.refresh_from_db()
    assert checkin.next_due_at is not None
    services.reminder_send(schedule_id=checkin.id, slot=checkin.next_due_at)
    delivered = [r for r in push_service.received if endpoint.endswith(r.path)]
    assert len(delivered) == 1 and delivered[0].error is None, delivered
    payload = delivered[0].payload
    assert payload["url"] == f"/episodes/{world.episode.pk}/check-ins/new/"

    # That payload, delivered to the app's real service worker, shows a notification carrying the url.
    cdp = context.new_cdp_session(page)
    registration = _registration_id(cdp, page)
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": live_server.url, "registrationId": registration, "data": json.dumps(payload)},
    )
    shown = _notifications(page)
    assert shown == [
        {"title": payload["title"], "body": payload["body"], "tag": payload["tag"], "url": payload["url"]}
    ]

    # Opening the notification's url lands on the check-in screen.
    page.goto(live_server.url + shown[0]["url"])
    page.get_by_role("heading", level=2, name="How are you today?").wait_for()
    assert page.url == f"{live_server.url}/app/today/"

    # Off: the subscription is deleted on the server and the consent withdrawn.
    page.get_by_role("link", name="Reminders").click()
    page.get_by_role("button", name="Turn notifications off").click()
    page.get_by_text("Notifications are off.").wait_for()
    assert not PushSubscription.objects.filter(user=world.patient).exists()
    consent = NotificationConsent.objects.filter(user=world.patient, kind="push").latest("at")
    assert consent.granted is False
    assert page.evaluate("window.__pushKeyGiven()") is None
    context.close()


def test_when_the_browser_refuses_permission_push_stays_off_and_nothing_is_stored(
    transactional_db: None, live_server: Any, browser: Any, world: World, push_service: PushService
) -> None:
    device = Browser()
    spec = {"endpoint": push_service.endpoint(device), "p256dh": device.p256dh, "auth": device.auth}
    context = new_context(browser)  # no permission granted: headless Chromium answers the prompt "no"
    context.add_init_script(script=FAKE_PUSH_MANAGER % {"spec": json.dumps(spec)})
    page = context.new_page()
    sign_in(page, live_server.url, world.patient.email, heading="Hello, Pat")
    page.get_by_role("link", name="Reminders").click()
    page.get_by_role("button", name="Turn notifications on").click()
    page.get_by_text("Notifications are blocked in your browser settings.").wait_for()
    assert page.get_by_role("button", name="Turn notifications on").count() == 0
    assert not PushSubscription.objects.exists()
    assert not NotificationConsent.objects.exists()
    context.close()


def _raw_public_key(public_key: str) -> bytes:
    from tests.push_service import unb64url

    return unb64url(public_key)
