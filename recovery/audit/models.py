"""The audit trail: who read or changed which patient's records, when, how, and from where.

Append-only, three ways: ``save()`` refuses to update a stored row and ``delete()`` refuses (also on
querysets), the admin has no add, change or delete permission, and on PostgreSQL a trigger
(migration 0002) raises on any UPDATE or DELETE of these tables, so raw SQL cannot rewrite history
either. Rows are written by ``recovery.audit.recording`` only.

Records keep the episode and patient ids without database foreign keys: an audit row must outlive
(and never block) changes to what it describes. The actor is a protected foreign key: a staff member
with audit history cannot be deleted, only deactivated.
"""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

from django.db import models
from django.utils import timezone

from recovery.accounts.models import Clinic, User
from recovery.episodes.models import Episode


class AppendOnlyError(Exception):
    """An attempt to change or remove an audit row."""


class AuditAction(models.TextChoices):
    VIEW = "view", "Viewed"
    LIST = "list", "Listed"
    CREATE = "create", "Created"
    UPDATE = "update", "Changed"
    DELETE = "delete", "Deleted"
    EXPORT = "export", "Exported"


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit rows cannot be changed.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit rows cannot be deleted.")


class AppendOnlyModel(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit rows cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit rows cannot be deleted.")


class AuditEvent(AppendOnlyModel):
    """One request by a staff member that read or changed patient records."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    actor_role = models.CharField(max_length=20)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=10, choices=AuditAction.choices)
    method = models.CharField(max_length=10)
    #: The URL name (``api:checkin-list``, ``admin:episodes_episode_change``): what kind of record.
    resource = models.CharField(max_length=120)
    #: The route pattern and the path actually requested.
    route = models.CharField(max_length=300)
    path = models.CharField(max_length=500)
    status_code = models.PositiveSmallIntegerField()
    address = models.CharField(max_length=45)
    user_agent = models.CharField(max_length=200, blank=True)
    #: The name the actor gave the bearer token used ("" for a session or an unnamed token).
    device = models.CharField(max_length=100, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "id"]
        indexes = [
            models.Index(fields=["clinic", "-at"], name="audit_event_clinic_at"),
            models.Index(fields=["actor", "-at"], name="audit_event_actor_at"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.action} {self.resource} at {self.at:%Y-%m-%d %H:%M:%S}"


class AuditRecord(AppendOnlyModel):
    """One patient record (an episode with its patient, or a patient's account alone) touched by an event."""

    id = models.BigAutoField(primary_key=True)
    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="records")
    #: Null when the patient's account was read without any of their episodes (the admin's people pages).
    episode = models.ForeignKey(
        Episode, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    patient = models.ForeignKey(User, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "episode"], name="audit_record_once"),
            models.UniqueConstraint(
                fields=["event", "patient"],
                condition=models.Q(episode__isnull=True),
                name="audit_record_account_once",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "event"], name="audit_record_patient"),
            models.Index(fields=["episode", "event"], name="audit_record_episode"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}: episode {self.episode_id}"
