"""Security endpoints and the API-wide guards that go with them.

- ``GET /api/v1/auth/tokens/``: the caller's live bearer tokens (never the secret), ``current`` marking
  the one making the request. ``DELETE`` revokes all of them but the current one (204; idempotent).
- ``DELETE /api/v1/auth/tokens/{id}/``: revoke one of one's own tokens (204); anyone else's, or an
  unknown or already revoked one, is 404.
- ``GET|POST|DELETE /api/v1/auth/totp/`` and ``POST /api/v1/auth/totp/confirm/``: staff two-factor
  enrolment (status; a new secret and ``otpauth://`` URI; removal with a current code; confirmation
  with the first code).
- ``GET|PUT /api/v1/clinic/security/``: the clinic's ``totp_required`` switch, for its admins.

The API-wide guards that go with them (write rate limit, two-factor requirement) are in
``api/security_guards.py``, apart because settings name them and DRF imports them early.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import current_user
from api.fields import StrictBooleanField, StrictCharField, StrictSerializer
from recovery.accounts.models import ApiToken
from recovery.episodes.access import ClinicAction, can_in_clinic
from recovery.security.models import TokenDevice, TotpDevice
from recovery.security.selectors import clinic_policy, live_tokens, totp_required_for
from recovery.security.services import (
    clinic_policy_set,
    token_revoke_own,
    tokens_revoke_others,
    totp_enrol_confirm,
    totp_enrol_start,
    totp_remove,
    totp_uri,
)

# Tokens ------------------------------------------------------------------------------------------


class TokenInfoSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    device = serializers.CharField(allow_blank=True, help_text="The name given when asking for the token.")
    client = serializers.CharField(allow_blank=True, help_text="The User-Agent that asked for the token.")
    prefix = serializers.CharField(help_text="The token's first characters, to recognise it.")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True, help_text="To within 5 minutes.")
    expires_at = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="The token making this request.")


def _token_info(token: ApiToken, current: ApiToken | None) -> dict[str, Any]:
    try:
        device = token.device.name
    except TokenDevice.DoesNotExist:
        device = ""
    return {
        "id": token.pk,
        "device": device,
        "client": token.client,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
        "current": current is not None and token.pk == current.pk,
    }


def _current_token(request: Request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


class TokenListView(APIView):
    @extend_schema(responses={200: TokenInfoSerializer(many=True)}, summary="Your live bearer tokens")
    def get(self, request: Request) -> Response:
        current = _current_token(request)
        tokens = live_tokens(user=current_user(request))[:100]
        return Response([_token_info(token, current) for token in tokens])

    @extend_schema(
        request=None,
        responses={204: None},
        operation_id="auth_tokens_revoke_others",
        summary="Revoke all your tokens but this one",
    )
    def delete(self, request: Request) -> Response:
        tokens_revoke_others(user=current_user(request), keep=_current_token(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenDetailView(APIView):
    @extend_schema(
        request=None,
        responses={204: None},
        operation_id="auth_token_revoke",
        summary="Revoke one of your tokens",
    )
    def delete(self, request: Request, token_id: Any) -> Response:
        if not token_revoke_own(user=current_user(request), token_id=token_id):
            raise exceptions.NotFound("Token not found.")
        return Response(status=status.HTTP_204_NO_CONTENT)


# Two-factor --------------------------------------------------------------------------------------


class TotpStatusSerializer(serializers.Serializer[Any]):
    enrolled = serializers.BooleanField(help_text="An authenticator is confirmed and asked for at sign-in.")
    pending = serializers.BooleanField(help_text="Enrolment started but not confirmed yet.")
    required_by_clinic = serializers.BooleanField(help_text="Your clinic makes two-factor sign-in mandatory.")


class TotpEnrolmentSerializer(serializers.Serializer[Any]):
    secret = serializers.CharField(help_text="Base32 secret, for typing into the authenticator app.")
    otpauth_uri = serializers.CharField(help_text="otpauth://totp/... URI, for a QR code.")
    digits = serializers.IntegerField()
    period = serializers.IntegerField()
    algorithm = serializers.CharField()


class OtpSerializer(StrictSerializer):
    otp = StrictCharField(max_length=16, help_text="The current 6-digit code.")


def _totp_status(request: Request) -> dict[str, bool]:
    user = current_user(request)
    device = TotpDevice.objects.filter(user=user).first()
    return {
        "enrolled": device is not None and device.confirmed_at is not None,
        "pending": device is not None and device.confirmed_at is None,
        "required_by_clinic": totp_required_for(user),
    }


class TotpView(APIView):
    @extend_schema(responses={200: TotpStatusSerializer}, summary="Your two-factor sign-in state")
    def get(self, request: Request) -> Response:
        return Response(_totp_status(request))

    @extend_schema(
        request=None,
        responses={201: TotpEnrolmentSerializer},
        summary="Start two-factor enrolment (staff): a new secret; confirm it with its first code",
    )
    def post(self, request: Request) -> Response:
        user = current_user(request)
        secret = totp_enrol_start(user=user)
        body = {
            "secret": secret,
            "otpauth_uri": totp_uri(user=user, secret=secret),
            "digits": 6,
            "period": 30,
            "algorithm": "SHA1",
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=OtpSerializer, responses={204: None}, summary="Turn two-factor sign-in off (a current code)"
    )
    def delete(self, request: Request) -> Response:
        data = OtpSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not totp_remove(user=current_user(request), code=data.validated_data["otp"]):
            raise exceptions.NotFound("Two-factor sign-in is not set up.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class TotpConfirmView(APIView):
    @extend_schema(
        request=OtpSerializer,
        responses={200: TotpStatusSerializer},
        summary="Confirm two-factor enrolment with the authenticator's first code",
    )
    def post(self, request: Request) -> Response:
        data = OtpSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        totp_enrol_confirm(user=current_user(request), code=data.validated_data["otp"])
        return Response(_totp_status(request))


# Clinic policy -----------------------------------------------------------------------------------


class ClinicSecuritySerializer(StrictSerializer):
    totp_required = StrictBooleanField(help_text="Staff must sign in with an authenticator code.")


class ClinicSecurityView(APIView):
    def _check(self, request: Request) -> None:
        if not can_in_clinic(request.user, ClinicAction.ADMINISTER_CLINIC):
            raise exceptions.PermissionDenied("Only a clinic admin can see or change its security policy.")

    @extend_schema(responses={200: ClinicSecuritySerializer}, summary="Your clinic's security policy")
    def get(self, request: Request) -> Response:
        self._check(request)
        policy = clinic_policy(current_user(request).tenant_id)
        return Response({"totp_required": policy.totp_required})

    @extend_schema(
        request=ClinicSecuritySerializer,
        responses={200: ClinicSecuritySerializer},
        summary="Set your clinic's security policy",
    )
    def put(self, request: Request) -> Response:
        self._check(request)
        data = ClinicSecuritySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = current_user(request)
        assert user.clinic is not None
        policy = clinic_policy_set(
            actor=user, clinic=user.clinic, totp_required=data.validated_data["totp_required"]
        )
        return Response({"totp_required": policy.totp_required})


urlpatterns: list[URLPattern] = [
    path("auth/tokens/", TokenListView.as_view(), name="token-list"),
    path("auth/tokens/<uuid:token_id>/", TokenDetailView.as_view(), name="token-detail"),
    path("auth/totp/", TotpView.as_view(), name="totp"),
    path("auth/totp/confirm/", TotpConfirmView.as_view(), name="totp-confirm"),
    path("clinic/security/", ClinicSecurityView.as_view(), name="clinic-security"),
]
