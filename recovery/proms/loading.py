"""Load the shipped instruments and default schedule into the database.

Called by the data migration ``0002_shipped_data`` (with historical models) and by tests that flush
tables. Idempotent: ``update_or_create`` on the instrument code and on the default timepoint key, so
running it again after editing a JSON file updates the rows in place. Responses keep the instrument
version they were answered with.
"""

from __future__ import annotations

from typing import Any

from recovery.proms.definitions import shipped_instruments
from recovery.proms.timepoints import default_schedule

_INSTRUMENT_FIELDS = (
    "version",
    "name",
    "title",
    "region",
    "items",
    "scoring",
    "thresholds",
    "loinc",
    "license_note",
)


def load_shipped(apps: Any, schema_editor: Any = None) -> None:
    instrument_model = apps.get_model("proms", "Instrument")
    for data in shipped_instruments():
        defaults = {field: data[field] for field in _INSTRUMENT_FIELDS}
        instrument_model.objects.update_or_create(code=data["code"], defaults={**defaults, "is_active": True})
    timepoint_model = apps.get_model("proms", "ScheduleTimepoint")
    for timepoint in default_schedule():
        timepoint_model.objects.update_or_create(
            clinic=None,
            key=timepoint.key,
            defaults={
                "label": timepoint.label,
                "is_baseline": timepoint.is_baseline,
                "target_day": timepoint.target_day,
                "opens_day": timepoint.opens_day,
                "closes_day": timepoint.closes_day,
                "timepoint_source": timepoint.timepoint_source,
                "window_source": timepoint.window_source,
                "is_active": True,
            },
        )
