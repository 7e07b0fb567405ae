"""Lighthouse on the patient app: mobile emulation in the system's Chromium, against gunicorn with
production settings.

- Builds nothing: ``make bench`` depends on ``make install``, which builds ``frontend/dist/``; without
  a build the run stops (exit 1) and says so.
- Installs the Lighthouse runner's own node modules (``npm ci`` in ``frontend/lighthouse/``) when
  they are missing; they are kept apart from the app's so that ``make install`` stays light.
- Seed (in this process, on the bench database): a clinic ``bench-lighthouse`` with a surgeon and
  one patient who has a password, an episode 10 days after a lumbar microdiscectomy, two exercises
  prescribed and a few check-ins, so that the Today screen is what a patient sees after a week.
- Server: gunicorn with ``MOBILIZE_ENV=production`` (the same environment as ``python -m bench load``:
  a random secret key, ``DEBUG=false``, loopback hosts, no HTTPS redirect on loopback), 1 gthread
  worker x 4 threads, on a free loopback port.
- Audits, each one Lighthouse run (``frontend/lighthouse/run.mjs --json``, Lighthouse's default
  mobile emulation: a mid-range phone on a throttled 4G link) in Chromium with ``CHROMIUM_FLAGS``:
  the sign-in screen (``/app/``, signed out) and the signed-in Today screen (``/app/today/``: the
  runner signs in first and sends the session cookie).

Prints the performance and accessibility scores of each page against the aim (``--lighthouse-aim``,
default 90). A score below the aim is printed as such and never fails the run; a broken run (no
build, npm or Chromium missing, a server that does not start, Lighthouse failing) exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    HOST,
    PROJECT_ROOT,
    BenchError,
    add_database_argument,
    ensure_database,
    free_port,
    log_tail,
    running_gunicorn,
    setup_django,
)
from recovery.env import env_int, env_str

LIGHTHOUSE_DIR = PROJECT_ROOT / "frontend" / "lighthouse"
RUNNER = LIGHTHOUSE_DIR / "run.mjs"
DIST = PROJECT_ROOT / "frontend" / "dist"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
#: The flags run.mjs starts Chromium with (headless, no sandbox as root in a container, nothing that
#: talks to Google's services in the middle of a measurement). Kept here to be printed and tested.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
CLINIC_SLUG = "bench-lighthouse"
PATIENT_EMAIL = "bench-lighthouse-patient@example.org"
#: Only for the bench database's own patient: never a real account.
PATIENT_PASSWORD = "bench-lighthouse-password"
#: Seconds one Lighthouse run may take (Chromium start, the page load under throttling, the audits).
RUN_TIMEOUT_SECONDS = 300
NPM_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    signed_in: bool


PAGES = (
    Page("sign-in screen", "/app/", signed_in=False),
    Page("Today (signed in)", "/app/today/", signed_in=True),
)


@dataclass(frozen=True)
class Options:
    aim: int
    chromium: str
    database_url: str


@dataclass(frozen=True)
class Result:
    page: Page
    performance: int
    accessibility: int
    metrics: Mapping[str, str]
    accessibility_failing: Sequence[str]


def add_arguments(parser: argparse._ActionsContainer) -> None:
    """This benchmark's options, but ``--database-url`` (``bench.common.add_database_argument``)."""
    parser.add_argument(
        "--lighthouse-aim",
        type=int,
        default=env_int("BENCH_LIGHTHOUSE_AIM", 90, minimum=0),
        help="score (0-100) to aim at for performance and accessibility; below it is printed, never fatal (default 90)",
    )
    parser.add_argument(
        "--chromium",
        default=env_str("CHROMIUM", DEFAULT_CHROMIUM),
        help=f"the Chromium binary Lighthouse drives (env CHROMIUM, default {DEFAULT_CHROMIUM})",
    )


def options_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Options:
    if not 0 <= args.lighthouse_aim <= 100:
        parser.error("--lighthouse-aim must be between 0 and 100")
    return Options(aim=args.lighthouse_aim, chromium=args.chromium, database_url=args.database_url)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench lighthouse", description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    add_database_argument(parser)
    return options_from(parser, parser.parse_args(argv))


# ---------------------------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------------------------


def lighthouse_command(base_url: str, page: Page) -> list[str]:
    """The runner's command line for one page (the url first: run.mjs takes the first bare argument)."""
    command = ["node", str(RUNNER), f"{base_url}{page.path}"]
    if page.signed_in:
        command += ["--email", PATIENT_EMAIL, "--password", PATIENT_PASSWORD]
    return [*command, "--json"]


def runner_environment(chromium: str) -> dict[str, str]:
    return {**os.environ, "CHROMIUM": chromium}


