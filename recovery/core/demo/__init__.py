"""Demo data for Mobilize: a clinic, its care team and a cohort of patients recovering from MISS.

- ``trajectories``: the expected recovery curves (pain, steps, ODI/NDI), every anchor with its
  source (REFERENCE.md).
- ``catalog``: the shipped reference data the demo plans against (exercise library, default
  restrictions, questionnaire schedule and instruments), as plain values.
- ``cohort``: ``plan_demo()``, the whole cohort as plain data; deterministic for the same arguments.
  It uses ``rehab`` (exercise plans and logs) and ``outcomes`` (questionnaire responses).
- ``seed``: ``demo_seed()``, which refuses non-demo databases and replaces the demo in one
  transaction; ``load_catalog()`` reads the reference data from the database.

Run it with ``manage.py seed_demo [--patients N] [--seed S]``. Demo data only, not clinical advice:
every distribution not cited in ``trajectories`` is labelled demo-only where it is defined.
"""

from __future__ import annotations

from recovery.core.demo.catalog import DemoCatalog
from recovery.core.demo.cohort import DemoPlan, Scenario, plan_demo
from recovery.core.demo.seed import (
    CLINIC_NAME,
    DEMO_PASSWORD,
    DemoRefused,
    DemoSummary,
    demo_seed,
    load_catalog,
)

__all__ = [
    "CLINIC_NAME",
    "DEMO_PASSWORD",
    "DemoCatalog",
    "DemoPlan",
    "DemoRefused",
    "DemoSummary",
    "Scenario",
    "demo_seed",
    "load_catalog",
    "plan_demo",
]
