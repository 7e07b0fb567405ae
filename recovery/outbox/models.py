"""The transactional outbox: one row per task a committed write asked for.

A row is written inside the caller's transaction, so it exists if and only if that write committed.
``dispatched_at`` is set only after the broker accepted the message; until then the row is relayed
again (at least once). Tasks named here are idempotent, so a second publication has no second effect.
"""

from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    id = models.BigAutoField(primary_key=True)
    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    # Natural key of the side effect (e.g. ``alert-event:42``): the same effect is enqueued once.
    # Empty: no de-duplication.
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="outbox_dedupe_key_unique",
            ),
        ]
        indexes = [
            # The relay's scan: only undispatched rows, oldest first.
            models.Index(
                fields=["id"], condition=models.Q(dispatched_at__isnull=True), name="outbox_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        state = "dispatched" if self.dispatched_at else "pending"
        return f"Outbox {self.pk} {self.task} ({state})"
