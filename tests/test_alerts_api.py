"""The alert worklist, one alert with its history, acknowledge and resolve (through the API)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.alerts.models import Alert, AlertEvent, AlertRule, AlertState, EventKind, Severity
from recovery.episodes.models import Episode
from tests.conftest import World, client_for
from tests.factories import EpisodeFactory, PatientFactory

LIST = "/api/v1/alerts/"


def make_alert(
    episode: Episode,
    rule: str = AlertRule.NO_CHECKIN,
    severity: str = Severity.MODERATE,
    *,
    raised_at: datetime | None = None,
    state: str = AlertState.OPEN,
) -> Alert:
    now = raised_at or timezone.now()
    alert = Alert.objects.create(
        episode=episode,
        rule=rule,
        severity=severity,
        state=state,
        reason=f"{rule} reason",
        data={"rule": rule},
        raised_at=now,
        acknowledged_at=now if state != AlertState.OPEN else None,
        resolved_at=now if state == AlertState.RESOLVED else None,
    )
    AlertEvent.objects.create(alert=alert, to_state=EventKind.OPEN, at=now)
    return alert


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def action(
    world: World, alert: Alert, verb: str, body: dict[str, Any] | None = None, user: Any = None
) -> Any:
    client = client_for(user or world.surgeon)
    return client.post(f"{LIST}{alert.id}/{verb}/", body if body is not None else {}, format="json")


def test_worklist_orders_by_severity_then_oldest_first(world: World) -> None:
    now = timezone.now()
    moderate_old = make_alert(world.episode, AlertRule.NO_CHECKIN, raised_at=now - timedelta(days=2))
    low = make_alert(world.episode, AlertRule.LOW_ADHERENCE, Severity.LOW, raised_at=now - timedelta(days=3))
    urgent = make_alert(world.episode, AlertRule.RED_FLAG, Severity.URGENT, raised_at=now)
    high = make_alert(world.episode, AlertRule.PAIN_ABOVE_BAND, Severity.HIGH, raised_at=now)
    moderate_new = make_alert(world.episode, AlertRule.PAIN_RISING, raised_at=now - timedelta(hours=1))
    expected = [str(a.id) for a in (urgent, high, moderate_old, moderate_new, low)]
    assert ids(client_for(world.physio).get(LIST)) == expected


def test_worklist_rows_carry_episode_patient_post_op_day_and_history(world: World) -> None:
    alert = make_alert(world.episode)
    with time_machine.travel(timezone.now(), tick=False):  # post_op_day must not flip at midnight mid-test
        [row] = client_for(world.surgeon).get(LIST).json()["results"]
        assert row["post_op_day"] == world.episode.post_op_day()
    assert row["episode"] == str(world.episode.id)
    assert row["patient"] == {"id": str(world.patient.id), "name": "Pat Doe"}
    assert (row["rule"], row["severity"], row["state"]) == ("no_checkin", "moderate", "open")
    assert row["reason"] == alert.reason
    assert row["data"] == {"rule": "no_checkin"}
    assert [(h["from_state"], h["to_state"], h["by"]) for h in row["history"]] == [("", "open", None)]


def test_worklist_shows_only_the_callers_care_team_episodes(world: World) -> None:
    mine = make_alert(world.episode)
    make_alert(world.other_episode)  # same clinic, another surgeon's patient
    assert ids(client_for(world.surgeon).get(LIST)) == [str(mine.id)]
    assert ids(client_for(world.physio).get(LIST)) == [str(mine.id)]
    assert ids(client_for(world.other_clinic_surgeon).get(LIST)) == []


@pytest.mark.parametrize("persona", ["patient", "clinic_admin", "other_patient"])
def test_worklist_is_refused_to_patients_and_clinic_admins(world: World, persona: str) -> None:
    make_alert(world.episode)
    response = client_for(getattr(world, persona)).get(LIST)
    assert response.status_code == 403
    assert set(response.json()) == {"errors"}


def test_worklist_defaults_to_unresolved_and_filters(world: World) -> None:
    open_ = make_alert(world.episode, AlertRule.NO_CHECKIN)
    acked = make_alert(world.episode, AlertRule.PAIN_RISING, state=AlertState.ACKNOWLEDGED)
    resolved = make_alert(world.episode, AlertRule.LOW_ADHERENCE, Severity.LOW, state=AlertState.RESOLVED)
    urgent = make_alert(world.episode, AlertRule.RED_FLAG, Severity.URGENT)
    second = EpisodeFactory.create(
        patient=PatientFactory.create(clinic=world.clinic),
        surgeon=world.surgeon,
        physiotherapists=[world.physio],
    )
    elsewhere = make_alert(second, AlertRule.NO_CHECKIN)
    client = client_for(world.surgeon)
    assert set(ids(client.get(LIST))) == {str(a.id) for a in (open_, acked, urgent, elsewhere)}
    assert ids(client.get(LIST, {"state": "resolved"})) == [str(resolved.id)]
    assert len(ids(client.get(LIST, {"state": "all"}))) == 5
    assert set(ids(client.get(LIST, {"state": "open,resolved"}))) == {
        str(a.id) for a in (open_, resolved, urgent, elsewhere)
    }
    assert ids(client.get(LIST, {"severity": "urgent"})) == [str(urgent.id)]
    assert set(ids(client.get(LIST, {"rule": "no_checkin"}))) == {str(open_.id), str(elsewhere.id)}
    assert ids(client.get(LIST, {"episode": str(second.id)})) == [str(elsewhere.id)]
    assert ids(client.get(LIST, {"episode": str(world.other_episode.id)})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "closed"}, "state"),
        ({"severity": "urgent,extreme"}, "severity"),
        ({"rule": "fever"}, "rule"),
        ({"episode": "not-a-uuid"}, "episode"),
        ({"page": "0"}, "page"),
        ({"state": ","}, "state"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(world: World, params: dict[str, str], field: str) -> None:
    response = client_for(world.surgeon).get(LIST, params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_worklist_is_paginated_with_a_fixed_number_of_queries(world: World) -> None:
    client = client_for(world.surgeon)
    for rule in (AlertRule.NO_CHECKIN, AlertRule.PAIN_RISING):
        make_alert(world.episode, rule)
    client.get(LIST)  # warm-up: the first request of a token may touch it
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    for _ in range(3):
        episode = EpisodeFactory.create(
            patient=PatientFactory.create(clinic=world.clinic), surgeon=world.surgeon
        )
        for rule in (AlertRule.NO_CHECKIN, AlertRule.PAIN_ABOVE_BAND, AlertRule.LOW_ADHERENCE):
            alert = make_alert(episode, rule)
            services_ack(world, alert)
    with CaptureQueriesContext(connection) as many:
        body = client.get(LIST, {"page_size": 5}).json()
    assert len(many) == len(few)
    assert body["count"] == 11
    assert len(body["results"]) == 5
    assert body["next"] is not None


def services_ack(world: World, alert: Alert) -> None:
    from recovery.alerts.services import alert_acknowledge

    alert_acknowledge(actor=world.surgeon, alert=alert, note="Looking into it.")


def test_detail_shows_one_alert_and_its_history(world: World) -> None:
    alert = make_alert(world.episode)
    services_ack(world, alert)
    response = client_for(world.physio).get(f"{LIST}{alert.id}/")
    assert response.status_code == 200
    history = response.json()["history"]
    assert [h["to_state"] for h in history] == ["open", "acknowledged"]
    assert history[1]["by"] == {"id": str(world.surgeon.id), "name": "Dr Ana Ruiz"}
    assert history[1]["note"] == "Looking into it."


def test_acknowledge_records_who_and_when_and_again_is_a_no_op(world: World) -> None:
    alert = make_alert(world.episode)
    first = action(world, alert, "acknowledge", user=world.physio)
    assert first.status_code == 200
    body = first.json()
    assert body["state"] == "acknowledged"
    assert body["acknowledged_by"]["id"] == str(world.physio.id)
    again = action(world, alert, "acknowledge", user=world.surgeon)
    assert again.status_code == 200
    assert again.json()["acknowledged_by"]["id"] == str(world.physio.id)
    assert again.json()["acknowledged_at"] == body["acknowledged_at"]
    assert AlertEvent.objects.filter(alert=alert, to_state=EventKind.ACKNOWLEDGED).count() == 1


def test_resolve_needs_a_note(world: World) -> None:
    alert = make_alert(world.episode)
    for body in ({}, {"note": ""}, {"note": "   "}, {"note": None}, {"note": 5}):
        response = action(world, alert, "resolve", body)
        assert response.status_code == 400, body
        assert list(response.json()["errors"]) == ["note"]
    assert Alert.objects.get(pk=alert.pk).state == AlertState.OPEN
    assert AlertEvent.objects.filter(alert=alert).count() == 1


def test_unknown_fields_are_refused(world: World) -> None:
    alert = make_alert(world.episode)
    response = action(world, alert, "acknowledge", {"state": "resolved"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["state"]


def test_resolve_keeps_the_note_and_again_is_a_no_op(world: World) -> None:
    alert = make_alert(world.episode)
    response = action(world, alert, "resolve", {"note": "Phoned: fine, lost her phone."})
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["resolution_note"]) == ("resolved", "Phoned: fine, lost her phone.")
    assert body["resolved_by"]["id"] == str(world.surgeon.id)
    assert [(h["from_state"], h["to_state"]) for h in body["history"]] == [("", "open"), ("open", "resolved")]
    again = action(world, alert, "resolve", {"note": "Something else"})
    assert again.status_code == 200
    assert again.json()["resolution_note"] == "Phoned: fine, lost her phone."
    assert AlertEvent.objects.filter(alert=alert).count() == 2


def test_acknowledging_a_resolved_alert_is_409(world: World) -> None:
    alert = make_alert(world.episode)
    action(world, alert, "resolve", {"note": "Done."})
    response = action(world, alert, "acknowledge")
    assert response.status_code == 409
    assert list(response.json()["errors"]) == ["state"]
    assert Alert.objects.get(pk=alert.pk).state == AlertState.RESOLVED


def test_every_state_change_is_kept_in_order(world: World) -> None:
    alert = make_alert(world.episode)
    action(world, alert, "acknowledge", user=world.physio)
    action(world, alert, "resolve", {"note": "Adjusted pain relief."}, user=world.surgeon)
    events = list(AlertEvent.objects.filter(alert=alert).order_by("at", "id"))
    assert [(e.from_state, e.to_state, e.by_id) for e in events] == [
        ("", EventKind.OPEN, None),
        (AlertState.OPEN, EventKind.ACKNOWLEDGED, world.physio.id),
        (AlertState.ACKNOWLEDGED, EventKind.RESOLVED, world.surgeon.id),
    ]


def test_another_care_teams_alert_is_404_for_actions(world: World) -> None:
    foreign = make_alert(world.other_episode)
    for verb, body in (("acknowledge", {}), ("resolve", {"note": "x"})):
        response = action(world, foreign, verb, body)
        assert response.status_code == 404
    assert client_for(world.surgeon).get(f"{LIST}{foreign.id}/").status_code == 404
    assert Alert.objects.get(pk=foreign.pk).state == AlertState.OPEN
