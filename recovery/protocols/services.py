"""Writes for expected-recovery protocols: a clinic adopts a shipped version, or overrides values.

Invariants and idempotency:
- Only the clinic's own rows are written; the caller passes the actor, whose clinic is used.
- ``protocol_adopt``: one adoption row per (clinic, protocol) (unique constraint), holding who and
  when. Adopting the version already in use changes nothing and reports ``created=False``.
- ``protocol_override``: append-only rows. The shipped version's row is locked (``select_for_update``)
  for the length of the write, so two concurrent overrides of one version are serialised and the
  per-target ``sequence`` (unique) cannot be taken twice. Posting the value a target already has adds
  no row. The document with every effective override plus the new one is validated by the same rules
  as a shipped file (pain 0-10, upper >= center, days >= 0 ...), so a clinic can never store a protocol
  the loader would refuse; nothing is written when it fails.
- Overrides belong to one shipped version: adopting another version starts from that version's shipped
  values (old overrides stay in the history, attached to their version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from recovery.core.errors import ValidationFailed
from recovery.protocols.documents import (
    INTEGER_FIELDS,
    AppliedOverride,
    ProtocolFileError,
    resolve_target,
    validate_document,
)
from recovery.protocols.documents import apply_overrides as apply_to_document
from recovery.protocols.models import (
    ClinicProtocolAdoption,
    ClinicProtocolOverride,
    Protocol,
    ProtocolVersion,
)
from recovery.protocols.selectors import ProtocolNotFound, effective_overrides, version_in_use

if TYPE_CHECKING:
    from recovery.accounts.models import User

TARGET_HELP = (
    'Use "axial.<day>.center|upper", "limb.<day>.center|upper", "proms.<timepoint>.expected_score", '
    '"thresholds.<kind>.improvement" or "milestones.<key>.expected_by_day|target" for a value listed in '
    "the protocol."
)


def _protocol(procedure_code: str) -> Protocol:
    protocol = Protocol.objects.filter(procedure_code=procedure_code).first()
    if protocol is None:
        raise ProtocolNotFound(f"No protocol ships for procedure {procedure_code!r}.")
    return protocol


@transaction.atomic
def protocol_adopt(*, actor: User, procedure_code: str, version: int) -> tuple[ClinicProtocolAdoption, bool]:
    """Make ``version`` the one the actor's clinic uses. Returns (adoption, changed)."""
    protocol = _protocol(procedure_code)
    chosen = ProtocolVersion.objects.filter(protocol=protocol, version=version).first()
    if chosen is None:
        known = sorted(ProtocolVersion.objects.filter(protocol=protocol).values_list("version", flat=True))
        raise ValidationFailed(
            {
                "version": [
                    f"Version {version} does not exist; shipped versions: {', '.join(map(str, known))}."
                ]
            }
        )
    clinic_id = actor.tenant_id
    current = (
        ClinicProtocolAdoption.objects.select_for_update()
        .filter(clinic_id=clinic_id, protocol=protocol)
        .first()
    )
    if current is None:
        try:
            with transaction.atomic():
                adoption = ClinicProtocolAdoption.objects.create(
                    clinic_id=clinic_id,
                    protocol=protocol,
                    version=chosen,
                    adopted_by=actor,
                    adopted_at=timezone.now(),
                )
            return adoption, True
        except IntegrityError:
            # A concurrent first adoption won the unique (clinic, protocol); continue from its row.
            current = ClinicProtocolAdoption.objects.select_for_update().get(
                clinic_id=clinic_id, protocol=protocol
            )
    if current.version_id == chosen.pk:
        return current, False
    current.version = chosen
    current.adopted_by = actor
    current.adopted_at = timezone.now()
    current.save(update_fields=["version", "adopted_by", "adopted_at"])
    return current, True


@dataclass(frozen=True)
class TargetState:
    """One overridable value as the clinic sees it after a write."""

    target: str
    version: int
    shipped_value: float | None
    value: float | None
    overridden: bool
    last_change: ClinicProtocolOverride | None


def _clean_value(target_field: str, value: float | None) -> float | None:
    if value is None:
        return None
    if target_field in INTEGER_FIELDS and float(value) != int(value):
        raise ValidationFailed({"value": ["Must be a whole number of post-op days."]})
    return float(value)


@transaction.atomic
def protocol_override(
    *, actor: User, procedure_code: str, target: str, value: float | None, reason: str
) -> tuple[TargetState, bool]:
    """Override one value of the protocol version the actor's clinic uses (``value=None`` goes back to
    the shipped value). Returns (state, created) where ``created`` says whether a row was added."""
    if not reason.strip():
        raise ValidationFailed({"reason": ["Say why the clinic changes this value."]})
    clinic_id = actor.tenant_id
    in_use = version_in_use(clinic_id=clinic_id, procedure_code=procedure_code)
    # Serialise overrides of this version (see module docstring).
    version = ProtocolVersion.objects.select_for_update().get(pk=in_use.pk)
    resolved = resolve_target(version.document, target)
    if resolved is None:
        raise ValidationFailed(
            {"target": [f"Unknown target {target!r} for {procedure_code} v{version.version}. {TARGET_HELP}"]}
        )
    new_value = _clean_value(resolved.field, value)

    history = list(
        ClinicProtocolOverride.objects.filter(clinic_id=clinic_id, version=version, target=target).order_by(
            "-sequence"
        )[:1]
    )
    latest = history[0] if history else None
    current_override = latest.new_value if latest is not None else None
    current = current_override if current_override is not None else resolved.value
    if (latest is None and new_value is None) or (latest is not None and latest.new_value == new_value):
        return TargetState(
            target, version.version, resolved.value, current, current_override is not None, latest
        ), False

    others = [o for o in effective_overrides(clinic_id=clinic_id, version=version) if o.target != target]
    if new_value is not None:
        others.append(
            AppliedOverride(target=target, value=new_value, by="", at=timezone.now(), reason=reason)
        )
    try:
        validate_document(apply_to_document(version.document, others))
    except ProtocolFileError as exc:
        messages = [f"{path}: {'; '.join(found)}" for path, found in exc.errors.items()]
        raise ValidationFailed({"value": messages}) from None

    row = ClinicProtocolOverride.objects.create(
        clinic_id=clinic_id,
        version=version,
        target=target,
        sequence=(latest.sequence + 1) if latest is not None else 1,
        old_value=current,
        new_value=new_value,
        shipped_value=resolved.value,
        reason=reason.strip(),
        created_by=actor,
        created_at=timezone.now(),
    )
    effective = new_value if new_value is not None else resolved.value
    return TargetState(target, version.version, resolved.value, effective, new_value is not None, row), True
