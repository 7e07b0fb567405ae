"""Clinics (the tenant), users with exactly one role, patient profiles and API tokens."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models

from recovery.accounts.timezones import validate_time_zone


class Clinic(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    # Marks the clinic created by ``seed_demo``; the seeder refuses to touch any other data.
    is_demo = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    PATIENT = "patient", "Patient"
    PHYSIOTHERAPIST = "physiotherapist", "Physiotherapist"
    SURGEON = "surgeon", "Surgeon"
    CLINIC_ADMIN = "clinic_admin", "Clinic admin"


STAFF_ROLES = frozenset({Role.PHYSIOTHERAPIST, Role.SURGEON, Role.CLINIC_ADMIN})
CLINICIAN_ROLES = frozenset({Role.PHYSIOTHERAPIST, Role.SURGEON})


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("role", Role.CLINIC_ADMIN)
        extra["is_superuser"] = True
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Always stored lower-case (see save()), so uniqueness is case-insensitive.
    email = models.EmailField(max_length=254, unique=True)
    full_name = models.CharField(max_length=200)
    role = models.CharField(max_length=20, choices=Role.choices)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="users", null=True, blank=True)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(auto_now_add=True)
    #: Staff only (a patient's zone is on their profile): the IANA zone of a clinician's own local
    #: times, e.g. their daily digest. Empty: the zone most of their current patients live in.
    time_zone = models.CharField(max_length=64, blank=True, default="", validators=[validate_time_zone])

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["full_name", "role"]

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="user_role_valid"
            ),
            # Only platform superusers live outside a clinic.
            models.CheckConstraint(
                condition=models.Q(clinic__isnull=False) | models.Q(is_superuser=True),
                name="user_belongs_to_clinic",
            ),
        ]
        ordering = ["full_name"]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    @property
    def is_staff(self) -> bool:
        """Django admin access: clinic staff (scoped by the access policy) and platform superusers."""
        return self.is_active and (self.is_superuser or self.role in STAFF_ROLES)

    @property
    def tenant_id(self) -> uuid.UUID:
        """The clinic of a clinic member; only platform superusers have none."""
        if self.clinic_id is None:
            raise ValueError(f"User {self.pk} belongs to no clinic.")
        return self.clinic_id

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_clinician(self) -> bool:
        return self.role in CLINICIAN_ROLES

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    SPANISH = "es", "Español"


class PatientProfile(models.Model):
    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="patient_profile"
    )
    date_of_birth = models.DateField()
    time_zone = models.CharField(max_length=64)
    preferred_language = models.CharField(max_length=8, choices=Language.choices, default=Language.ENGLISH)

    def __str__(self) -> str:
        return f"Profile of {self.user.full_name}"


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once, at issue."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    client = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user.email})"


class Invitation(models.Model):
    """A set-password email owed to a newly enrolled patient; ``sent_at`` claims the send once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Invitation for {self.user.email}"
