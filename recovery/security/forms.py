"""The Django admin's sign-in form, held to the same rules as the API: lockouts, the failure count
and the second factor (``recovery.security.services.sign_in``). Without it ``/admin/login/`` would be
a way around both."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from recovery.accounts.models import User
from recovery.security.net import client_address
from recovery.security.selectors import two_factor_pending
from recovery.security.services import SignInFailed, SignInLocked, sign_in

ADMIN_TWO_FACTOR_PENDING = (
    "Your clinic requires two-factor sign-in. Set up an authenticator in the app first, then sign in here "
    "with its code."
)


class AdminLoginForm(AdminAuthenticationForm):
    otp = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=16,
        strip=True,
        help_text="Only if you have set up two-factor sign-in.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is None or not password or self.request is None:
            return self.cleaned_data
        try:
            user = sign_in(
                request=self.request,
                email=email,
                password=password,
                otp=self.cleaned_data.get("otp") or None,
                address=client_address(self.request),
            )
        except SignInLocked as locked:
            raise ValidationError(str(locked), code="locked") from None
        except SignInFailed as failed:
            if "otp" in failed.errors:
                raise ValidationError({"otp": failed.errors["otp"]}) from None
            raise self.get_invalid_login_error() from None
        self.confirm_login_allowed(user)
        if isinstance(user, User) and two_factor_pending(user):
            raise ValidationError(ADMIN_TWO_FACTOR_PENDING, code="two_factor_pending")
        self.user_cache = user
        return self.cleaned_data
