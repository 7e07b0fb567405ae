"""Web Push subscriptions, the VAPID public key and notification consent: the signed-in user's own.

- ``POST /api/v1/push-subscriptions/``: the browser's ``PushSubscription.toJSON()``. 201 when stored
  for this user now, 200 when this user had already stored that endpoint (nothing duplicated). An
  endpoint stored by someone else moves to the caller (a shared device notifies whoever subscribed last).
- ``GET /api/v1/push-subscriptions/``: the caller's subscriptions (at most 10), most recently seen first.
- ``DELETE /api/v1/push-subscriptions/`` with ``{"endpoint": ...}`` or ``?endpoint=``: 204 whether or not
  the caller had it (idempotent, and another user's endpoint is untouched and not revealed).
- ``GET /api/v1/push/public-key/``: ``{"public_key": ...}`` for ``applicationServerKey``; 404 when push is
  not configured on this server.
- ``GET|POST /api/v1/me/notification-consent/``: the current consent per kind and its history; POST
  appends a change (201), or answers 200 and records nothing when it is the current state already.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.urls import URLPattern, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import current_user
from api.fields import StrictBooleanField, StrictCharField, StrictSerializer
from recovery.notifications.models import ConsentKind, NotificationConsent, PushSubscription
from recovery.notifications.push import push_enabled
from recovery.notifications.selectors import consent_history, consent_state, subscriptions_for
from recovery.notifications.services import (
    ENDPOINT_MAX_LENGTH,
    consent_record,
    subscription_delete,
    subscription_save,
)

# JavaScript's largest exact integer: browsers give expirationTime as milliseconds since the epoch.
_MAX_EPOCH_MS = 2**53 - 1


@extend_schema_field(OpenApiTypes.NUMBER)
class EpochMillisecondsField(serializers.Field[datetime, Any, Any, Any]):
    """A JSON number of milliseconds since 1970-01-01 UTC, as a DOMHighResTimeStamp."""

    default_error_messages = {"invalid": "Must be a number of milliseconds since 1970-01-01 UTC, or null."}

    def to_internal_value(self, data: Any) -> datetime:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if not math.isfinite(data) or not 0 <= data <= _MAX_EPOCH_MS:
            self.fail("invalid")
        try:
            return datetime.fromtimestamp(data / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            self.fail("invalid")
            raise  # unreachable: fail() raises

    def to_representation(self, value: datetime) -> float:
        return value.timestamp() * 1000


class PushKeysSerializer(StrictSerializer):
    p256dh = StrictCharField(
        max_length=200, help_text="base64url of the browser's P-256 public key (65 bytes)."
    )
    auth = StrictCharField(max_length=100, help_text="base64url of the 16-byte authentication secret.")


class PushSubscriptionInputSerializer(StrictSerializer):
    endpoint = StrictCharField(
        max_length=ENDPOINT_MAX_LENGTH, help_text="The push service URL (https) from the browser."
    )
    keys = PushKeysSerializer()
    expirationTime = EpochMillisecondsField(  # noqa: N815  (the browser's own field name)
        required=False,
        allow_null=True,
        help_text="Milliseconds since the epoch when the subscription expires, or null.",
    )


class PushSubscriptionSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    endpoint = serializers.CharField()
    user_agent = serializers.CharField(allow_blank=True, help_text="The browser that subscribed.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(help_text="When the browser last sent this subscription.")
    expires_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True, help_text="Last delivery accepted.")


class EndpointSerializer(StrictSerializer):
    endpoint = StrictCharField(max_length=ENDPOINT_MAX_LENGTH)


class PublicKeySerializer(serializers.Serializer[Any]):
    public_key = serializers.CharField(
        help_text="base64url uncompressed P-256 point: pass it as applicationServerKey to PushManager.subscribe()."
    )


class ConsentInputSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=ConsentKind.choices)
    granted = StrictBooleanField()
    version = StrictCharField(max_length=32, help_text="The version of the consent text shown, e.g. 2026-05.")


class ConsentSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=ConsentKind.choices)
    granted = serializers.BooleanField()
    version = serializers.CharField()
    at = serializers.DateTimeField(help_text="When the server recorded the change.")


class ConsentCurrentSerializer(serializers.Serializer[Any]):
    push = ConsentSerializer(allow_null=True, help_text="Null: never answered.")
    email = ConsentSerializer(allow_null=True, help_text="Null: never answered.")


class ConsentStateSerializer(serializers.Serializer[Any]):
    current = ConsentCurrentSerializer()
    history = ConsentSerializer(many=True, help_text="Every change, newest first (the latest 100).")


def _subscription(row: PushSubscription) -> dict[str, Any]:
    return dict(PushSubscriptionSerializer(row).data)


def _consent(row: NotificationConsent | None) -> dict[str, Any] | None:
    return None if row is None else dict(ConsentSerializer(row).data)


class PushSubscriptionView(APIView):
    @extend_schema(responses={200: PushSubscriptionSerializer(many=True)}, summary="My push subscriptions")
    def get(self, request: Request) -> Response:
        return Response([_subscription(row) for row in subscriptions_for(user=current_user(request))])

    @extend_schema(
        request=PushSubscriptionInputSerializer,
        responses={201: PushSubscriptionSerializer, 200: PushSubscriptionSerializer},
        summary="Store this browser's push subscription (201), or confirm one already stored (200)",
    )
    def post(self, request: Request) -> Response:
        data = PushSubscriptionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        validated = data.validated_data
        row, created = subscription_save(
            user=current_user(request),
            endpoint=validated["endpoint"],
            p256dh=validated["keys"]["p256dh"],
            auth=validated["keys"]["auth"],
            expires_at=validated.get("expirationTime"),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        return Response(_subscription(row), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "endpoint",
                OpenApiTypes.STR,
                description='The endpoint to forget; a JSON body {"endpoint": "..."} works too.',
            )
        ],
        responses={204: None},
        summary="Forget one of my push subscriptions (204 also when I had none at that endpoint)",
    )
    def delete(self, request: Request) -> Response:
        from_query = request.query_params.get("endpoint")
        if request.data:
            data = EndpointSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            endpoint = data.validated_data["endpoint"]
            if from_query is not None and from_query != endpoint:
                raise exceptions.ValidationError(
                    {"endpoint": ["The query and the body name different endpoints."]}
                )
        elif from_query:
            endpoint = from_query
        else:
            raise exceptions.ValidationError({"endpoint": ["This field is required."]})
        subscription_delete(user=current_user(request), endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PushPublicKeyView(APIView):
    @extend_schema(
        responses={200: PublicKeySerializer, 404: OpenApiResponse(description="Push is not configured.")},
        summary="The VAPID public key for PushManager.subscribe()",
    )
    def get(self, request: Request) -> Response:
        if not push_enabled():
            raise exceptions.NotFound("Push notifications are not configured on this server.")
        return Response({"public_key": settings.VAPID_PUBLIC_KEY})


class NotificationConsentView(APIView):
    def _state(self, request: Request) -> dict[str, Any]:
        user = current_user(request)
        return {
            "current": {str(kind): _consent(row) for kind, row in consent_state(user=user).items()},
            "history": [_consent(row) for row in consent_history(user=user)],
        }

    @extend_schema(responses={200: ConsentStateSerializer}, summary="My notification consent and its history")
    def get(self, request: Request) -> Response:
        return Response(self._state(request))

    @extend_schema(
        request=ConsentInputSerializer,
        responses={201: ConsentSerializer, 200: ConsentSerializer},
        summary="Record a consent change (201); the current state again records nothing (200)",
    )
    def post(self, request: Request) -> Response:
        data = ConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        validated = data.validated_data
        row, created = consent_record(
            user=current_user(request),
            kind=ConsentKind(validated["kind"]),
            granted=validated["granted"],
            version=validated["version"],
        )
        return Response(_consent(row), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


urlpatterns: list[URLPattern] = [
    path("push-subscriptions/", PushSubscriptionView.as_view(), name="push-subscriptions"),
    path("push/public-key/", PushPublicKeyView.as_view(), name="push-public-key"),
    path("me/notification-consent/", NotificationConsentView.as_view(), name="notification-consent"),
]
