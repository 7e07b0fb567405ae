"""Writes for accounts: API tokens, invitations and passwords.

Invariants: a raw API token is returned exactly once, at issue, and only its SHA-256 is stored.
Revocation is a conditional UPDATE, so revoking twice is harmless. An invitation email is sent
at most once per invitation row: the task claims ``sent_at`` with a conditional UPDATE first.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from recovery.accounts.models import ApiToken, Invitation, User
from recovery.core.errors import ValidationFailed

TOKEN_PREFIX = "mbz_"
_LAST_USED_GRANULARITY = timedelta(minutes=5)


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


def credentials_check(*, request: HttpRequest | None, email: str, password: str) -> User | None:
    user = authenticate(request, username=email.strip().lower(), password=password)
    return user if isinstance(user, User) and user.is_active else None


def token_issue(*, user: User, client: str = "") -> tuple[str, ApiToken]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        key_hash=hash_token(raw),
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        client=client[:200],
        expires_at=timezone.now() + timedelta(days=settings.API_TOKEN_TTL_DAYS),
    )
    return raw, token


def token_authenticate(raw: str) -> tuple[User, ApiToken] | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    now = timezone.now()
    try:
        token = ApiToken.objects.select_related("user").get(
            key_hash=hash_token(raw), revoked_at__isnull=True, expires_at__gt=now
        )
    except ApiToken.DoesNotExist:
        return None
    if not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_GRANULARITY:
        # At most one write every few minutes per token, not one per request.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def invitation_link(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{settings.BASE_URL}/accounts/set-password/{uid}/{token}/"


@transaction.atomic
def invitation_create(*, user: User, invited_by: User | None) -> Invitation:
    from recovery.accounts.tasks import send_invitation
    from recovery.outbox.services import enqueue

    invitation = Invitation.objects.create(user=user, invited_by=invited_by)
    # Through the outbox: the email goes once the enrolment commits, even if the broker is down then
    # (``invitation_send`` claims ``sent_at``, so a second publication sends nothing).
    enqueue(send_invitation, str(invitation.pk), dedupe_key=f"invitation:{invitation.pk}")
    return invitation


def invitation_send(*, invitation_id: UUID | str) -> bool:
    """Send the set-password email once. Returns False when it was already sent (or never existed)."""
    claimed = Invitation.objects.filter(pk=invitation_id, sent_at__isnull=True).update(sent_at=timezone.now())
    if not claimed:
        return False
    invitation = Invitation.objects.select_related("user", "user__clinic").get(pk=invitation_id)
    user = invitation.user
    clinic_name = user.clinic.name if user.clinic else "your clinic"
    try:
        send_mail(
            subject=f"{clinic_name} invites you to Mobilize",
            message=(
                f"Hello {user.get_short_name()},\n\n"
                f"{clinic_name} uses Mobilize to follow your recovery after spine surgery.\n"
                f"Choose a password to sign in:\n\n{invitation_link(user)}\n\n"
                "The link works for 7 days. If you did not expect this email, you can ignore it.\n"
            ),
            from_email=None,
            recipient_list=[user.email],
        )
    except Exception:
        # Release the claim so that the retry sends it; the exception reaches Celery's retry.
        Invitation.objects.filter(pk=invitation_id).update(sent_at=None)
        raise
    return True


def _user_from_uid(uidb64: str) -> User | None:
    try:
        pk = UUID(force_str(urlsafe_base64_decode(uidb64)))
    except (ValueError, TypeError):
        return None
    return User.objects.filter(pk=pk, is_active=True).first()


@transaction.atomic
def password_set_from_invitation(*, uidb64: str, token: str, password: str) -> User:
    user = _user_from_uid(uidb64)
    if user is None or not default_token_generator.check_token(user, token):
        raise ValidationFailed(
            {"token": ["This link is invalid or has expired. Ask your clinic for a new one."]}
        )
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed({"password": list(exc.messages)}) from None
    user.set_password(password)
    user.save(update_fields=["password"])
    Invitation.objects.filter(user=user, accepted_at__isnull=True).update(accepted_at=timezone.now())
    return user


def tokens_purge_expired(*, older_than: timedelta = timedelta(days=30)) -> int:
    cutoff = timezone.now() - older_than
    deleted, _ = ApiToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
