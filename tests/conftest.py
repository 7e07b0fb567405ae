"""Personas shared by every test: the patient, their physiotherapist and surgeon, a clinic admin,
another patient of the same clinic, a surgeon of another clinic, and anonymous callers."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.apps import apps as django_apps
from rest_framework.test import APIClient

from recovery.accounts.models import Role, User
from recovery.accounts.services import token_issue
from recovery.episodes.models import Episode
from tests.factories import ClinicFactory, EpisodeFactory, PatientFactory, UserFactory


@pytest.fixture(autouse=True, scope="session")
def _clock_from_environment() -> Iterator[None]:
    """``MOBILIZE_TEST_NOW=2026-03-08T06:59:00Z make test`` runs the suite at a chosen instant (the clock
    still ticks), to prove no test depends on the hour or the day it happens to run at."""
    instant = os.environ.get("MOBILIZE_TEST_NOW")
    if not instant:
        yield
        return
    with time_machine.travel(instant, tick=True):
        yield


@dataclass
class World:
    clinic: Any
    patient: User
    physio: User
    surgeon: User
    clinic_admin: User
    other_patient: User
    other_clinic_surgeon: User
    episode: Episode
    other_episode: Episode


@pytest.fixture
def procedures(db: None) -> None:
    """The shipped procedure list. A transactional test flushes tables, data migrations included."""
    migration = importlib.import_module("recovery.episodes.migrations.0002_procedures")
    migration.add_procedures(django_apps, None)


@pytest.fixture
def world(procedures: None) -> World:
    clinic = ClinicFactory.create(name="Riverside Spine")
    surgeon = UserFactory.create(
        clinic=clinic, role=Role.SURGEON, full_name="Dr Ana Ruiz", email="surgeon@river.example"
    )
    physio = UserFactory.create(
        clinic=clinic, role=Role.PHYSIOTHERAPIST, full_name="Sam Lee", email="physio@river.example"
    )
    admin = UserFactory.create(
        clinic=clinic, role=Role.CLINIC_ADMIN, full_name="Kim Admin", email="admin@river.example"
    )
    patient = PatientFactory.create(clinic=clinic, full_name="Pat Doe", email="patient@river.example")
    other_patient = PatientFactory.create(clinic=clinic, full_name="Olga Other", email="other@river.example")
    episode = EpisodeFactory.create(patient=patient, surgeon=surgeon, physiotherapists=[physio])
    other_surgeon_same_clinic = UserFactory.create(clinic=clinic, role=Role.SURGEON, full_name="Dr Other")
    other_episode = EpisodeFactory.create(patient=other_patient, surgeon=other_surgeon_same_clinic)
    elsewhere = ClinicFactory.create(name="Elsewhere")
    outsider = UserFactory.create(
        clinic=elsewhere, role=Role.SURGEON, full_name="Dr Outsider", email="out@else.example"
    )
    return World(clinic, patient, physio, surgeon, admin, other_patient, outsider, episode, other_episode)


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        raw, _ = token_issue(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def as_user() -> Any:
    return client_for
