"""Shipped default restrictions, one per shipped procedure, each with the source of every number.

An episode's restrictions are copied from these on first use (``services.restrictions_ensure``),
unless the episode's clinic has its own ``RestrictionDefault`` for the procedure. The numbers come
from the clinical reference (/work/shared/clinical/REFERENCE.md, section 3, "Functional
milestones"); where it gives none, the source says so, and a number we chose anyway is labelled
"clinic default, not evidence". Leaflets quote pounds: we convert with ``pounds_to_kg`` (one decimal)
and say so in the source.

``until_day`` values are inclusive post-op days: "2 weeks" is taken as up to and including day 14.

Loading: ``load_restriction_defaults`` is called by a data migration with the historical app
registry and upserts by procedure among shipped rows (``clinic`` null); a procedure that does not
exist is skipped. A later change here needs a new data migration that calls it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

#: The international avoirdupois pound is 0.45359237 kg exactly.
KG_PER_POUND: Final = Decimal("0.45359237")


def pounds_to_kg(pounds: int) -> Decimal:
    """Pounds to kilograms, rounded half up to one decimal (10 lb -> 4.5 kg, 5 lb -> 2.3 kg)."""
    return (Decimal(pounds) * KG_PER_POUND).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ShippedDefault:
    procedure: str
    lifting_limit_kg: Decimal | None
    lifting_limit_until_day: int | None
    forbidden_movements: tuple[tuple[str, int], ...]
    source: str


_DISCECTOMY_SOURCE: Final = (
    "Lifting limit {kg} kg: discharge leaflet for lumbar discectomy, 'do not lift more than 10-15 lb' "
    "(sw.org, Lumbar Discectomy, Care After; REFERENCE.md section 3, 'Lifting (leaflets)', confidence L). "
    "We took the lower figure, 10 lb, and converted it to kg at 1 lb = 0.45359237 kg, rounded to one decimal. "
    "Until post-op day 14: Bono et al., Eur Spine J 2017;26:905-12 (REFERENCE.md section 3, 'Lifting', "
    "confidence H) randomised 2- against 6-week restrictions after discectomy and found no difference "
    "in pain, ODI or reherniation; 2 weeks is taken as up to and including post-op day 14. "
    "No movement restrictions: the reference gives none for discectomy."
)
_AS_DISCECTOMY: Final = (
    "Applied as for lumbar discectomy, because this procedure is a discectomy and the sources below "
    "concern discectomy in general. "
)

SHIPPED_DEFAULTS: Final[tuple[ShippedDefault, ...]] = (
    ShippedDefault(
        "lumbar_microdiscectomy",
        pounds_to_kg(10),
        14,
        (),
        _DISCECTOMY_SOURCE.format(kg=pounds_to_kg(10)),
    ),
    ShippedDefault(
        "tubular_discectomy",
        pounds_to_kg(10),
        14,
        (),
        _AS_DISCECTOMY + _DISCECTOMY_SOURCE.format(kg=pounds_to_kg(10)),
    ),
    ShippedDefault(
        "full_endoscopic_discectomy",
        pounds_to_kg(10),
        14,
        (),
        _AS_DISCECTOMY + _DISCECTOMY_SOURCE.format(kg=pounds_to_kg(10)),
    ),
    ShippedDefault(
        "mis_lumbar_decompression",
        None,
        None,
        (),
        "No restrictions shipped: the clinical reference (REFERENCE.md section 3) gives no lifting "
        "limit, movement restriction or restriction period for MIS decompression (laminotomy). "
        "A clinic can set its own defaults for this procedure.",
    ),
    ShippedDefault(
        "mis_tlif",
        None,
        None,
        (("loaded_lifting", 42), ("lumbar_flexion", 42)),
        "No lumbar_flexion and no loaded_lifting up to and including post-op day 42: clinic default, "
        "not evidence (the example in Mobilize's product specification; REFERENCE.md section 3 gives "
        "no restriction period after MIS-TLIF). No lifting limit in kg: the reference gives none for "
        "fusion.",
    ),
    ShippedDefault(
        "acdf",
        pounds_to_kg(5),
        None,
        (),
        f"Lifting limit {pounds_to_kg(5)} kg: discharge leaflet for ACDF, 'do not lift more than 5 lb' "
        "(Krames ACDF sheet; REFERENCE.md section 3, 'Lifting (leaflets)', confidence L), converted to "
        "kg at 1 lb = 0.45359237 kg and rounded to one decimal. No end day: the reference gives no "
        "duration, so the limit stays until the surgeon changes it. No movement restrictions: the "
        "reference gives none for ACDF.",
    ),
)


def load_restriction_defaults(apps: Any, schema_editor: Any) -> None:
    """Upsert the shipped default of every procedure that exists (data migrations and test fixtures)."""
    procedure = apps.get_model("episodes", "Procedure")
    restriction_default = apps.get_model("rehab", "RestrictionDefault")
    known = set(procedure.objects.values_list("code", flat=True))
    for item in SHIPPED_DEFAULTS:
        if item.procedure not in known:
            continue
        restriction_default.objects.update_or_create(
            procedure_id=item.procedure,
            clinic=None,
            defaults={
                "lifting_limit_kg": item.lifting_limit_kg,
                "lifting_limit_until_day": item.lifting_limit_until_day,
                "forbidden_movements": [
                    {"tag": tag, "until_day": until_day} for tag, until_day in item.forbidden_movements
                ],
                "source": item.source,
                "updated_by": None,
            },
        )
