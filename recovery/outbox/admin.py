from __future__ import annotations

from django.contrib import admin

from recovery.outbox.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin[OutboxMessage]):
    list_display = ("id", "task", "created_at", "dispatched_at", "attempts")
    list_filter = ("task",)
    readonly_fields = ("task", "args", "dedupe_key", "created_at", "dispatched_at", "attempts", "last_error")
