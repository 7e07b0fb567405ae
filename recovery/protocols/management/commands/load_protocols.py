"""``manage.py load_protocols [--dir DIR]``: validate and load the protocol files (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recovery.protocols.documents import ProtocolFileError
from recovery.protocols.loading import DATA_DIR, ProtocolVersionConflict, load_shipped_protocols


class Command(BaseCommand):
    help = "Validate the expected-recovery protocol files and load new versions (safe to run twice)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=DATA_DIR, help="directory of <procedure>.json files")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            results = load_shipped_protocols(directory=options["dir"])
        except (ProtocolFileError, ProtocolVersionConflict) as exc:
            raise CommandError(str(exc)) from exc
        for result in results:
            state = "loaded" if result.created else "unchanged"
            self.stdout.write(f"{result.procedure} v{result.version}: {state}")
