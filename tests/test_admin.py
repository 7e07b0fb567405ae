"""The Django admin is scoped by the same access policy as the API."""

from __future__ import annotations

from django.test import Client

from recovery.accounts.models import User
from tests.conftest import World
from tests.factories import CheckInFactory


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_patients_cannot_open_the_admin(world: World) -> None:
    response = admin_client(world.patient).get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_clinic_admin_sees_only_their_clinics_people(world: World) -> None:
    page = admin_client(world.clinic_admin).get("/admin/accounts/user/")
    assert page.status_code == 200
    content = page.content.decode()
    assert world.patient.email in content
    assert world.other_clinic_surgeon.email not in content
    foreign = admin_client(world.clinic_admin).get(
        f"/admin/accounts/user/{world.other_clinic_surgeon.pk}/change/"
    )
    assert foreign.status_code == 302  # Django's admin redirects a missing object to the index


def test_clinician_sees_only_care_team_episodes(world: World) -> None:
    content = admin_client(world.physio).get("/admin/episodes/episode/").content.decode()
    assert str(world.episode.pk) in content
    assert str(world.other_episode.pk) not in content
    outsider = admin_client(world.other_clinic_surgeon).get(
        f"/admin/episodes/episode/{world.episode.pk}/change/"
    )
    assert outsider.status_code == 302


def test_check_ins_are_read_only_and_hidden_from_clinic_admins(world: World) -> None:
    checkin = CheckInFactory.create(episode=world.episode, note="walked to the park")
    surgeon_view = admin_client(world.surgeon).get(f"/admin/checkins/checkin/{checkin.pk}/change/")
    assert surgeon_view.status_code == 200
    assert b"walked to the park" in surgeon_view.content
    assert b'name="_save"' not in surgeon_view.content
    listing = admin_client(world.clinic_admin).get("/admin/checkins/checkin/").content.decode()
    assert str(checkin.pk) not in listing
    post = admin_client(world.surgeon).post(
        f"/admin/checkins/checkin/{checkin.pk}/change/", {"axial_pain": 0}
    )
    assert post.status_code == 403


def test_nobody_deletes_accounts_in_the_admin(world: World) -> None:
    response = admin_client(world.clinic_admin).get(f"/admin/accounts/user/{world.patient.pk}/delete/")
    assert response.status_code == 403


def test_an_erased_account_is_shown_but_never_changed_or_reactivated(world: World) -> None:
    from recovery.privacy.services import patient_erase

    patient_erase(patient_id=world.patient.pk)
    client = admin_client(world.clinic_admin)
    url = f"/admin/accounts/user/{world.patient.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    post = client.post(url, {"email": "back@river.example", "full_name": "Pat Doe", "is_active": "on"})
    assert post.status_code == 403
    world.patient.refresh_from_db()
    assert not world.patient.is_active and world.patient.full_name != "Pat Doe"
    # Another patient's account is still editable by the clinic admin.
    assert b'name="_save"' in client.get(f"/admin/accounts/user/{world.surgeon.pk}/change/").content
