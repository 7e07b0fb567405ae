"""Load the shipped protocol files (``recovery/protocols/data/*.json``) into the database.

Runs after every ``migrate`` (post_migrate, which also follows a test-database flush) and from
``manage.py load_protocols``. Idempotent: a file whose (procedure, version) is stored with the same
content hash changes nothing. Versions are immutable: a file whose content differs from the stored
row of the same version is refused with ``ProtocolVersionConflict`` (bump ``version``), and so is a
file whose version is lower than one already stored. Every file is validated before anything is
written, and all writes happen in one transaction, so a bad file never half-loads a set.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

from recovery.protocols.documents import ProtocolFileError, content_hash, validate_document
from recovery.protocols.models import Protocol, ProtocolVersion

DATA_DIR = Path(__file__).resolve().parent / "data"


def shipped_procedure_codes() -> frozenset[str]:
    """The procedure codes the episodes app ships (its data migration holds the list)."""
    migration = importlib.import_module("recovery.episodes.migrations.0002_procedures")
    return frozenset(code for code, _name, _region in migration.PROCEDURES)


class ProtocolVersionConflict(ValueError):
    """A protocol file changed without a new ``version`` (or went back to an older one)."""


@dataclass(frozen=True)
class LoadResult:
    procedure: str
    version: int
    created: bool


def read_file(path: Path) -> dict[str, Any]:
    """Parse and validate one protocol file; the file name must be ``<procedure>.json``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ProtocolFileError({"": [f"not valid JSON: {exc}"]}, name=path.name) from exc
    doc = validate_document(raw, name=path.name)
    if doc["procedure"] != path.stem:
        raise ProtocolFileError({"procedure": [f"must match the file name ({path.stem!r})."]}, name=path.name)
    return doc


def shipped_documents(directory: Path = DATA_DIR) -> list[dict[str, Any]]:
    return [read_file(path) for path in sorted(directory.glob("*.json"))]


@transaction.atomic
def load_documents(documents: list[dict[str, Any]], *, using: str = "default") -> list[LoadResult]:
    results: list[LoadResult] = []
    for doc in documents:
        code = doc["procedure"]
        if code not in shipped_procedure_codes():
            raise ProtocolFileError({"procedure": [f"unknown procedure code {code!r}."]}, name=f"{code}.json")
        protocol, _ = Protocol.objects.using(using).get_or_create(procedure_code=code)
        digest = content_hash(doc)
        stored = (
            ProtocolVersion.objects.using(using).filter(protocol=protocol, version=doc["version"]).first()
        )
        if stored is not None:
            if stored.content_hash != digest:
                raise ProtocolVersionConflict(
                    f"{code}.json: the content of version {doc['version']} differs from the version "
                    f"already loaded (hash {stored.content_hash[:12]}, file {digest[:12]}). Stored "
                    "versions never change: bump 'version' in the file to publish new values."
                )
            results.append(LoadResult(code, doc["version"], created=False))
            continue
        newest = (
            ProtocolVersion.objects.using(using)
            .filter(protocol=protocol)
            .order_by("-version")
            .values_list("version", flat=True)
            .first()
        )
        if newest is not None and newest > doc["version"]:
            raise ProtocolVersionConflict(
                f"{code}.json: version {doc['version']} is older than version {newest} already loaded."
            )
        ProtocolVersion.objects.using(using).create(
            protocol=protocol, version=doc["version"], document=doc, content_hash=digest
        )
        results.append(LoadResult(code, doc["version"], created=True))
    return results


def load_shipped_protocols(*, directory: Path = DATA_DIR, using: str = "default") -> list[LoadResult]:
    """Validate every shipped file first, then load them all in one transaction."""
    return load_documents(shipped_documents(directory), using=using)
