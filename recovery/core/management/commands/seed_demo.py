"""``manage.py seed_demo [--patients N] [--seed S]``: replace the demo clinic and its patients.

Safe to run repeatedly (``make demo`` does): the same N and S give the same data relative to today.
Refuses, changing nothing, when the database holds anything but demo data and platform superusers
(see ``recovery.core.demo.seed``), and under ``MOBILIZE_ENV=production`` unless
``--allow-production`` is given, because every demo account shares a published password.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recovery.core.demo import DEMO_PASSWORD, DemoRefused, demo_seed


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = "Replace the demo clinic with a deterministic cohort of MISS patients and their check-ins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=_positive, default=40, help="Number of patients (default 40).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even when MOBILIZE_ENV=production (the demo accounts share a published password).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION and not options["allow_production"]:
            raise CommandError(
                "Refusing to seed demo data with MOBILIZE_ENV=production: every demo account shares the "
                "published password. Pass --allow-production to do it anyway."
            )
        if options["patients"] < 1:
            raise CommandError("--patients must be at least 1.")
        try:
            summary = demo_seed(patients=options["patients"], seed=options["seed"])
        except DemoRefused as exc:
            raise CommandError(str(exc)) from exc
        statuses = ", ".join(f"{count} {status}" for status, count in summary.episodes_by_status.items())
        scenarios = summary.scenarios
        self.stdout.write(
            f"{'Replaced' if summary.replaced else 'Created'} {summary.clinic}: {summary.patients} patients "
            f"({statuses}), {summary.checkins} check-ins; {scenarios['off_track']} off track, "
            f"{scenarios['red_flag']} with red flags, {scenarios['gap']} with a check-in gap "
            f"(seed {options['seed']}, {summary.seconds:.1f} s)."
        )
        self.stdout.write(
            f"Rehab and outcomes: {summary.assignments} exercise assignments, {summary.exercise_logs} exercise "
            f"logs, {summary.questionnaire_responses} questionnaire responses."
        )
        self.stdout.write(f"Demo logins (password: {DEMO_PASSWORD}):")
        for role, email in summary.logins:
            self.stdout.write(f"  {role:<8} {email}")
