"""Code systems and codes used in our FHIR resources, each with where it comes from.

Clinical codes come only from the clinical reference (``/work/shared/clinical/REFERENCE.md`` section 6)
or from the instrument data (``recovery/proms/instruments/*.json``, which cites the same section).
Where the reference has no code, we use our own code systems under ``MOBILIZE_FHIR`` and say so:
receivers see at once that the code is local, not a standard terminology.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/flag-category"
BCP47: Final = "urn:ietf:bcp:47"

#: Our own namespace for local code systems and identifiers. Fixed, not the deployment's URL: ids and
#: identifiers must be the same from every server so that a receiver updates instead of duplicating.
MOBILIZE_FHIR: Final = "https://mobilize.example/fhir"
OBSERVATION_CODES: Final = f"{MOBILIZE_FHIR}/CodeSystem/observation"
BODY_SITE: Final = f"{MOBILIZE_FHIR}/CodeSystem/body-site"
PROCEDURE_CODES: Final = f"{MOBILIZE_FHIR}/CodeSystem/procedure"
EXERCISE_CODES: Final = f"{MOBILIZE_FHIR}/CodeSystem/exercise"
ALERT_RULE: Final = f"{MOBILIZE_FHIR}/CodeSystem/alert-rule"
ALERT_SEVERITY: Final = f"{MOBILIZE_FHIR}/CodeSystem/alert-severity"
QUESTIONNAIRE_BASE: Final = f"{MOBILIZE_FHIR}/Questionnaire"
ID_PATIENT: Final = f"{MOBILIZE_FHIR}/identifier/patient"
ID_PRACTITIONER: Final = f"{MOBILIZE_FHIR}/identifier/practitioner"
ID_PROCEDURE: Final = f"{MOBILIZE_FHIR}/identifier/procedure"
ID_OBSERVATION: Final = f"{MOBILIZE_FHIR}/identifier/observation"
ID_QUESTIONNAIRE_RESPONSE: Final = f"{MOBILIZE_FHIR}/identifier/questionnaire-response"
ID_CAREPLAN: Final = f"{MOBILIZE_FHIR}/identifier/careplan"
ID_FLAG: Final = f"{MOBILIZE_FHIR}/identifier/flag"


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


#: Clinical reference section 6, LOINC table: "HL7 Belgium patient-monitoring IG ValueSet pain-scale;
#: French 'mesures de santé' IG profile", confidence H. The reference found no separate codes for back
#: and leg pain; it names 72514-3 + Observation.bodySite as the common FHIR pattern, which we follow.
PAIN: Final = Code(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")

#: NOT from the clinical reference, and not verified at loinc.org: accepted on import only, because
#: phones and wearables commonly send it. We never export it (we export our local ``steps`` code).
STEPS_LOINC_UNVERIFIED: Final = Code(LOINC, "55423-8", "Number of steps in unspecified time Pedometer")

#: Local codes: the clinical reference lists no code for walking minutes or a step count.
WALKING_MINUTES: Final = Code(OBSERVATION_CODES, "walking-minutes", "Minutes walked (patient-reported)")
STEPS: Final = Code(OBSERVATION_CODES, "steps", "Number of steps (patient-reported or device)")


class BodySite(StrEnum):
    """Local body-site codes for the pain observations: the reference gives no SNOMED CT body
    structure codes, so we do not invent them."""

    BACK = "back"
    NECK = "neck"
    LEG = "leg"
    ARM = "arm"


BODY_SITE_DISPLAY: Final[dict[BodySite, str]] = {
    BodySite.BACK: "Back",
    BodySite.NECK: "Neck",
    BodySite.LEG: "Leg",
    BodySite.ARM: "Arm",
}

#: Per episode region: (axial site, limb site). Our check-in's ``axial_pain`` is back pain after
#: lumbar surgery and neck pain after cervical surgery; ``limb_pain`` is leg or arm pain.
REGION_SITES: Final[dict[str, tuple[BodySite, BodySite]]] = {
    "lumbar": (BodySite.BACK, BodySite.LEG),
    "cervical": (BodySite.NECK, BodySite.ARM),
}


def category(code: str, display: str) -> dict[str, object]:
    return {"coding": [{"system": OBSERVATION_CATEGORY, "code": code, "display": display}]}


SURVEY: Final = ("survey", "Survey")
ACTIVITY: Final = ("activity", "Activity")
