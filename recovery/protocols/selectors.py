"""Reads of expected-recovery protocols.

- A clinic uses the version it adopted (``ClinicProtocolAdoption``), else the latest shipped one.
- The clinic's overrides of that version are applied: for each target, its newest override row
  (highest ``sequence``); a row whose ``new_value`` is null means "back to the shipped value".
- Overrides of one clinic never reach another: every override query filters on ``clinic_id``.
- ``expected_recovery`` runs at most 3 queries; ``expected_recoveries`` and ``protocol_list`` a
  constant number whatever the number of procedures. A procedure without a shipped protocol raises
  ``ProtocolNotFound`` (single reads) or is left out (``expected_recoveries``).
- Protocols are not patient data: who may read them (clinic staff) is decided by the caller with
  ``ClinicAction.VIEW_PROTOCOLS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, OuterRef, QuerySet, Subquery

from recovery.episodes.models import Procedure
from recovery.protocols.documents import AppliedOverride, parse
from recovery.protocols.models import ClinicProtocolAdoption, ClinicProtocolOverride, ProtocolVersion
from recovery.protocols.types import ExpectedRecovery


class ProtocolNotFound(LookupError):
    """No protocol ships for this procedure (the API answers 404)."""


def _latest_versions(procedure_codes: Iterable[str]) -> QuerySet[ProtocolVersion]:
    newest = (
        ProtocolVersion.objects.filter(protocol_id=OuterRef("protocol_id"))
        .values("protocol_id")
        .annotate(top=Max("version"))
        .values("top")
    )
    return (
        ProtocolVersion.objects.filter(protocol__procedure_code__in=list(procedure_codes))
        .filter(version=Subquery(newest))
        .select_related("protocol")
    )


def _versions_in_use(*, clinic_id: uuid.UUID, procedure_codes: list[str]) -> dict[str, ProtocolVersion]:
    """The version each procedure uses in the clinic: 2 queries at most."""
    adopted = {
        adoption.protocol.procedure_code: adoption.version
        for adoption in ClinicProtocolAdoption.objects.filter(
            clinic_id=clinic_id, protocol__procedure_code__in=procedure_codes
        ).select_related("protocol", "version")
    }
    missing = [code for code in procedure_codes if code not in adopted]
    if missing:
        for version in _latest_versions(missing):
            adopted[version.protocol.procedure_code] = version
    return adopted


def version_in_use(*, clinic_id: uuid.UUID, procedure_code: str) -> ProtocolVersion:
    found = _versions_in_use(clinic_id=clinic_id, procedure_codes=[procedure_code])
    if procedure_code not in found:
        raise ProtocolNotFound(f"No protocol ships for procedure {procedure_code!r}.")
    return found[procedure_code]


def _newest_rows(
    *, clinic_id: uuid.UUID, version_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ClinicProtocolOverride]]:
    """Per version, the newest row of each target that still sets a value (1 query)."""
    newest: dict[tuple[uuid.UUID, str], ClinicProtocolOverride] = {}
    rows = (
        ClinicProtocolOverride.objects.filter(clinic_id=clinic_id, version_id__in=version_ids)
        .select_related("created_by")
        .order_by("version_id", "target", "sequence")
    )
    for row in rows:
        newest[(row.version_id, row.target)] = row
    out: dict[uuid.UUID, list[ClinicProtocolOverride]] = {}
    for (version_id, _), row in newest.items():
        if row.new_value is not None:
            out.setdefault(version_id, []).append(row)
    return out


def _applied(rows: Iterable[ClinicProtocolOverride]) -> list[AppliedOverride]:
    return [
        AppliedOverride(
            target=row.target,
            value=float(row.new_value),
            by=row.created_by.full_name or row.created_by.email,
            at=row.created_at,
            reason=row.reason,
        )
        for row in rows
        if row.new_value is not None
    ]


def effective_overrides(*, clinic_id: uuid.UUID, version: ProtocolVersion) -> list[AppliedOverride]:
    """The clinic's overrides in force on ``version`` (1 query)."""
    return _applied(_newest_rows(clinic_id=clinic_id, version_ids=[version.pk]).get(version.pk, []))


def expected_recoveries(
    *, clinic_id: uuid.UUID, procedure_codes: Iterable[str]
) -> dict[str, ExpectedRecovery]:
    """Expected recovery per procedure code for one clinic, in at most 3 queries."""
    codes = sorted(set(procedure_codes))
    if not codes:
        return {}
    versions = _versions_in_use(clinic_id=clinic_id, procedure_codes=codes)
    overrides = _newest_rows(clinic_id=clinic_id, version_ids=[v.pk for v in versions.values()])
    return {
        code: parse(version.document, _applied(overrides.get(version.pk, [])))
        for code, version in versions.items()
    }


