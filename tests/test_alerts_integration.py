"""Trend alerts end to end: check-ins in the database -> ``signals_for_episodes`` (helper
"trajectory") -> the rules -> alerts. Waits (skips) until the trajectory loader exists."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from recovery.alerts import tasks
from recovery.alerts.models import Alert, AlertRule, AlertState, EventKind
from tests.conftest import World
from tests.factories import CheckInFactory, EpisodeFactory

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("recovery.trajectories.frames") is None
    or importlib.util.find_spec("recovery.trajectories.selectors") is None,
    reason="waits for recovery.trajectories.selectors.signals_for_episodes (helper 'trajectory')",
)

#: 15:00 UTC is 16:00 in the test patient's Europe/Madrid: every check-in below is in the past.
NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)


def test_three_days_above_the_band_raise_exactly_one_alert_over_two_runs(world: World) -> None:
    with time_machine.travel(NOW, tick=False):
        episode = EpisodeFactory.create(
            patient=world.patient,
            surgeon=world.surgeon,
            physiotherapists=[world.physio],
            surgery_date=date(2026, 3, 10),
        )
        for days_ago in (2, 1, 0):
            CheckInFactory.create(
                episode=episode,
                recorded_at=NOW - timedelta(days=days_ago, hours=5),
                axial_pain=10,
                limb_pain=10,
            )
        first = tasks.evaluate_all(now=NOW)
        second = tasks.evaluate_all(now=NOW + timedelta(minutes=15))
    alerts = Alert.objects.filter(episode=episode, rule=AlertRule.PAIN_ABOVE_BAND)
    assert alerts.count() == 1
    alert = alerts.get()
    assert alert.state == AlertState.OPEN
    assert max(alert.data["axial_above_run"], alert.data["limb_above_run"]) >= 3
    assert alert.data["last_checkin_date"] == "2026-03-20"
    site = alert.data["sites"][0]
    days = alert.data[f"{site}_above_days"]
    assert [d["local_date"] for d in days][-3:] == ["2026-03-18", "2026-03-19", "2026-03-20"]
    assert all(d["mean"] == 10 and d["upper"] is not None and d["upper"] < 10 for d in days)
    assert [e.to_state for e in alert.events.all()] == [EventKind.OPEN]
    assert first["raised"] >= 1
    assert second["raised"] == 0


def test_an_episode_on_track_raises_no_pain_alert(world: World) -> None:
    with time_machine.travel(NOW, tick=False):
        episode = EpisodeFactory.create(
            patient=world.patient, surgeon=world.surgeon, surgery_date=date(2026, 3, 10)
        )
        for days_ago in (2, 1, 0):
            CheckInFactory.create(
                episode=episode,
                recorded_at=NOW - timedelta(days=days_ago, hours=5),
                axial_pain=1,
                limb_pain=0,
            )
        tasks.evaluate_all(now=NOW)
    assert not Alert.objects.filter(episode=episode).exclude(rule=AlertRule.MISSED_QUESTIONNAIRE).exists()
