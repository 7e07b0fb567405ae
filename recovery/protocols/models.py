"""Expected-recovery protocols, versioned, and each clinic's adoption of and overrides to them.

- ``Protocol``: one per procedure that ships a protocol file.
- ``ProtocolVersion``: one validated protocol document per (protocol, version), with the SHA-256 of
  its canonical JSON. Rows are never changed: a file whose content differs from the stored version
  with the same number is refused (see ``loading``).
- ``ClinicProtocolAdoption``: the version a clinic uses, with who adopted it and when. Without a row
  the clinic uses the latest shipped version.
- ``ClinicProtocolOverride``: append-only; each row replaces one value (``target``) of one version
  for one clinic, with who, when, why, the value before and the new value (null = back to shipped).
  The effective value of a target is that of its newest row.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from recovery.accounts.models import Clinic


class Protocol(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A plain code, not a foreign key: shipped protocols load right after migrate and after a test
    # flush, before (or without) the procedure rows; the loader checks codes against the shipped list.
    procedure_code = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["procedure_code"]

    def __str__(self) -> str:
        return f"Protocol {self.procedure_code}"


class ProtocolVersion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    document = models.JSONField(help_text="The validated protocol file.")
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical JSON.")
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["protocol_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["protocol", "version"], name="protocol_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="protocol_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.protocol.procedure_code} v{self.version}"


class ClinicProtocolAdoption(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="protocol_adoptions")
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="adoptions")
    version = models.ForeignKey(ProtocolVersion, on_delete=models.PROTECT, related_name="adoptions")
    adopted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    adopted_at = models.DateTimeField()

    class Meta:
        ordering = ["clinic_id", "protocol_id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "protocol"], name="protocol_adoption_one_per_clinic"),
        ]

    def __str__(self) -> str:
        return f"{self.clinic_id} uses {self.version_id}"


class ClinicProtocolOverride(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="protocol_overrides")
    version = models.ForeignKey(ProtocolVersion, on_delete=models.PROTECT, related_name="overrides")
    target = models.CharField(max_length=120, help_text='A value path such as "axial.42.upper".')
    # 1, 2, 3... per (clinic, version, target): the newest row wins, whatever the clock says.
    sequence = models.PositiveIntegerField()
    old_value = models.FloatField(null=True, blank=True, help_text="The effective value before.")
    new_value = models.FloatField(null=True, blank=True, help_text="Null: back to the shipped value.")
    shipped_value = models.FloatField(null=True, blank=True)
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "version", "target", "sequence"], name="protocol_override_sequence"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="protocol_override_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.clinic_id} {self.target} -> {self.new_value}"