def expected_recovery(*, procedure_code: str, clinic_id: uuid.UUID) -> ExpectedRecovery:
    """The clinic's expected recovery for one procedure (adopted version + overrides), 3 queries at most."""
    found = expected_recoveries(clinic_id=clinic_id, procedure_codes=[procedure_code])
    if procedure_code not in found:
        raise ProtocolNotFound(f"No protocol ships for procedure {procedure_code!r}.")
    return found[procedure_code]


@dataclass(frozen=True)
class ProtocolSummary:
    procedure: str
    procedure_name: str
    region: str
    title: str
    version: int
    latest_version: int
    shipped_versions: tuple[int, ...]
    adopted: bool
    adopted_by: str
    adopted_at: datetime | None
    overridden: bool
    override_count: int


def protocol_list(*, clinic_id: uuid.UUID) -> list[ProtocolSummary]:
    """Every procedure with a shipped protocol and what the clinic uses, in 5 queries."""
    shipped: dict[str, list[int]] = {}
    for code, number in ProtocolVersion.objects.values_list("protocol__procedure_code", "version"):
        shipped.setdefault(code, []).append(number)
    procedures = {p.code: p for p in Procedure.objects.filter(code__in=list(shipped))}
    adoptions = {
        a.protocol.procedure_code: a
        for a in ClinicProtocolAdoption.objects.filter(clinic_id=clinic_id).select_related(
            "protocol", "version", "adopted_by"
        )
    }
    versions = _latest_versions([code for code in shipped if code not in adoptions])
    in_use = {v.protocol.procedure_code: v for v in versions} | {c: a.version for c, a in adoptions.items()}
    overrides = _newest_rows(clinic_id=clinic_id, version_ids=[v.pk for v in in_use.values()])
    out: list[ProtocolSummary] = []
    for code in sorted(shipped):
        version = in_use[code]
        procedure = procedures.get(code)
        adoption = adoptions.get(code)
        count = len(overrides.get(version.pk, []))
        out.append(
            ProtocolSummary(
                procedure=code,
                procedure_name=procedure.name if procedure else code,
                region=str(version.document.get("region", "")),
                title=str(version.document.get("title", "")),
                version=version.version,
                latest_version=max(shipped.get(code, [version.version])),
                shipped_versions=tuple(sorted(shipped.get(code, []))),
                adopted=adoption is not None,
                adopted_by=(adoption.adopted_by.full_name if adoption and adoption.adopted_by else ""),
                adopted_at=adoption.adopted_at if adoption else None,
                overridden=count > 0,
                override_count=count,
            )
        )
    return out


@dataclass(frozen=True)
class EffectiveProtocol:
    version: ProtocolVersion
    expected: ExpectedRecovery
    adoption: ClinicProtocolAdoption | None
    shipped_versions: tuple[int, ...]


def effective_protocol(*, clinic_id: uuid.UUID, procedure_code: str) -> EffectiveProtocol:
    """The clinic's protocol for one procedure with its adoption and the shipped version numbers."""
    adoption = (
        ClinicProtocolAdoption.objects.filter(clinic_id=clinic_id, protocol__procedure_code=procedure_code)
        .select_related("version", "adopted_by")
        .first()
    )
    version = (
        adoption.version if adoption else version_in_use(clinic_id=clinic_id, procedure_code=procedure_code)
    )
    shipped = tuple(
        sorted(
            ProtocolVersion.objects.filter(protocol_id=version.protocol_id).values_list("version", flat=True)
        )
    )
    expected = parse(version.document, effective_overrides(clinic_id=clinic_id, version=version))
    return EffectiveProtocol(version=version, expected=expected, adoption=adoption, shipped_versions=shipped)


def override_history(*, clinic_id: uuid.UUID, procedure_code: str) -> QuerySet[ClinicProtocolOverride]:
    """Every override row the clinic recorded on any version of the procedure's protocol, newest first."""
    if not ProtocolVersion.objects.filter(protocol__procedure_code=procedure_code).exists():
        raise ProtocolNotFound(f"No protocol ships for procedure {procedure_code!r}.")
    return (
        ClinicProtocolOverride.objects.filter(
            clinic_id=clinic_id, version__protocol__procedure_code=procedure_code
        )
        .select_related("created_by", "version")
        .order_by("-created_at", "-sequence", "target")
    )
