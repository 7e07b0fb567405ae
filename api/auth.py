"""Sign-in: bearer tokens for apps and scripts, CSRF-protected sessions for the same-origin PWA."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import login, logout
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import BearerTokenAuthentication
from api.fields import StrictCharField, StrictSerializer
from api.me import MeSerializer, me_payload
from recovery.accounts.models import ApiToken, User
from recovery.accounts.services import password_set_from_invitation, token_revoke
from recovery.security.net import client_address
from recovery.security.services import SignInFailed, SignInLocked, sign_in, token_issue_for_device


class CredentialsSerializer(StrictSerializer):
    email = StrictCharField(max_length=254)
    password = StrictCharField(max_length=4096, trim_whitespace=False)
    otp = StrictCharField(
        max_length=16,
        required=False,
        help_text="The 6-digit code from the authenticator app; required once two-factor sign-in is set up.",
    )


class TokenRequestSerializer(CredentialsSerializer):
    device = StrictCharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="A name for this device, shown in GET /api/v1/auth/tokens/ (e.g. 'Ana's phone').",
    )


class TokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


def _signed_in_user(request: Request, data: dict[str, Any]) -> User:
    """The user whose email and password (and second factor) the body carries.

    The same 401 for an unknown email and a wrong password; while the account or the address is locked
    the same 429 with ``Retry-After`` whatever the body says (recovery/security/services.py).
    """
    try:
        return sign_in(
            request=request._request,
            email=data["email"],
            password=data["password"],
            otp=data.get("otp"),
            address=client_address(request._request),
        )
    except SignInLocked as locked:
        raise exceptions.Throttled(wait=locked.retry_after, detail=str(locked)) from None
    except SignInFailed as failed:
        raise exceptions.AuthenticationFailed(failed.errors) from None


def _client_name(request: Request) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))[:200]


class TokenView(APIView):
    def get_authenticators(self) -> list[Any]:
        # Creating a token needs no prior authentication; revoking one needs that very token.
        if self.request is not None and self.request.method == "DELETE":
            return [BearerTokenAuthentication()]
        return []

    def get_permissions(self) -> list[Any]:
        if self.request is not None and self.request.method == "DELETE":
            return list(super().get_permissions())
        return [AllowAny()]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={201: TokenSerializer},
        auth=[],
        summary="Exchange email and password for a bearer token",
    )
    def post(self, request: Request) -> Response:
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _signed_in_user(request, data.validated_data)
        raw, token = token_issue_for_device(
            user=user, client=_client_name(request), device=data.validated_data.get("device", "")
        )
        return Response({"token": raw, "expires_at": token.expires_at}, status=status.HTTP_201_CREATED)

    def get_authenticate_header(self, request: Request) -> str:
        return BearerTokenAuthentication().authenticate_header(request)

    @extend_schema(
        request=None, responses={204: None}, summary="Revoke the bearer token used for this request"
    )
    def delete(self, request: Request) -> Response:
        token = request.auth
        assert isinstance(token, ApiToken)
        token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class CsrfView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        responses={200: inline_serializer("CsrfToken", {"csrf_token": serializers.CharField()})},
        auth=[],
        summary="Set the CSRF cookie for session sign-in and return its token",
    )
    def get(self, request: Request) -> Response:
        return Response({"csrf_token": get_token(request._request)})


@method_decorator(csrf_protect, name="dispatch")
class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        request=CredentialsSerializer, responses={200: MeSerializer}, auth=[], summary="Session sign-in"
    )
    def post(self, request: Request) -> Response:
        data = CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _signed_in_user(request, data.validated_data)
        login(request._request, user)
        return Response(me_payload(user))

    def get_authenticate_header(self, request: Request) -> str:
        return 'Session realm="api"'


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None}, summary="Session sign-out")
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SetPasswordSerializer(StrictSerializer):
    uid = StrictCharField(max_length=64)
    token = StrictCharField(max_length=128)
    password = StrictCharField(max_length=4096, trim_whitespace=False)


class SetPasswordView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        request=SetPasswordSerializer,
        responses={204: None},
        auth=[],
        summary="Choose a password from an invitation link",
    )
    def post(self, request: Request) -> Response:
        data = SetPasswordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        password_set_from_invitation(
            uidb64=data.validated_data["uid"],
            token=data.validated_data["token"],
            password=data.validated_data["password"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
