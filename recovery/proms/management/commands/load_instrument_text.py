"""``manage.py load_instrument_text <clinic-slug> <file.json>``: load a clinic's licensed wording.

The file holds one instrument in one language::

    {
      "instrument": "odi",
      "language": "en",
      "license_note": "Official wording used under licence ...",
      "items": [
        {"key": "pain_intensity", "text": "...", "options": ["...", "...", "...", "...", "...", "..."]},
        ...
      ]
    }

Items must be the instrument's item keys in order, each with as many option texts as the
instrument has options (lowest score first). Loading again replaces the clinic's wording for that
instrument and language. Nothing is stored when any check fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recovery.accounts.models import Clinic
from recovery.core.errors import ValidationFailed
from recovery.proms.services import instrument_text_load

_FIELDS = {"instrument", "language", "license_note", "items"}


class Command(BaseCommand):
    help = "Load a clinic's licensed wording of a questionnaire (checked against the instrument)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("clinic_slug")
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = Clinic.objects.filter(slug=options["clinic_slug"]).first()
        if clinic is None:
            raise CommandError(f"No clinic with slug '{options['clinic_slug']}'.")
        path: Path = options["file"]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        if not isinstance(data, dict):
            raise CommandError("The file must hold one JSON object.")
        unknown = sorted(set(data) - _FIELDS)
        missing = sorted({"instrument", "language", "items"} - set(data))
        if unknown or missing:
            raise CommandError(f"Unknown fields: {unknown}; missing fields: {missing}.")
        license_note = data.get("license_note", "")
        if not isinstance(license_note, str):
            raise CommandError("license_note must be a string.")
        try:
            text, created = instrument_text_load(
                clinic=clinic,
                instrument_code=str(data["instrument"]),
                language=str(data["language"]),
                items=data["items"],
                license_note=license_note,
            )
        except ValidationFailed as exc:
            lines = [f"{field}: {message}" for field, messages in exc.errors.items() for message in messages]
            raise CommandError("The wording was not loaded:\n" + "\n".join(lines)) from None
        action = "Loaded" if created else "Replaced"
        self.stdout.write(
            f"{action} the {text.instrument_id} wording ({text.language}) for {clinic.name}: "
            f"{len(text.items)} items."
        )