def parse_runner_output(stdout: str) -> dict[str, Any]:
    """The JSON line run.mjs prints last with ``--json``; BenchError when there is none."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data: Any = json.loads(line)
            except json.JSONDecodeError:
                break
            if not isinstance(data, dict):
                break
            scores = data.get("scores")
            if isinstance(scores, dict) and all(
                isinstance(scores.get(key), int) for key in ("performance", "accessibility")
            ):
                return {str(key): value for key, value in data.items()}
            break
    raise BenchError(f"Lighthouse printed no scores:\n{stdout[-2000:]}")


def verdict(score: int, aim: int) -> str:
    return "met" if score >= aim else "below the aim"


def result_lines(results: Sequence[Result], aim: int) -> list[str]:
    lines = []
    for result in results:
        lines.append(
            f"{result.page.name} ({result.page.path}): performance {result.performance} "
            f"({verdict(result.performance, aim)}), accessibility {result.accessibility} "
            f"({verdict(result.accessibility, aim)})"
        )
        metrics = result.metrics
        lines.append(
            "  FCP {fcp}, LCP {lcp}, TBT {tbt}, CLS {cls}".format(
                fcp=metrics.get("first-contentful-paint", "-"),
                lcp=metrics.get("largest-contentful-paint", "-"),
                tbt=metrics.get("total-blocking-time", "-"),
                cls=metrics.get("cumulative-layout-shift", "-"),
            )
        )
        if result.accessibility_failing:
            lines.append(f"  accessibility audits not passed: {', '.join(result.accessibility_failing)}")
    below = [r for r in results if min(r.performance, r.accessibility) < aim]
    lines.append(
        f"aim {aim} for performance and accessibility: "
        + ("met on every page" if not below else f"below on {', '.join(r.page.name for r in below)}")
    )
    return lines


def ensure_runner() -> None:
    """The runner's node modules (``npm ci`` from its lock file) when they are missing."""
    if not shutil.which("node"):
        raise BenchError("node (Node.js) is needed to run Lighthouse")
    if (LIGHTHOUSE_DIR / "node_modules" / "lighthouse" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm (Node.js) is needed to install the Lighthouse runner")
    print("installing the Lighthouse runner (npm ci in frontend/lighthouse/)")
    try:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=LIGHTHOUSE_DIR,
            capture_output=True,
            text=True,
            check=False,
            timeout=NPM_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"npm ci did not finish within {NPM_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        raise BenchError(f"npm ci failed ({done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")


def preflight(options: Options) -> None:
    if not (DIST / "index.html").exists():
        raise BenchError("frontend/dist/ is not built: run `make install` (make bench does) first")
    if not (Path(options.chromium).exists() or shutil.which(options.chromium)):
        raise BenchError(
            f"no Chromium at {options.chromium!r} (apt-get install -y chromium, or --chromium / CHROMIUM)"
        )
    ensure_runner()


def run_page(base_url: str, page: Page, chromium: str) -> Result:
    try:
        done = subprocess.run(
            lighthouse_command(base_url, page),
            cwd=LIGHTHOUSE_DIR,
            env=runner_environment(chromium),
            capture_output=True,
            text=True,
            check=False,
            timeout=RUN_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"Lighthouse on {page.path} did not finish within {RUN_TIMEOUT_SECONDS} s") from None
    # run.mjs exits 1 only for --min, which is not passed: any non-zero status is a broken run.
    if done.returncode != 0:
        raise BenchError(
            f"Lighthouse on {page.path} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}"
        )
    data = parse_runner_output(done.stdout)
    if page.signed_in and not data.get("signed_in"):
        raise BenchError(f"Lighthouse on {page.path} did not sign in")
    return Result(
        page=page,
        performance=data["scores"]["performance"],
        accessibility=data["scores"]["accessibility"],
        metrics={str(k): str(v) for k, v in (data.get("metrics") or {}).items()},
        accessibility_failing=[str(a) for a in data.get("accessibility_failing") or []],
    )


# ---------------------------------------------------------------------------------------------
# Seed
# ---------------------------------------------------------------------------------------------


def seed() -> None:
    """The bench-lighthouse clinic's patient, episode, plan and a week of check-ins (idempotent)."""
    from datetime import date, timedelta

    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from recovery.accounts.models import ApiToken, Clinic, PatientProfile, Role, User
    from recovery.checkins.models import CheckIn
    from recovery.episodes.models import Episode, EpisodeStatus, Procedure
    from recovery.rehab.models import Assignment, Exercise
    from recovery.rehab.vocabulary import WEEKDAYS, BodyRegion, Phase

    today = timezone.now().date()
    surgery_date = today - timedelta(days=10)
    with transaction.atomic():
        clinic, _ = Clinic.objects.get_or_create(
            slug=CLINIC_SLUG, defaults={"name": "Bench Lighthouse Clinic"}
        )
        surgeon = User.objects.filter(email="bench-lighthouse-surgeon@example.org").first() or (
            User.objects.create_user(
                "bench-lighthouse-surgeon@example.org",
                full_name="Dr Lighthouse",
                role=Role.SURGEON,
                clinic=clinic,
            )
        )
        patient = User.objects.filter(email=PATIENT_EMAIL).first() or User.objects.create_user(
            PATIENT_EMAIL, full_name="Pat Lighthouse", role=Role.PATIENT, clinic=clinic
        )
        # Hashed for the server's production settings: this process runs the test settings, whose
        # first hasher (MD5, for fast tests) the production server does not accept.
        patient.password = make_password(PATIENT_PASSWORD, hasher="argon2")
        patient.save(update_fields=["password"])
        ApiToken.objects.filter(user=patient).delete()
        PatientProfile.objects.update_or_create(
            user=patient,
            defaults={
                "date_of_birth": date(1968, 4, 12),
                "time_zone": "Europe/Madrid",
                "preferred_language": "en",
            },
        )
        procedure = Procedure.objects.get(code="lumbar_microdiscectomy")
        episode = Episode.objects.filter(clinic=clinic, patient=patient).first()
        if episode is None:
            episode = Episode.objects.create(
                clinic=clinic,
                patient=patient,
                surgeon=surgeon,
                procedure=procedure,
                levels=["L4-L5"],
                surgery_date=surgery_date,
                status=EpisodeStatus.RECOVERING,
                created_by=surgeon,
            )
        else:
            Episode.objects.filter(pk=episode.pk).update(surgery_date=surgery_date)
        for slug, name in (
            ("bench-lighthouse-pelvic-tilt", "Pelvic tilt"),
            ("bench-lighthouse-walk", "Walk"),
        ):
            exercise = Exercise.objects.get_or_create(
                clinic=None,
                slug=slug,
                defaults={
                    "name": name,
                    "region": BodyRegion.LUMBAR,
                    "phase": Phase.EARLY,
                    "default_sets": 2,
                    "default_reps": 10,
                    "default_sessions_per_day": 2,
                },
            )[0]
            if not Assignment.objects.filter(
                episode=episode, exercise=exercise, ended_on__isnull=True
            ).exists():
                Assignment.objects.create(
                    episode=episode,
                    exercise=exercise,
                    sets=2,
                    reps=10,
                    sessions_per_day=2,
                    days_of_week=list(WEEKDAYS),
                    start_day=0,
                    end_day=None,
                    prescribed_by=surgeon,
                )
        CheckIn.objects.filter(episode=episode).delete()
        for days_ago in range(7, 0, -1):
            CheckIn.objects.create(
                episode=episode,
                recorded_at=timezone.now() - timedelta(days=days_ago),
                local_date=today - timedelta(days=days_ago),
                created_by=patient,
                axial_pain=max(1, 6 - (7 - days_ago) // 2),
                limb_pain=max(0, 4 - (7 - days_ago) // 2),
                walking_minutes=10 + 5 * (7 - days_ago),
            )


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def run(options: Options) -> int:
    from bench.load import server_environment

    started = time.monotonic()
    preflight(options)
    name = ensure_database(options.database_url)
    setup_django(options.database_url)
    seed()
    from django.db import connections

    connections.close_all()
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    print("Lighthouse: the patient app with mobile emulation, in the system's Chromium")
    print(
        f"server: gunicorn gthread, 1 worker x 4 threads, {HOST}:{port}, MOBILIZE_ENV=production; "
        f"PostgreSQL database {name}"
    )
    print(f"browser: {options.chromium} {' '.join(CHROMIUM_FLAGS)}")
    print(
        f"seed: clinic {CLINIC_SLUG}: one patient 10 days after a lumbar microdiscectomy, 2 exercises, 7 check-ins"
    )
    results: list[Result] = []
    with running_gunicorn(
        port=port,
        workers=1,
        threads=4,
        worker_class="gthread",
        env=server_environment(options.database_url),
    ) as server_log:
        for page in PAGES:
            try:
                results.append(run_page(base_url, page, options.chromium))
            except BenchError as exc:
                raise BenchError(f"{exc}\ngunicorn:\n{log_tail(server_log, 20)}") from None
    for line in result_lines(results, options.aim):
        print(line)
    print(f"OK (whole run {time.monotonic() - started:.0f} s; a score below the aim does not fail the bench)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_args(argv))


def run_main(options: Options) -> int:
    try:
        return run(options)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
