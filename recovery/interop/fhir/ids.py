"""Stable FHIR ids: uuid5 of our own record ids in one fixed namespace.

A second export of the same records yields the same ``Resource.id`` and ``Observation.identifier``
values, so a receiver that stores by id (or matches on identifier) updates instead of duplicating.
One check-in yields several Observations, so the kind is part of the name. Never change NAMESPACE or
a kind's spelling: every id ever exported would change with it.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Final

NAMESPACE: Final = uuid.UUID("0a367970-b783-443a-b052-602004e9fff1")


class Kind(StrEnum):
    PATIENT = "patient"
    PRACTITIONER = "practitioner"
    PROCEDURE = "procedure"
    CAREPLAN = "careplan"
    AXIAL_PAIN = "observation/axial-pain"
    LIMB_PAIN = "observation/limb-pain"
    WALKING_MINUTES = "observation/walking-minutes"
    STEPS = "observation/steps"
    IMPORTED_OBSERVATION = "observation/imported"
    QUESTIONNAIRE_RESPONSE = "questionnaire-response"
    PROM_SCORE = "observation/prom-score"
    FLAG = "flag"
    BUNDLE = "bundle"
    IMPORTED_CHECKIN = "checkin/imported"


def stable_id(kind: Kind, record_id: uuid.UUID | str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind.value}/{record_id}"))
