"""The cohort benchmark's machinery on a small scale (20 episodes x 10 days), so that it cannot rot:
the generator's shape, loading by COPY, rebuilding the clinic, and one round of each measurement.
No timing is asserted: the figures belong to ``make bench``."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest
import time_machine
from django.db import connection

from bench.cohort import (
    COHORT_CLINIC_SLUG,
    Options,
    delete_clinic,
    measure_cohort,
    measure_latency,
    seed,
)
from bench.cohort_seed import PRE_OP_DAYS, Plan, generate
from recovery.accounts.models import Clinic
from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode
from tests.conftest import World

NOW = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
EPISODES, DAYS, YEAR_DAYS = 20, 10, 30


def options(*, reseed: bool = False) -> Options:
    return Options(
        episodes=EPISODES,
        days=DAYS,
        year_days=YEAR_DAYS,
        rounds=1,
        requests=2,
        reseed=reseed,
        database_url="postgres://unused",
    )


def small_plan() -> Plan:
    return Plan(
        clinic_id="00000000-0000-4000-8000-000000000001",
        clinic_slug=COHORT_CLINIC_SLUG,
        clinic_name="test",
        episodes=EPISODES,
        days=DAYS,
        year_days=YEAR_DAYS,
        now=NOW,
        exercise_ids=("a", "b", "c"),
    )


def test_generated_data_has_the_planned_shape() -> None:
    seed_data = generate(small_plan())
    tables = seed_data.tables
    episodes = tables["episodes_episode"]
    assert len(episodes) == EPISODES + 1
    assert (episodes["surgeon_id"] == seed_data.cohort_surgeon_id).sum() == EPISODES
    assert (
        episodes.loc[episodes["id"] == seed_data.year_episode_id, "surgeon_id"].item()
        == seed_data.year_surgeon_id
    )
    assert set(episodes["procedure_id"]) == {
        "lumbar_microdiscectomy",
        "tubular_discectomy",
        "full_endoscopic_discectomy",
        "mis_lumbar_decompression",
        "mis_tlif",
        "acdf",
    }
    assert len(tables["accounts_user"]) == 6 + EPISODES + 1
    assert len(tables["episodes_episode_physiotherapists"]) == EPISODES + 1

    checkins = tables["checkins_checkin"].merge(
        episodes[["id", "surgery_date", "patient_id"]], left_on="episode_id", right_on="id"
    )
    post_op = (pd.to_datetime(checkins["local_date"]) - pd.to_datetime(checkins["surgery_date"])).dt.days
    year = checkins["episode_id"] == seed_data.year_episode_id
    assert post_op.min() == -PRE_OP_DAYS
    assert post_op[~year].max() == DAYS - 1
    assert post_op[year].max() == YEAR_DAYS - 1
    assert checkins.groupby("episode_id").size().min() > DAYS  # about one a day, and the pre-op week
    # Every check-in's local date is its UTC instant's date in the patient's own zone.
    zones = tables["accounts_patientprofile"].set_index("user_id")["time_zone"]
    for row in checkins.sample(200, random_state=1).itertuples():
        instant = datetime.strptime(row.recorded_at, "%Y-%m-%d %H:%M:%S+00").replace(tzinfo=UTC)
        assert (
            instant.astimezone(ZoneInfo(zones[row.patient_id])).date() == pd.Timestamp(row.local_date).date()
        )
    # Questionnaires only at timepoints whose target day has come.
    responses = tables["proms_questionnaireresponse"]
    assert set(responses.loc[responses["episode_id"] != seed_data.year_episode_id, "timepoint"]) == {
        "baseline"
    }


@pytest.fixture
def clock() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def clinic_checkins() -> int:
    return CheckIn.objects.filter(episode__clinic__slug=COHORT_CLINIC_SLUG).count()


@pytest.mark.usefixtures("clock")
def test_seed_loads_by_copy_rebuilds_the_clinic_and_leaves_others_alone(world: World) -> None:
    first = seed(options(), NOW)
    assert not first.reused
    assert clinic_checkins() == first.checkins
    assert Episode.objects.filter(clinic__slug=COHORT_CLINIC_SLUG).count() == EPISODES + 1
    again = seed(options(), NOW)
    assert again.reused
    assert again.checkins == first.checkins
    rebuilt = seed(options(reseed=True), NOW)
    assert not rebuilt.reused
    assert clinic_checkins() == rebuilt.checkins == first.checkins
    assert Clinic.objects.filter(slug=COHORT_CLINIC_SLUG).count() == 1
    with connection.cursor() as cursor:
        delete_clinic(cursor, COHORT_CLINIC_SLUG)
    assert not Clinic.objects.filter(slug=COHORT_CLINIC_SLUG).exists()
    assert clinic_checkins() == 0
    # Another clinic's data is untouched.
    assert Episode.objects.filter(pk=world.episode.pk).exists()


@pytest.mark.usefixtures("clock")
def test_one_round_of_each_measurement(db: None) -> None:
    seeded = seed(options(), NOW)
    visible = CheckIn.objects.filter(episode__surgeon_id=seeded.cohort_surgeon_id, deleted_at__isnull=True)
    cohort = measure_cohort(seeded.cohort_surgeon_id, 1, NOW, profile=True)
    assert cohort.floor_rows == visible.count() > 0
    assert cohort.full_rows == EPISODES
    assert len(cohort.floor) == len(cohort.full) == 1
    assert cohort.queries > 0
    assert any("load_frames" in label for label, _ in cohort.profile)
    latency = measure_latency(seeded.year_surgeon_id, seeded.year_episode_id, 2)
    assert len(latency.episode) == len(latency.trajectory) == len(latency.trajectory_warm) == 2
    assert latency.trajectory_queries > 0
    # Cold requests compute (COPY and all); warm ones are served from the cache after one query.
    assert 0 < latency.trajectory_warm_queries < latency.trajectory_queries
    assert 0 < latency.days <= YEAR_DAYS + PRE_OP_DAYS
    # The requests left an append-only audit trail pointing at the clinic: rebuilding still works,
    # and the old clinic is retired rather than deleted.
    rebuilt = seed(options(reseed=True), NOW)
    assert not rebuilt.reused
    assert CheckIn.objects.filter(episode__clinic__slug=COHORT_CLINIC_SLUG).count() == rebuilt.checkins
    assert CheckIn.objects.filter(episode__surgeon_id=seeded.year_surgeon_id).count() == 0
    assert Clinic.objects.filter(slug__startswith=f"{COHORT_CLINIC_SLUG}-retired-").count() == 1
