"""Admin for clinics and accounts, scoped to the signed-in staff member's clinic.

Clinic admins manage the people of their own clinic; clinicians only see themselves; platform
superusers see everything. Nothing crosses clinics.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recovery.accounts.models import ApiToken, Clinic, PatientProfile, Role, User


def actor_of(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _is_clinic_admin(request: HttpRequest) -> bool:
    actor = actor_of(request)
    return actor.is_superuser or actor.role == Role.CLINIC_ADMIN


class StaffAdmin(admin.ModelAdmin[Any]):
    """Clinic staff may open and read; writes are opted into by each admin class."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        # Also asked for the anonymous visitor of /admin/login/ (AdminSite.each_context lists apps).
        user = request.user
        return isinstance(user, User) and user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return actor_of(request).is_staff

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_clinic_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Nothing is deleted through the admin: records must stay attributable.
        return False


@admin.register(Clinic)
class ClinicAdmin(StaffAdmin):
    list_display = ["name", "slug", "is_demo", "created_at"]
    search_fields = ["name", "slug"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Clinic]:
        qs = super().get_queryset(request)
        actor = actor_of(request)
        return qs if actor.is_superuser else qs.filter(pk=actor.tenant_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return actor_of(request).is_superuser


def _erased(user: Any) -> bool:
    """An account closed by ``recovery.privacy.services.patient_erase`` (its email is the erased one)."""
    from recovery.privacy.services import erased_email

    return isinstance(user, User) and user.email == erased_email(user.pk)


class PatientProfileInline(admin.StackedInline[PatientProfile, User]):
    model = PatientProfile
    can_delete = False
    extra = 0

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _erased(obj) and super().has_change_permission(request, obj)


@admin.register(User)
class UserAdmin(StaffAdmin):
    list_display = ["full_name", "email", "role", "clinic", "is_active"]
    list_filter = ["role", "is_active"]
    search_fields = ["full_name", "email"]
    readonly_fields = ["password", "last_login", "date_joined"]
    fields = [
        "email",
        "full_name",
        "role",
        "clinic",
        "is_active",
        "time_zone",
        "password",
        "last_login",
        "date_joined",
    ]
    inlines = [PatientProfileInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        qs = super().get_queryset(request).select_related("clinic")
        actor = actor_of(request)
        if actor.is_superuser:
            return qs
        if actor.role == Role.CLINIC_ADMIN:
            return qs.filter(clinic_id=actor.tenant_id)
        return qs.filter(pk=actor.pk)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not actor_of(request).is_superuser:
            fields.append("clinic")
        return fields

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        actor = actor_of(request)
        if not actor.is_superuser:
            obj.clinic_id = actor.clinic_id
        if not change:
            obj.set_unusable_password()
        super().save_model(request, obj, form, change)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_clinic_admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An erased account stays closed: shown, never changed or reactivated (its data are gone).
        return not _erased(obj) and super().has_change_permission(request, obj)


@admin.register(ApiToken)
class ApiTokenAdmin(StaffAdmin):
    list_display = ["prefix", "user", "client", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "user", "client", "created_at", "expires_at", "last_used_at"]
    exclude = ["key_hash"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        qs = super().get_queryset(request).select_related("user")
        actor = actor_of(request)
        if actor.is_superuser:
            return qs
        if actor.role == Role.CLINIC_ADMIN:
            return qs.filter(user__clinic_id=actor.tenant_id)
        return qs.filter(user=actor)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
