"""Admin for security records, scoped like the rest of the admin.

Clinic admins see their clinic's authenticators (and may delete one, to reset a lost phone) and its
two-factor policy. Sign-in failures and lockouts name emails that may have no account in any clinic,
so only platform superusers see them (and may delete a lockout to unlock early).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import actor_of
from recovery.accounts.models import Role, User
from recovery.security.forms import AdminLoginForm
from recovery.security.models import ClinicSecurityPolicy, Lockout, LoginFailure, TotpDevice


def _clinic_admin(request: HttpRequest) -> bool:
    actor = actor_of(request)
    return actor.is_superuser or (actor.is_active and actor.role == Role.CLINIC_ADMIN)


class SuperuserOnlyAdmin(admin.ModelAdmin[Any]):
    def has_module_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return isinstance(user, User) and user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return actor_of(request).is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LoginFailure)
class LoginFailureAdmin(SuperuserOnlyAdmin):
    list_display = ["at", "email", "address", "reason", "cleared_at"]
    list_filter = ["reason"]
    search_fields = ["email", "address"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Lockout)
class LockoutAdmin(SuperuserOnlyAdmin):
    list_display = ["scope", "key", "until", "created_at"]
    list_filter = ["scope"]
    search_fields = ["key"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return actor_of(request).is_superuser


class ClinicScopedAdmin(admin.ModelAdmin[Any]):
    clinic_path = "clinic_id"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return isinstance(request.user, User) and _clinic_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _clinic_admin(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        actor = actor_of(request)
        return qs if actor.is_superuser else qs.filter(**{self.clinic_path: actor.clinic_id})


@admin.register(TotpDevice)
class TotpDeviceAdmin(ClinicScopedAdmin):
    clinic_path = "user__clinic_id"
    list_display = ["user", "created_at", "confirmed_at"]
    fields = ["user", "created_at", "confirmed_at"]
    readonly_fields = ["user", "created_at", "confirmed_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Resetting a lost authenticator: the user enrols again at the next sign-in.
        return _clinic_admin(request)


@admin.register(ClinicSecurityPolicy)
class ClinicSecurityPolicyAdmin(ClinicScopedAdmin):
    list_display = ["clinic", "totp_required", "updated_at", "updated_by"]
    fields = ["clinic", "totp_required", "updated_at", "updated_by"]
    readonly_fields = ["clinic", "updated_at", "updated_by"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _clinic_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ClinicSecurityPolicy, form: Any, change: bool) -> None:
        obj.updated_by = actor_of(request)
        super().save_model(request, obj, form, change)


# /admin/login/ follows the API's sign-in rules (lockouts, second factor).
admin.site.login_form = AdminLoginForm
