"""The fixed red-flag vocabulary a patient can report in a check-in.

Codes and their concerns come from the clinical reference, section 4 (red flags). The ``advice``
wording is ours, in plain words, following the urgency each source gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class RedFlag:
    code: str
    label: str
    concern: str
    urgency: str  # "emergency" (seek emergency care now) or "urgent" (contact the care team today)
    source: str


RED_FLAGS: Final[tuple[RedFlag, ...]] = (
    RedFlag(
        "saddle_numbness",
        "Numbness between the legs, around the back passage or buttocks",
        "cauda equina syndrome",
        "emergency",
        "NHS cauda equina warning signs; Norfolk & Waveney NHS MSK (REFERENCE.md §4)",
    ),
    RedFlag(
        "bladder_bowel_change",
        "New trouble passing or holding urine or stool",
        "cauda equina syndrome",
        "emergency",
        "NHS cauda equina warning signs; Norfolk & Waveney NHS MSK (REFERENCE.md §4)",
    ),
    RedFlag(
        "new_weakness",
        "New weakness or loss of feeling in the legs or arms",
        "nerve compression, haematoma or cauda equina syndrome",
        "emergency",
        "drugs.com lumbar discectomy discharge care; Norfolk & Waveney NHS MSK (REFERENCE.md §4)",
    ),
    RedFlag(
        "fever",
        "Fever of 38 °C (100.4 °F) or more, or chills",
        "surgical site infection",
        "urgent",
        "drugs.com discharge care; Regina Qu'Appelle Health Region SSI page (REFERENCE.md §4)",
    ),
    RedFlag(
        "wound_drainage",
        "The wound is redder, swollen, or leaking fluid or pus",
        "surgical site infection or spinal fluid leak",
        "urgent",
        "drugs.com discharge care; Regina Qu'Appelle Health Region SSI page (REFERENCE.md §4)",
    ),
    RedFlag(
        "calf_pain_swelling",
        "Pain, warmth, redness or swelling in a calf",
        "deep vein thrombosis",
        "emergency",
        "drugs.com discharge care (REFERENCE.md §4)",
    ),
    RedFlag(
        "chest_pain_breathless",
        "Chest pain or shortness of breath",
        "pulmonary embolism",
        "emergency",
        "drugs.com discharge care; rqhealth.ca (REFERENCE.md §4)",
    ),
    RedFlag(
        "positional_headache",
        "Headache that is worse sitting or standing and better lying flat",
        "spinal fluid leak (dural tear)",
        "urgent",
        "spinalcsfleak.org; Manchester neurosciences ACDF leaflet (REFERENCE.md §4)",
    ),
    RedFlag(
        "swallowing_breathing_difficulty",
        "Neck swelling, or trouble swallowing or breathing",
        "haematoma pressing on the airway after neck surgery",
        "emergency",
        "painneck.com ACDF leaflet; AANS e-poster (REFERENCE.md §4)",
    ),
)

RED_FLAG_CODES: Final[frozenset[str]] = frozenset(flag.code for flag in RED_FLAGS)
RED_FLAGS_BY_CODE: Final[dict[str, RedFlag]] = {flag.code: flag for flag in RED_FLAGS}
