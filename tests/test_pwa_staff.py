"""The clinician dashboard in real Chromium (Playwright), tablet-sized: two-factor enrolment and sign-in,
plan editing with the restriction guard and the surgeon's override, and the dashboard in Spanish.
Each new screen is checked with axe-core (no serious or critical violation) and for CSP violations."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from recovery.security import totp
from recovery.security.models import ClinicSecurityPolicy, TotpDevice
from tests.conftest import World
from tests.factories import PASSWORD, AssignmentFactory, ExerciseFactory
from tests.pwa.browser import TABLET, axe_check, browser, new_context, sign_in
from tests.pwa.support import needs_build

pytestmark = needs_build
__all__ = ["browser"]  # the module-scoped fixture


def _code(secret: str, *, steps_ahead: int = 0) -> str:
    """The authenticator's code now (the server checks with the same clock), or a later step's: the
    server accepts one step of drift, and a code of a step already used is refused as a replay."""
    return totp.code_for(secret, timezone.now().timestamp() + 30 * steps_ahead)


def _password_only(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/app/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_staff_set_up_two_factor_when_the_clinic_requires_it_then_sign_in_with_a_code(
    transactional_db: None, live_server: Any, browser: Any, world: World
) -> None:
    ClinicSecurityPolicy.objects.create(clinic=world.clinic, totp_required=True)
    context = new_context(browser, TABLET)
    page = context.new_page()
    _password_only(page, live_server.url, world.physio.email)
    # The clinic requires a second factor this physiotherapist has not set up: enrolment comes first.
    page.get_by_role("heading", level=1, name="Two-factor sign-in").wait_for()
    page.get_by_text("Your clinic requires two-factor sign-in.").wait_for()
    assert page.get_by_role("heading", name="Worklist").count() == 0
    axe_check(page, "staff-two-factor-required")

    page.get_by_role("button", name="Set up an authenticator app").click()
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    assert len(secret) == 32
    link = page.get_by_role("link", name="otpauth://")
    assert f"secret={secret}" in (link.get_attribute("href") or "")
    axe_check(page, "staff-two-factor-key")

    good = _code(secret)
    page.get_by_label("Code from your authenticator app").fill(
        str((int(good) + 500_000) % 1_000_000).zfill(6)
    )
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("alert").filter(has_text="Code from your authenticator app").wait_for()
    assert TotpDevice.objects.get(user=world.physio).confirmed_at is None

    page.get_by_label("Code from your authenticator app").fill(good)
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("Two-factor sign-in is on. From now on, signing in asks for a code.").wait_for()
    assert TotpDevice.objects.get(user=world.physio).confirmed_at is not None
    page.get_by_role("button", name="Continue to the worklist").click()
    page.get_by_role("heading", level=1, name="Worklist").wait_for()

    # Signing in again: the password alone is not enough, the app asks for the code.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", level=1, name="Sign in").wait_for()
    _password_only(page, live_server.url, world.physio.email)
    code_field = page.get_by_label("Code from your authenticator app")
    code_field.wait_for()
    page.get_by_role("alert").filter(has_text="authenticator").wait_for()
    axe_check(page, "staff-sign-in-code")
    code_field.fill(_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", level=1, name="Worklist").wait_for()
    context.close()


def test_staff_can_set_up_two_factor_from_the_security_screen_without_a_clinic_rule(
    transactional_db: None, live_server: Any, browser: Any, world: World
) -> None:
    context = new_context(browser, TABLET)
    page = context.new_page()
    sign_in(page, live_server.url, world.surgeon.email, heading="Worklist")
    page.get_by_role("link", name="Security").click()
    page.get_by_role("heading", level=1, name="Two-factor sign-in").wait_for()
    page.get_by_text("Two-factor sign-in is off").wait_for()
    page.get_by_role("button", name="Set up an authenticator app").click()
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill(_code(secret))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("Two-factor sign-in is on. From now on, signing in asks for a code.").wait_for()
    assert TotpDevice.objects.get(user=world.surgeon).confirmed_at is not None

    # Turning it off takes a current code (a later step: the first one is used up).
    page.get_by_label("Code from your authenticator app").fill(_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Turn off").click()
    page.get_by_text("Two-factor sign-in is off.", exact=True).wait_for()
    assert not TotpDevice.objects.filter(user=world.surgeon).exists()
    context.close()


@pytest.fixture
def restricted_plan(world: World) -> dict[str, Any]:
    """Heel slides (no restricted movement) and a box lift prescribed from day 50, on an episode whose
    surgeon forbids loaded lifting until post-op day 42."""
    from recovery.rehab.restrictions import MovementData, RestrictionsData, restrictions_replace

    restrictions_replace(
        actor=world.surgeon,
        episode=world.episode,
        data=RestrictionsData(
            lifting_limit_kg=None,
            lifting_limit_until_day=None,
            forbidden_movements=(MovementData(tag="loaded_lifting", until_day=42),),
            source="Surgeon's instruction",
        ),
    )
    heel = ExerciseFactory.create(name="Heel slides", movement_tags=[])
    box = ExerciseFactory.create(name="Box lift", movement_tags=["loaded_lifting"])
    return {
        "heel": AssignmentFactory.create(episode=world.episode, exercise=heel, start_day=0),
        "box": AssignmentFactory.create(episode=world.episode, exercise=box, start_day=50),
    }


def _edit(page: Any, exercise: str) -> Any:
    page.get_by_role("button", name=f"Edit {exercise}").click()
    form = page.get_by_role("form", name=f"Change {exercise}")
    form.wait_for()
    return form


def test_physio_edits_dose_schedule_and_notes_and_sees_the_guard_refuse_an_earlier_start(
    transactional_db: None, live_server: Any, browser: Any, world: World, restricted_plan: dict[str, Any]
) -> None:
    heel, box = restricted_plan["heel"], restricted_plan["box"]
    context = new_context(browser, TABLET)
    page = context.new_page()
    sign_in(page, live_server.url, world.physio.email, heading="Worklist")
    page.goto(f"{live_server.url}/app/clinic/episodes/{world.episode.pk}/")
    page.get_by_test_id("assignment-row").filter(has_text="Box lift").wait_for()

    form = _edit(page, "Heel slides")
    form.get_by_label("Sets").fill("3")
    form.get_by_label("Reps").fill("")
    form.get_by_label("Hold (seconds)").fill("20")
    form.get_by_label("Sessions per day").fill("2")
    form.get_by_label("Saturday").uncheck()
    form.get_by_label("Sunday").uncheck()
    form.get_by_label("End on post-op day (optional)").fill("60")
    form.get_by_label("Notes for the patient").fill("Slow and steady; stop if the leg pain spreads.")
    axe_check(page, "physio-plan-edit")
    form.get_by_role("button", name="Save changes").click()
    page.get_by_text("Heel slides: changes saved.").wait_for()
    heel.refresh_from_db()
    assert (heel.sets, heel.reps, heel.hold_seconds, heel.sessions_per_day) == (3, None, 20, 2)
    assert heel.days_of_week == ["mon", "tue", "wed", "thu", "fri"]
    assert (heel.start_day, heel.end_day) == (0, 60)
    assert heel.notes == "Slow and steady; stop if the leg pain spreads."
    row = page.get_by_test_id("assignment-row").filter(has_text="Heel slides")
    row.get_by_text("3 \u00d7 20 s hold, 2 a day").wait_for()  # the multiplication sign
    assert "Monday, Tuesday, Wednesday, Thursday, Friday · days 0 to 60" in row.inner_text()

    # An earlier start would put the box lift inside the lifting restriction: refused, shown inline.
    form = _edit(page, "Box lift")
    form.get_by_label("Start on post-op day").fill("10")
    form.get_by_role("button", name="Save changes").click()
    refusal = form.get_by_role("alert").filter(has_text="no loaded_lifting until post-op day 42")
    refusal.wait_for()
    assert "ask the surgeon to record an override" in refusal.inner_text()
    assert page.get_by_role("form", name="Record an override").count() == 0  # the physio cannot
    axe_check(page, "physio-plan-edit-refused")
    box.refresh_from_db()
    assert box.start_day == 50
    context.close()


def test_surgeon_records_an_override_and_the_refused_change_is_saved(
    transactional_db: None, live_server: Any, browser: Any, world: World, restricted_plan: dict[str, Any]
) -> None:
    from recovery.rehab.models import MovementRestriction, RestrictionOverride

    box = restricted_plan["box"]
    context = new_context(browser, TABLET)
    page = context.new_page()
    sign_in(page, live_server.url, world.surgeon.email, heading="Worklist")
    page.goto(f"{live_server.url}/app/clinic/episodes/{world.episode.pk}/")
    form = _edit(page, "Box lift")
    form.get_by_label("Start on post-op day").fill("10")
    form.get_by_role("button", name="Save changes").click()
    form.get_by_role("alert").filter(has_text="no loaded_lifting until post-op day 42").wait_for()
    override = page.get_by_role("form", name="Record an override")
    override.wait_for()
    assert "loaded lifting" in override.inner_text()
    override.get_by_role("button", name="Record the override and save").click()
    override.get_by_text("Give a reason for the override.").wait_for()
    assert not RestrictionOverride.objects.exists()
    axe_check(page, "surgeon-plan-override")

    override.get_by_label("Reason for the override").fill("Supervised 2 kg box lift; fusion not involved.")
    override.get_by_role("button", name="Record the override and save").click()
    page.get_by_text("Box lift: changes saved.").wait_for()
    box.refresh_from_db()
    assert box.start_day == 10
    recorded = RestrictionOverride.objects.get(episode=world.episode)
    assert (recorded.exercise_id, recorded.tag, recorded.created_by_id) == (
        box.exercise_id,
        "loaded_lifting",
        world.surgeon.pk,
    )
    assert recorded.reason == "Supervised 2 kg box lift; fusion not involved."
    # The restriction itself stands; the restrictions card lists the override.
    assert MovementRestriction.objects.filter(
        episode=world.episode, tag="loaded_lifting", until_day=42
    ).exists()
    page.get_by_test_id("override-row").filter(has_text="Box lift").wait_for()
    # Saving the restrictions afterwards keeps the override (the form sends it back as the PUT wants).
    page.get_by_role("button", name="Save restrictions").click()
    page.get_by_text("Restrictions saved.").wait_for()
    assert RestrictionOverride.objects.filter(episode=world.episode).count() == 1
    context.close()


def test_the_dashboard_follows_a_spanish_browser_and_the_switch_is_kept(
    transactional_db: None, live_server: Any, browser: Any, world: World, restricted_plan: dict[str, Any]
) -> None:
    context = new_context(browser, TABLET, locale="es-ES")
    page = context.new_page()
    page.goto(f"{live_server.url}/app/")
    page.get_by_role("heading", level=1, name="Iniciar sesión").wait_for()
    page.get_by_label("Correo electrónico").fill(world.physio.email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.get_by_role("heading", level=1, name="Lista de trabajo").wait_for()
    assert page.get_attribute("html", "lang") == "es"
    axe_check(page, "clinician-worklist-es")

    page.goto(f"{live_server.url}/app/clinic/episodes/{world.episode.pk}/")
    page.get_by_role("heading", level=2, name="Plan de ejercicios").wait_for()
    page.get_by_role("heading", level=2, name="Restricciones").wait_for()
    page.get_by_text("Sin levantar peso hasta el día 42").wait_for()
    form = page.get_by_role("button", name="Editar Box lift")
    form.click()
    edit = page.get_by_role("form", name="Cambiar Box lift")
    edit.get_by_label("Empezar el día postoperatorio").fill("10")
    edit.get_by_role("button", name="Guardar cambios").click()
    # The guard's own message comes from the server (in English); the field it names is in Spanish.
    edit.get_by_role("alert").filter(has_text="Ejercicio:").wait_for()
    axe_check(page, "clinician-patient-detail-es")

    # The switch: English from now on, on this device, also after a reload.
    page.get_by_label("Idioma").select_option("en")
    page.get_by_role("heading", level=2, name="Exercise plan").wait_for()
    assert page.get_attribute("html", "lang") == "en"
    page.reload()
    page.get_by_role("heading", level=2, name="Exercise plan").wait_for()
    page.get_by_role("link", name="Worklist", exact=True).click()
    page.get_by_role("heading", level=1, name="Worklist").wait_for()
    context.close()
