"""The one write of the audit trail: an event with its records. Called by ``recording`` only.

Inserts only (the rows are append-only); never called twice for one request. Runs inside the
request's write transaction when there is one, so it commits or rolls back with the write.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection

from recovery.audit.models import AuditEvent, AuditRecord
from recovery.episodes.models import Episode


def audit_event_insert(
    *,
    event: dict[str, Any],
    token_id: uuid.UUID | None,
    episodes: dict[uuid.UUID, uuid.UUID | None],
    patients: set[uuid.UUID],
) -> None:
    """``event``: the values of ``_COLUMNS``; ``episodes``: episode id -> patient id (None: look it up);
    ``patients``: patients whose account was read (no second record when an episode covers them)."""
    if connection.vendor == "postgresql":
        _insert_in_one_statement(event, token_id, list(episodes), list(patients))
    else:
        _insert_with_the_orm(event, token_id, episodes, patients)


_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_role",
    "clinic_id",
    "action",
    "method",
    "resource",
    "route",
    "path",
    "status_code",
    "address",
    "user_agent",
)

# The event, the token's device name, one record per episode (its patient read from the episode row
# itself) and one per patient read without any of their episodes, in a single round trip. Table and
# column names are fixed; every value is a parameter.
_INSERT_ONE_STATEMENT = """
WITH event AS (
    INSERT INTO audit_auditevent (
        id, at, actor_id, actor_role, clinic_id, action, method, resource, route, path, status_code,
        address, user_agent, device
    )
    VALUES (
        %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
        COALESCE((SELECT name FROM security_tokendevice WHERE token_id = %s), '')
    )
    RETURNING id
),
touched AS (SELECT id, patient_id FROM episodes_episode WHERE id = ANY(%s))
INSERT INTO audit_auditrecord (event_id, episode_id, patient_id)
SELECT event.id, touched.id, touched.patient_id FROM event CROSS JOIN touched
UNION ALL
SELECT event.id, NULL, patient.id FROM event CROSS JOIN unnest(%s::uuid[]) AS patient (id)
WHERE patient.id NOT IN (SELECT patient_id FROM touched)
"""


def _insert_in_one_statement(
    row: dict[str, Any], token_id: uuid.UUID | None, episodes: list[uuid.UUID], patients: list[uuid.UUID]
) -> None:
    """PostgreSQL: auditing a request costs one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_ONE_STATEMENT, [*(row[column] for column in _COLUMNS), token_id, episodes, patients]
        )


def _insert_with_the_orm(
    row: dict[str, Any],
    token_id: uuid.UUID | None,
    episodes: dict[uuid.UUID, uuid.UUID | None],
    patients: set[uuid.UUID],
) -> None:
    """Other databases (the SQLite demo): the same rows in up to four queries."""
    from recovery.security.models import TokenDevice

    device = ""
    if token_id is not None:
        device = TokenDevice.objects.filter(token_id=token_id).values_list("name", flat=True).first() or ""
    known = dict(episodes)
    unknown = [episode_id for episode_id, patient_id in known.items() if patient_id is None]
    if unknown:
        known.update(Episode._base_manager.filter(pk__in=unknown).values_list("pk", "patient_id"))
    event = AuditEvent(**row, device=device)
    event.save()
    records = [
        AuditRecord(event=event, episode_id=episode_id, patient_id=patient_id)
        for episode_id, patient_id in known.items()
        if patient_id is not None
    ]
    covered = {record.patient_id for record in records}
    records += [AuditRecord(event=event, episode_id=None, patient_id=p) for p in patients - covered]
    AuditRecord.objects.bulk_create(records, batch_size=1000)
