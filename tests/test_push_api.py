"""The push-subscription, public-key and notification-consent endpoints, by behaviour."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from recovery.notifications.models import NotificationConsent, PushSubscription
from recovery.notifications.services import MAX_SUBSCRIPTIONS_PER_USER
from tests.conftest import World, client_for
from tests.push_service import Browser, b64url, configure_vapid_from_command

URL = "/api/v1/push-subscriptions/"
PUBLIC_KEY_URL = "/api/v1/push/public-key/"
CONSENT_URL = "/api/v1/me/notification-consent/"


def browser_subscription(endpoint: str = "", **changes: Any) -> dict[str, Any]:
    """What ``JSON.stringify(pushSubscription)`` sends."""
    browser = Browser()
    body: dict[str, Any] = {
        "endpoint": endpoint or f"https://fcm.googleapis.com/fcm/send/{os.urandom(8).hex()}",
        "keys": {"p256dh": browser.p256dh, "auth": browser.auth},
        "expirationTime": None,
    }
    body.update(changes)
    return body


def errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content
    found: dict[str, list[str]] = response.json()["errors"]
    return found


# --- subscribing ---------------------------------------------------------------------------------


def test_patient_subscribes_a_browser(world: World) -> None:
    body = browser_subscription()

    response = client_for(world.patient).post(
        URL, body, format="json", HTTP_USER_AGENT="Firefox/140 (Android)"
    )

    assert response.status_code == 201, response.content
    stored = PushSubscription.objects.get()
    assert response.json() == {
        "id": str(stored.id),
        "endpoint": body["endpoint"],
        "user_agent": "Firefox/140 (Android)",
        "created_at": response.json()["created_at"],
        "updated_at": response.json()["updated_at"],
        "expires_at": None,
        "last_success_at": None,
    }
    assert (stored.user, stored.p256dh, stored.auth) == (
        world.patient,
        body["keys"]["p256dh"],
        body["keys"]["auth"],
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/dGhpcy1pcy1ub3QtcmVhbA:APA91bH3-x_Yz0kQ9vLw",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABmZ-abc_def",
        "https://web.push.apple.com/QGuQyavXutnMH9_abc",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAADk%2fZ%2bqX",
    ],
)
def test_the_major_push_services_endpoints_are_accepted(world: World, endpoint: str) -> None:
    response = client_for(world.patient).post(URL, browser_subscription(endpoint), format="json")
    assert response.status_code == 201, response.content
    assert PushSubscription.objects.get().endpoint == endpoint


def test_replaying_a_subscription_returns_the_stored_row_without_a_duplicate(world: World) -> None:
    client = client_for(world.patient)
    body = browser_subscription()
    first = client.post(URL, body, format="json")

    again = client.post(URL, body, format="json")

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert PushSubscription.objects.count() == 1


def test_replay_with_new_keys_and_padding_stores_the_new_keys_canonically(world: World) -> None:
    client = client_for(world.patient)
    body = browser_subscription()
    client.post(URL, body, format="json")
    renewed = Browser()

    response = client.post(
        URL,
        {**body, "keys": {"p256dh": renewed.p256dh + "=", "auth": renewed.auth + "=="}},
        format="json",
    )

    assert response.status_code == 200
    stored = PushSubscription.objects.get()
    assert (stored.p256dh, stored.auth) == (renewed.p256dh, renewed.auth)


def test_expiration_time_in_milliseconds_is_kept(world: World) -> None:
    moment = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    response = client_for(world.patient).post(
        URL, browser_subscription(expirationTime=int(moment.timestamp() * 1000)), format="json"
    )
    assert response.status_code == 201
    assert PushSubscription.objects.get().expires_at == moment
    assert response.json()["expires_at"] == "2027-01-02T03:04:05Z"


def test_endpoint_subscribed_by_someone_else_moves_to_the_new_user(world: World) -> None:
    body = browser_subscription()
    client_for(world.patient).post(URL, body, format="json")

    # The same browser, now signed in as someone else (a shared tablet at home).
    response = client_for(world.other_patient).post(
        URL, browser_subscription(body["endpoint"]), format="json"
    )

    assert response.status_code == 201
    assert PushSubscription.objects.get().user == world.other_patient
    assert client_for(world.patient).get(URL).json() == []


def test_a_user_keeps_only_their_most_recently_seen_subscriptions(world: World) -> None:
    client = client_for(world.patient)
    first = browser_subscription()
    client.post(URL, first, format="json")
    for _ in range(MAX_SUBSCRIPTIONS_PER_USER):
        client.post(URL, browser_subscription(), format="json")

    kept = {row["endpoint"] for row in client.get(URL).json()}

    assert len(kept) == MAX_SUBSCRIPTIONS_PER_USER
    assert first["endpoint"] not in kept


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ({"p256dh": "not*base64!"}, "keys.p256dh"),
        ({"p256dh": b64url(os.urandom(64))}, "keys.p256dh"),
        ({"p256dh": b64url(b"\x04" + os.urandom(64))}, "keys.p256dh"),  # not a point on P-256
        ({"p256dh": base64.b64encode(b"\x04" + os.urandom(64)).decode() + "+/"}, "keys.p256dh"),
        ({"p256dh": 42}, "keys.p256dh"),
        ({"auth": "%%%"}, "keys.auth"),
        ({"auth": b64url(os.urandom(15))}, "keys.auth"),
        ({"auth": b64url(os.urandom(32))}, "keys.auth"),
        ({"auth": ""}, "keys.auth"),
    ],
)
def test_invalid_keys_are_400_naming_the_key(world: World, keys: dict[str, Any], field: str) -> None:
    body = browser_subscription()
    body["keys"].update(keys)

    found = errors(client_for(world.patient).post(URL, body, format="json"))

    assert set(found) == {field}
    assert PushSubscription.objects.count() == 0


def test_both_bad_keys_and_a_bad_endpoint_are_reported_together(world: World) -> None:
    body = browser_subscription("http://push.example.org/x", keys={"p256dh": "AAAA", "auth": "AAAA"})
    assert set(errors(client_for(world.patient).post(URL, body, format="json"))) == {
        "endpoint",
        "keys.p256dh",
        "keys.auth",
    }


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://push.example.org/send/1",
        "ftp://push.example.org/send/1",
        "push.example.org/send/1",
        "https://10.0.0.7/send/1",
        "https://[::1]/send/1",
        "https://user:secret@push.example.org/send/1",
        "https://push.example.org/" + "x" * 2048,
        "",
    ],
)
def test_endpoint_must_be_an_https_push_service_url(world: World, endpoint: str) -> None:
    body = browser_subscription(endpoint="placeholder")
    body["endpoint"] = endpoint
    assert set(errors(client_for(world.patient).post(URL, body, format="json"))) == {"endpoint"}


def test_loopback_http_endpoint_is_accepted_only_outside_production(world: World, settings: Any) -> None:
    body = browser_subscription("http://127.0.0.1:8765/push/abc")
    assert client_for(world.patient).post(URL, body, format="json").status_code == 201
    PushSubscription.objects.all().delete()

    settings.MOBILIZE_ENV, settings.DEBUG = "production", False

    assert set(errors(client_for(world.patient).post(URL, body, format="json"))) == {"endpoint"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"extra": 1}, "extra"),
        ({"expirationTime": "1700000000000"}, "expirationTime"),
        ({"expirationTime": True}, "expirationTime"),
        ({"expirationTime": -5}, "expirationTime"),
        ({"keys": {"p256dh": Browser().p256dh, "auth": Browser().auth, "extra": "x"}}, "keys.extra"),
        ({"keys": None}, "keys"),
        ({"endpoint": 5}, "endpoint"),
    ],
)
def test_malformed_subscription_json_is_400_naming_the_field(
    world: World, change: dict[str, Any], field: str
) -> None:
    body = browser_subscription(**change)
    assert field in errors(client_for(world.patient).post(URL, body, format="json"))


def test_missing_keys_is_400(world: World) -> None:
    found = errors(
        client_for(world.patient).post(URL, {"endpoint": "https://push.example.org/1"}, format="json")
    )
    assert set(found) == {"keys"}


# --- listing and deleting ------------------------------------------------------------------------


def test_each_user_lists_only_their_own_subscriptions(world: World) -> None:
    mine, theirs = browser_subscription(), browser_subscription()
    client_for(world.patient).post(URL, mine, format="json")
    client_for(world.physio).post(URL, theirs, format="json")

    assert [row["endpoint"] for row in client_for(world.patient).get(URL).json()] == [mine["endpoint"]]
    assert [row["endpoint"] for row in client_for(world.physio).get(URL).json()] == [theirs["endpoint"]]
    assert client_for(world.other_clinic_surgeon).get(URL).json() == []


def test_listing_costs_a_fixed_number_of_queries(world: World, django_assert_max_num_queries: Any) -> None:
    client = client_for(world.patient)
    for _ in range(5):
        client.post(URL, browser_subscription(), format="json")
    # Authentication (token lookup) plus one query for the list, however many rows.
    with django_assert_max_num_queries(3):
        assert len(client.get(URL).json()) == 5


def test_user_deletes_their_subscription_by_body_or_query(world: World) -> None:
    client = client_for(world.patient)
    by_body, by_query = browser_subscription(), browser_subscription()
    client.post(URL, by_body, format="json")
    client.post(URL, by_query, format="json")

    assert client.delete(URL, {"endpoint": by_body["endpoint"]}, format="json").status_code == 204
    assert client.delete(URL + "?endpoint=" + by_query["endpoint"]).status_code == 204

    assert PushSubscription.objects.count() == 0


def test_deleting_is_idempotent(world: World) -> None:
    client = client_for(world.patient)
    body = browser_subscription()
    client.post(URL, body, format="json")

    assert client.delete(URL, {"endpoint": body["endpoint"]}, format="json").status_code == 204
    assert client.delete(URL, {"endpoint": body["endpoint"]}, format="json").status_code == 204


def test_nobody_can_delete_another_users_subscription(world: World) -> None:
    body = browser_subscription()
    client_for(world.patient).post(URL, body, format="json")

    for persona in ("other_patient", "physio", "clinic_admin", "other_clinic_surgeon"):
        response = client_for(getattr(world, persona)).delete(
            URL, {"endpoint": body["endpoint"]}, format="json"
        )
        assert response.status_code == 204

    assert PushSubscription.objects.get().user == world.patient


def test_delete_needs_an_endpoint(world: World) -> None:
    client = client_for(world.patient)
    assert set(errors(client.delete(URL))) == {"endpoint"}
    assert set(errors(client.delete(URL, {"endpoint": 3}, format="json"))) == {"endpoint"}
    assert set(errors(client.delete(URL, {"endpoint": "https://a.example/1", "x": 1}, format="json"))) == {
        "x"
    }
    mismatch = client.delete(
        URL + "?endpoint=https://a.example/1", {"endpoint": "https://b.example/2"}, format="json"
    )
    assert set(errors(mismatch)) == {"endpoint"}


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", URL),
        ("post", URL),
        ("delete", URL),
        ("get", PUBLIC_KEY_URL),
        ("get", CONSENT_URL),
        ("post", CONSENT_URL),
    ],
)
def test_anonymous_is_401(db: None, method: str, url: str) -> None:
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert response.status_code == 401
    assert set(response.json()) == {"errors"}


# --- the VAPID public key ------------------------------------------------------------------------


def test_public_key_is_404_when_push_is_not_configured(world: World, settings: Any) -> None:
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = None
    response = client_for(world.patient).get(PUBLIC_KEY_URL)
    assert response.status_code == 404
    assert response.json() == {
        "errors": {"non_field_errors": ["Push notifications are not configured on this server."]}
    }


def test_public_key_is_the_configured_application_server_key(world: World, settings: Any) -> None:
    public_key, _ = configure_vapid_from_command(settings)

    response = client_for(world.patient).get(PUBLIC_KEY_URL)

    assert response.status_code == 200
    assert response.json() == {"public_key": public_key}
    raw = base64.urlsafe_b64decode(public_key + "=")
    assert len(raw) == 65 and raw[0] == 0x04


# --- notification consent ------------------------------------------------------------------------


def test_consent_changes_are_recorded_with_time_and_version_and_history_is_kept(world: World) -> None:
    client = client_for(world.patient)
    # Tomorrow and the day after, at fixed hours: inside the token's lifetime whenever the suite runs.
    tomorrow = timezone.now().astimezone(UTC).date() + timedelta(days=1)
    first = datetime.combine(tomorrow, time(9, 0), tzinfo=UTC)
    second = datetime.combine(tomorrow + timedelta(days=1), time(18, 30), tzinfo=UTC)
    with time_machine.travel(first, tick=False):
        granted = client.post(
            CONSENT_URL, {"kind": "push", "granted": True, "version": "2026-05"}, format="json"
        )
    with time_machine.travel(second, tick=False):
        revoked = client.post(
            CONSENT_URL, {"kind": "push", "granted": False, "version": "2026-05"}, format="json"
        )
        email = client.post(
            CONSENT_URL, {"kind": "email", "granted": True, "version": "2026-06"}, format="json"
        )

    assert (granted.status_code, revoked.status_code, email.status_code) == (201, 201, 201)
    assert granted.json() == {
        "kind": "push",
        "granted": True,
        "version": "2026-05",
        "at": first.isoformat().replace("+00:00", "Z"),
    }
    at_second = second.isoformat().replace("+00:00", "Z")
    state = client.get(CONSENT_URL).json()
    assert state["current"] == {
        "push": {"kind": "push", "granted": False, "version": "2026-05", "at": at_second},
        "email": {"kind": "email", "granted": True, "version": "2026-06", "at": at_second},
    }
    assert [(row["kind"], row["granted"], row["at"][:10]) for row in state["history"]][-1] == (
        "push",
        True,
        first.date().isoformat(),
    )
    assert len(state["history"]) == 3
    assert NotificationConsent.objects.filter(user=world.patient).count() == 3


def test_recording_the_current_consent_again_records_nothing(world: World) -> None:
    client = client_for(world.patient)
    body = {"kind": "email", "granted": True, "version": "2026-05"}
    assert client.post(CONSENT_URL, body, format="json").status_code == 201

    again = client.post(CONSENT_URL, body, format="json")
    new_version = client.post(CONSENT_URL, {**body, "version": "2026-09"}, format="json")

    assert (again.status_code, new_version.status_code) == (200, 201)
    assert NotificationConsent.objects.count() == 2


def test_consent_never_answered_is_null(world: World) -> None:
    assert client_for(world.patient).get(CONSENT_URL).json() == {
        "current": {"push": None, "email": None},
        "history": [],
    }


def test_consent_is_personal(world: World) -> None:
    client_for(world.patient).post(
        CONSENT_URL, {"kind": "push", "granted": True, "version": "1"}, format="json"
    )
    assert client_for(world.other_patient).get(CONSENT_URL).json()["history"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "sms", "granted": True, "version": "1"}, "kind"),
        ({"kind": "push", "granted": "yes", "version": "1"}, "granted"),
        ({"kind": "push", "granted": True}, "version"),
        ({"kind": "push", "granted": True, "version": "x" * 33}, "version"),
        ({"kind": "push", "granted": True, "version": "1", "at": "2020-01-01T00:00:00Z"}, "at"),
    ],
)
def test_bad_consent_is_400_naming_the_field(world: World, body: dict[str, Any], field: str) -> None:
    assert field in errors(client_for(world.patient).post(CONSENT_URL, body, format="json"))
    assert NotificationConsent.objects.count() == 0
