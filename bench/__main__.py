"""``python -m bench [checkin|load|reminders|cohort|lighthouse|all] [options]``: run the benchmarks and print their figures.

- ``checkin``: check-in POST through the full stack against a bare view (``bench.checkin_post``);
- ``load``: patients and clinicians at once on gunicorn with production settings (``bench.load``);
- ``reminders``: the reminder dispatcher's select-and-enqueue against a bare SELECT, and delivery
  through Celery workers to a local push endpoint (``bench.reminders``);
- ``cohort``: the full cohort computation against loading its check-ins, and the trajectory endpoint
  against the episode endpoint, on 10,000 episodes with 180 days of data (``bench.cohort``);
- ``lighthouse``: Lighthouse scores of the patient app with mobile emulation in Chromium
  (``bench.lighthouse``);
- ``all`` (the default, also when the first argument is an option): all five, in that order, each
  with its own options from the one command line. The exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench import checkin_post, cohort, lighthouse, load, reminders
from bench.common import add_database_argument

COMMANDS = ("checkin", "load", "reminders", "cohort", "lighthouse", "all")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in COMMANDS else "all"
    parser = argparse.ArgumentParser(
        prog=f"python -m bench {command}",
        usage=f"python -m bench [{'|'.join(COMMANDS)}] [options]",
        description=(
            "Run the benchmarks and print their figures: checkin (check-in POST, full stack vs a bare "
            "view), load (patients and clinicians at once, production settings), reminders (dispatcher "
            "and delivery rate), cohort (cohort computation and trajectory latency), lighthouse (the patient "
            "app's Lighthouse scores), or all (the default)."
        ),
    )
    if command in ("checkin", "all"):
        checkin_post.add_arguments(parser.add_argument_group("check-in POST (checkin)"))
    if command in ("load", "all"):
        load.add_arguments(parser.add_argument_group("load (load)"))
    if command in ("reminders", "all"):
        reminders.add_arguments(parser.add_argument_group("reminders (reminders)"))
    if command in ("cohort", "all"):
        cohort.add_arguments(parser.add_argument_group("cohort (cohort)"))
    if command in ("lighthouse", "all"):
        lighthouse.add_arguments(parser.add_argument_group("Lighthouse (lighthouse)"))
    add_database_argument(parser)
    parsed = parser.parse_args(args)

    # Every set of options is checked before any benchmark starts.
    checkin_options = checkin_post.options_from(parser, parsed) if command in ("checkin", "all") else None
    load_options = load.options_from(parser, parsed) if command in ("load", "all") else None
    reminder_options = reminders.options_from(parser, parsed) if command in ("reminders", "all") else None
    cohort_options = cohort.options_from(parser, parsed) if command in ("cohort", "all") else None
    lighthouse_options = lighthouse.options_from(parser, parsed) if command in ("lighthouse", "all") else None
    status = 0
    ran = False
    if checkin_options is not None:
        status |= checkin_post.run_main(checkin_options)
        ran = True
    if load_options is not None:
        if ran:
            print()
        status |= load.run_main(load_options)
        ran = True
    if reminder_options is not None:
        if ran:
            print()
        status |= reminders.run_main(reminder_options)
        ran = True
    if cohort_options is not None:
        if ran:
            print()
        status |= cohort.run_main(cohort_options)
        ran = True
    if lighthouse_options is not None:
        if ran:
            print()
        status |= lighthouse.run_main(lighthouse_options)
    return status


# The guard matters: the load-generating client processes are spawned, and spawning re-imports
# this module under another name.
if __name__ == "__main__":
    sys.exit(main())
