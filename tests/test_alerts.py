"""Alerts: the red-flag path, de-duplication, trend evaluation, escalation and the worklist API."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.alerts import selectors, services, tasks
from recovery.alerts.models import (
    Alert,
    AlertEvent,
    AlertNotice,
    AlertRule,
    AlertState,
    EventKind,
    Severity,
)
from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode
from tests.conftest import World, client_for
from tests.factories import CheckInFactory, EpisodeFactory, PatientFactory


def checkins_url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/check-ins/"


def make_alert(
    episode: Episode,
    rule: str = AlertRule.NO_CHECKIN,
    severity: str = Severity.MODERATE,
    *,
    raised_at: datetime | None = None,
    state: str = AlertState.OPEN,
) -> Alert:
    now = raised_at or timezone.now()
    return Alert.objects.create(
        episode=episode,
        rule=rule,
        severity=severity,
        state=state,
        reason=f"{rule} reason",
        data={},
        raised_at=now,
        acknowledged_at=now if state != AlertState.OPEN else None,
        resolved_at=now if state == AlertState.RESOLVED else None,
    )


def post_checkin(world: World, capture: Any, **fields: Any) -> dict[str, Any]:
    payload = {"id": str(uuid.uuid4()), "axial_pain": 5, "limb_pain": 6, **fields}
    with capture(execute=True):
        response = client_for(world.patient).post(checkins_url(world), payload, format="json")
    assert response.status_code in (200, 201), response.content
    return payload


def recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


# --- red flags ---------------------------------------------------------------------------------------


def test_red_flag_checkin_raises_one_urgent_alert_and_notifies_the_care_team_at_once(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    payload = post_checkin(world, django_capture_on_commit_callbacks, red_flags=["fever", "new_weakness"])
    alert = Alert.objects.get(episode=world.episode)
    assert (alert.rule, alert.severity, alert.state) == (AlertRule.RED_FLAG, Severity.URGENT, AlertState.OPEN)
    assert alert.data["red_flags"] == ["new_weakness", "fever"]
    assert [entry["checkin_id"] for entry in alert.data["checkins"]] == [payload["id"]]
    assert "Fever" in alert.reason and "Contact the patient now" in alert.reason
    # No push keys in the tests: every member of the care team gets the email fallback, once.
    assert recipients() == sorted([world.surgeon.email, world.physio.email])
    assert f"/clinician/alerts/{alert.id}/" in mail.outbox[0].body
    assert [e.to_state for e in alert.events.all()] == [EventKind.OPEN]
    assert AlertNotice.objects.filter(event__alert=alert).count() == 2


def test_checkin_without_red_flags_raises_nothing(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    post_checkin(world, django_capture_on_commit_callbacks)
    assert not Alert.objects.exists()
    assert mail.outbox == []


def test_replayed_red_flag_checkin_raises_and_notifies_once(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    payload = post_checkin(world, django_capture_on_commit_callbacks, red_flags=["fever"])
    with django_capture_on_commit_callbacks(execute=True):
        again = client_for(world.patient).post(checkins_url(world), payload, format="json")
    assert again.status_code == 200
    assert Alert.objects.count() == 1
    assert len(mail.outbox) == 2


def test_red_flag_task_run_twice_raises_once_and_notifies_once(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    checkin = CheckInFactory.create(episode=world.episode, red_flags=["fever"])
    with django_capture_on_commit_callbacks(execute=True):
        first = tasks.raise_red_flag_alert(str(checkin.id))
        second = tasks.raise_red_flag_alert(str(checkin.id))
    assert (first, second) == ("created", "already")
    event = AlertEvent.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.notify_event(event.pk) == 0  # already notified: a replayed task sends nothing
    assert Alert.objects.count() == 1
    assert len(mail.outbox) == 2


def test_second_red_flag_checkin_is_added_to_the_open_alert_and_notifies_again(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    first = post_checkin(world, django_capture_on_commit_callbacks, red_flags=["fever"])
    second = post_checkin(world, django_capture_on_commit_callbacks, red_flags=["wound_drainage"])
    alert = Alert.objects.get()
    assert [e["checkin_id"] for e in alert.data["checkins"]] == [first["id"], second["id"]]
    assert alert.data["red_flags"] == ["fever", "wound_drainage"]
    assert [e.to_state for e in alert.events.all()] == [EventKind.OPEN, EventKind.UPDATED]
    assert len(mail.outbox) == 4


def test_acknowledged_red_flag_alert_also_takes_the_next_red_flag_checkin(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    post_checkin(world, django_capture_on_commit_callbacks, red_flags=["fever"])
    alert = services.alert_acknowledge(actor=world.surgeon, alert=Alert.objects.get())
    post_checkin(world, django_capture_on_commit_callbacks, red_flags=["fever"])
    alert.refresh_from_db()
    assert len(alert.data["checkins"]) == 2
    assert alert.state == AlertState.ACKNOWLEDGED
    assert Alert.objects.count() == 1


def test_patch_adding_red_flags_raises_the_alert(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    payload = post_checkin(world, django_capture_on_commit_callbacks)
    url = f"{checkins_url(world)}{payload['id']}/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(world.patient).patch(url, {"red_flags": ["calf_pain_swelling"]}, format="json")
    assert response.status_code == 200
    alert = Alert.objects.get()
    assert alert.data["checkins"][0]["red_flags"] == ["calf_pain_swelling"]
    # The same PATCH again changes nothing and raises nothing.
    with django_capture_on_commit_callbacks(execute=True):
        client_for(world.patient).patch(url, {"red_flags": ["calf_pain_swelling"]}, format="json")
    assert Alert.objects.count() == 1
    assert AlertEvent.objects.count() == 1


def test_patch_adding_another_flag_to_an_alerted_checkin_updates_the_alert(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    payload = post_checkin(world, django_capture_on_commit_callbacks, red_flags=["fever"])
    url = f"{checkins_url(world)}{payload['id']}/"
    with django_capture_on_commit_callbacks(execute=True):
        client_for(world.patient).patch(url, {"red_flags": ["fever", "saddle_numbness"]}, format="json")
    alert = Alert.objects.get()
    assert alert.data["red_flags"] == ["fever", "saddle_numbness"]
    assert len(alert.data["checkins"]) == 1
    assert alert.data["checkins"][0]["red_flags"] == ["saddle_numbness", "fever"]


def test_after_resolution_a_new_red_flag_raises_a_new_alert_but_a_replay_does_not(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    old = post_checkin(world, django_capture_on_commit_callbacks, red_flags=["fever"])
    services.alert_resolve(actor=world.physio, alert=Alert.objects.get(), note="Seen in clinic; antibiotics.")
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.raise_red_flag_alert(old["id"]) == "already"
    post_checkin(world, django_capture_on_commit_callbacks, red_flags=["fever"])
    assert Alert.objects.count() == 2
    assert Alert.objects.filter(state=AlertState.OPEN).count() == 1


def test_deleted_or_unknown_checkin_raises_nothing(world: World) -> None:
    checkin = CheckInFactory.create(episode=world.episode, red_flags=["fever"], deleted_at=timezone.now())
    assert services.alert_raise_red_flag(checkin_id=checkin.id) == "nothing"
    assert services.alert_raise_red_flag(checkin_id=uuid.uuid4()) == "nothing"
    assert not Alert.objects.exists()


def test_database_refuses_a_second_unresolved_alert_for_the_same_rule(world: World) -> None:
    make_alert(world.episode, AlertRule.NO_CHECKIN)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_alert(world.episode, AlertRule.NO_CHECKIN, state=AlertState.ACKNOWLEDGED)
    make_alert(world.episode, AlertRule.PAIN_RISING)  # another rule is fine
    make_alert(world.other_episode, AlertRule.NO_CHECKIN)  # another episode is fine
    make_alert(world.episode, AlertRule.NO_CHECKIN, state=AlertState.RESOLVED)  # history is fine


def test_alert_events_are_append_only(world: World) -> None:
    event = AlertEvent.objects.create(
        alert=make_alert(world.episode), to_state=EventKind.OPEN, at=timezone.now()
    )
    event.note = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()


@pytest.mark.django_db(transaction=True)
def test_concurrent_red_flag_tasks_for_two_checkins_make_one_alert(world: World) -> None:
    first = CheckInFactory.create(episode=world.episode, red_flags=["fever"])
    second = CheckInFactory.create(episode=world.episode, red_flags=["new_weakness"])
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def run(checkin: CheckIn) -> None:
        barrier.wait()
        outcomes.append(str(services.alert_raise_red_flag(checkin_id=checkin.id)))
        connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    alert = Alert.objects.get()
    assert sorted(e["checkin_id"] for e in alert.data["checkins"]) == sorted([str(first.id), str(second.id)])
    assert sorted(outcomes) == ["already", "already", "appended", "created"]


# --- escalation --------------------------------------------------------------------------------------


def test_unacknowledged_urgent_alert_is_escalated_once_to_the_surgeon_after_two_hours(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    raised = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    with time_machine.travel(raised, tick=False):
        checkin = CheckInFactory.create(episode=world.episode, red_flags=["fever"])
        with django_capture_on_commit_callbacks(execute=True):
            tasks.raise_red_flag_alert(str(checkin.id))
    mail.outbox.clear()
    with (
        time_machine.travel(raised + timedelta(hours=1, minutes=59), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.escalate_alerts() == 0
    assert mail.outbox == []
    with (
        time_machine.travel(raised + timedelta(hours=2, minutes=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.escalate_alerts() == 1
        assert tasks.escalate_alerts() == 0
    with (
        time_machine.travel(raised + timedelta(hours=5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.escalate_alerts() == 0
    alert = Alert.objects.get()
    assert alert.escalated_at == raised + timedelta(hours=2, minutes=1)
    assert [e.to_state for e in alert.events.all()] == [EventKind.OPEN, EventKind.ESCALATED]
    assert recipients() == [world.surgeon.email]
    assert mail.outbox[0].subject.startswith("Mobilize: Escalated: Urgent alert")


def test_acknowledged_urgent_alert_is_not_escalated(world: World) -> None:
    raised = timezone.now() - timedelta(hours=3)
    alert = make_alert(world.episode, AlertRule.RED_FLAG, Severity.URGENT, raised_at=raised)
    services.alert_acknowledge(actor=world.physio, alert=alert)
    assert tasks.escalate_alerts() == 0
    assert Alert.objects.get().escalated_at is None


def test_only_urgent_alerts_are_escalated(world: World) -> None:
    raised = timezone.now() - timedelta(hours=3)
    make_alert(world.episode, AlertRule.PAIN_ABOVE_BAND, Severity.HIGH, raised_at=raised)
    assert tasks.escalate_alerts() == 0


def test_escalation_is_claimed_by_one_caller_only(world: World) -> None:
    alert = make_alert(
        world.episode, AlertRule.RED_FLAG, Severity.URGENT, raised_at=timezone.now() - timedelta(hours=2)
    )
    now = timezone.now()
    assert services.alert_escalate(alert_id=alert.id, now=now) is True
    assert services.alert_escalate(alert_id=alert.id, now=now) is False
    assert AlertEvent.objects.filter(alert=alert, to_state=EventKind.ESCALATED).count() == 1


# --- trend rules over the signals frame ------------------------------------------------------------


def signal_row(episode: Episode, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "episode_id": str(episode.id),
        "as_of": pd.Timestamp("2026-03-20"),
        "post_op_day": 20,
        "last_checkin_date": pd.Timestamp("2026-03-20"),
        "days_without_checkin": 0,
        "axial_above_run": 0,
        "limb_above_run": 0,
        "pain_rise": 0.0,
        "pain_rise_site": None,
        "adherence_week": 1.0,
        "missed_timepoints": [],
        "red_flags_last_24h": 0,
    }
    row.update(overrides)
    return row


def evaluate(*rows: dict[str, Any]) -> services.EvaluationResult:
    return services.alerts_evaluate(signals=pd.DataFrame(list(rows)), now=timezone.now())


EVERY_RULE: dict[str, dict[str, Any]] = {
    AlertRule.PAIN_ABOVE_BAND: {"limb_above_run": 3},
    AlertRule.PAIN_RISING: {"pain_rise": 2.5, "pain_rise_site": "limb"},
    AlertRule.NO_CHECKIN: {"days_without_checkin": 3},
    AlertRule.LOW_ADHERENCE: {"adherence_week": 0.3},
    AlertRule.MISSED_QUESTIONNAIRE: {"missed_timepoints": ["6w"]},
}


@pytest.mark.parametrize("rule", list(EVERY_RULE))
def test_each_trend_rule_raises_once_over_repeated_evaluations(world: World, rule: str) -> None:
    row = signal_row(world.episode, **EVERY_RULE[rule])
    assert evaluate(row).raised == 1
    assert evaluate(row).raised == 0
    alert = Alert.objects.get()
    assert alert.rule == rule
    assert alert.severity != Severity.URGENT
    assert alert.data["threshold_source"] == "clinic default, not evidence"
    assert [e.to_state for e in alert.events.all()] == [EventKind.OPEN]


def test_all_rules_at_once_raise_one_alert_each(world: World) -> None:
    merged: dict[str, Any] = {}
    for overrides in EVERY_RULE.values():
        merged.update(overrides)
    assert evaluate(signal_row(world.episode, **merged), signal_row(world.other_episode)).raised == 5
    assert set(Alert.objects.values_list("rule", flat=True)) == set(EVERY_RULE)
    assert not Alert.objects.filter(episode=world.other_episode).exists()


def test_trend_alerts_do_not_notify(world: World, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(signal_row(world.episode, limb_above_run=4))
    assert mail.outbox == []


def test_cleared_condition_leaves_the_alert_open_and_marks_when_it_cleared(world: World) -> None:
    evaluate(signal_row(world.episode, days_without_checkin=4))
    evaluate(signal_row(world.episode, days_without_checkin=0))
    alert = Alert.objects.get()
    assert alert.state == AlertState.OPEN
    assert alert.cleared_at is not None
    evaluate(signal_row(world.episode, days_without_checkin=3))  # back while still open: no second alert
    alert.refresh_from_db()
    assert alert.cleared_at is None
    assert Alert.objects.count() == 1


def test_resolved_alert_is_not_raised_again_until_its_condition_clears_and_returns(world: World) -> None:
    silent = signal_row(world.episode, days_without_checkin=4)
    evaluate(silent)
    services.alert_resolve(actor=world.surgeon, alert=Alert.objects.get(), note="Patient on holiday.")
    assert evaluate(silent).raised == 0
    evaluate(signal_row(world.episode, days_without_checkin=0))
    assert evaluate(silent).raised == 1
    assert Alert.objects.filter(state=AlertState.OPEN).count() == 1


def test_missed_questionnaire_raises_once_per_timepoint(world: World) -> None:
    evaluate(signal_row(world.episode, missed_timepoints=["6w"]))
    services.alert_resolve(actor=world.surgeon, alert=Alert.objects.get(), note="Patient declined.")
    assert evaluate(signal_row(world.episode, missed_timepoints=["6w"])).raised == 0
    assert evaluate(signal_row(world.episode, missed_timepoints=["6w", "3m"])).raised == 1
    newest = Alert.objects.get(state=AlertState.OPEN)
    assert newest.data["timepoints"] == ["3m"]
    assert "6w" not in newest.reason and "3m" in newest.reason


@pytest.mark.django_db(transaction=True)
def test_two_evaluators_racing_raise_once(world: World) -> None:
    row = signal_row(world.episode, axial_above_run=5)
    barrier = threading.Barrier(4)
    results: list[int] = []

    def run() -> None:
        barrier.wait()
        results.append(evaluate(row).raised)
        connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 0, 1]
    assert Alert.objects.count() == 1


def test_evaluate_task_reads_signals_in_chunks_of_active_episodes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = EpisodeFactory.create(patient=PatientFactory.create(clinic=world.clinic), surgeon=world.surgeon)
    calls: list[list[uuid.UUID]] = []

    def fake_signals(episode_ids: list[uuid.UUID], *, now: datetime) -> tuple[pd.DataFrame, None]:
        calls.append(list(episode_ids))
        rows = [signal_row(Episode.objects.get(pk=i), days_without_checkin=5) for i in episode_ids]
        return pd.DataFrame(rows), None

    monkeypatch.setattr(tasks, "analyse_recent", fake_signals)
    first = tasks.evaluate_all(now=timezone.now(), chunk=2)
    second = tasks.evaluate_all(now=timezone.now(), chunk=2)
    assert [len(c) for c in calls] == [2, 1, 2, 1]
    assert (first["raised"], second["raised"]) == (3, 0)
    assert set(Alert.objects.values_list("episode_id", flat=True)) == {
        world.episode.id,
        world.other_episode.id,
        extra.id,
    }


# --- open_alerts_for ---------------------------------------------------------------------------------


def test_open_alerts_for_returns_unresolved_alerts_per_episode_in_one_query(world: World) -> None:
    now = timezone.now()
    low = make_alert(world.episode, AlertRule.LOW_ADHERENCE, Severity.LOW, raised_at=now - timedelta(days=2))
    urgent = make_alert(world.episode, AlertRule.RED_FLAG, Severity.URGENT, raised_at=now)
    make_alert(world.episode, AlertRule.NO_CHECKIN, state=AlertState.RESOLVED)
    other = make_alert(world.other_episode, AlertRule.PAIN_RISING, state=AlertState.ACKNOWLEDGED)
    quiet = EpisodeFactory.create(patient=PatientFactory.create(clinic=world.clinic))
    with CaptureQueriesContext(connection) as queries:
        found = selectors.open_alerts_for([world.episode.id, world.other_episode.id, quiet.id])
    assert len(queries) == 1
    assert [a.id for a in found[world.episode.id]] == [urgent.id, low.id]
    assert [(a.id, a.state) for a in found[world.other_episode.id]] == [(other.id, AlertState.ACKNOWLEDGED)]
    assert quiet.id not in found
    assert selectors.open_alerts_for([]) == {}
