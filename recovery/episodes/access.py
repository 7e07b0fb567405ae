"""THE authorization policy for patient data. Every read or write of an episode and anything below
it (check-ins, and later exercises, questionnaires, trajectories, alerts) is decided here.

How it works: a user stands in at most one *relation* to an episode, derived from their single role:

- ``patient``          the episode's own patient;
- ``surgeon``          the episode's surgeon;
- ``physiotherapist``  one of the episode's physiotherapists;
- ``clinic_admin``     an admin of the episode's clinic.

``POLICY`` lists, per action, the relations that allow it. Scoping (``episodes_for``) and single
checks (``can``) are both derived from that one table, so list endpoints and detail endpoints can
never disagree. Nothing crosses clinics: every relation also requires the user's clinic to be the
episode's clinic. An episode a user has no relation to does not exist for them (the API answers 404);
an episode they can see but where the action is not theirs is forbidden (403).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Final

from django.db.models import Exists, OuterRef, Q, QuerySet

from recovery.accounts.models import Role
from recovery.audit.recording import watched_episodes
from recovery.episodes.models import Episode

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from recovery.accounts.models import User


class Relation(StrEnum):
    PATIENT = "patient"
    SURGEON = "surgeon"
    PHYSIOTHERAPIST = "physiotherapist"
    CLINIC_ADMIN = "clinic_admin"


class Action(StrEnum):
    VIEW_EPISODE = "view_episode"
    VIEW_CHECKINS = "view_checkins"
    LOG_CHECKIN = "log_checkin"
    EDIT_CHECKIN = "edit_checkin"
    VIEW_REHAB = "view_rehab"
    PRESCRIBE = "prescribe"
    SET_RESTRICTIONS = "set_restrictions"
    LOG_EXERCISE = "log_exercise"
    VIEW_QUESTIONNAIRES = "view_questionnaires"
    ANSWER_QUESTIONNAIRE = "answer_questionnaire"
    VIEW_ALERTS = "view_alerts"
    HANDLE_ALERTS = "handle_alerts"
    VIEW_TRAJECTORY = "view_trajectory"
    RECORD_MILESTONE = "record_milestone"
    EXPORT_FHIR = "export_fhir"
    IMPORT_FHIR = "import_fhir"
    VIEW_ACCESS_LOG = "view_access_log"


class ClinicAction(StrEnum):
    """Actions on a clinic rather than on one episode."""

    ENROL_PATIENT = "enrol_patient"
    ADMINISTER_CLINIC = "administer_clinic"
    MANAGE_EXERCISE_LIBRARY = "manage_exercise_library"
    MANAGE_CLINIC_DEFAULTS = "manage_clinic_defaults"
    VIEW_CLINIC_DEFAULTS = "view_clinic_defaults"
    VIEW_PROTOCOLS = "view_protocols"
    MANAGE_PROTOCOLS = "manage_protocols"
    VIEW_COHORT = "view_cohort"
    VIEW_AUDIT = "view_audit"
    MANAGE_PRIVACY = "manage_privacy"


_ALL: Final = frozenset(Relation)
_CARE_TEAM: Final = frozenset({Relation.SURGEON, Relation.PHYSIOTHERAPIST})

#: Which relations to an episode allow which action. Clinic admins administer (enrol, staff the care
#: team) but do not read clinical data: they are not treating the patient.
POLICY: Final[dict[Action, frozenset[Relation]]] = {
    Action.VIEW_EPISODE: _ALL,
    Action.VIEW_CHECKINS: _CARE_TEAM | {Relation.PATIENT},
    # Clinicians never create or change what a patient reported.
    Action.LOG_CHECKIN: frozenset({Relation.PATIENT}),
    Action.EDIT_CHECKIN: frozenset({Relation.PATIENT}),
    # Rehab: physiotherapists prescribe, the surgeon sets restrictions and may prescribe too,
    # the patient logs what they did.
    Action.VIEW_REHAB: _CARE_TEAM | {Relation.PATIENT},
    Action.PRESCRIBE: _CARE_TEAM,
    Action.SET_RESTRICTIONS: frozenset({Relation.SURGEON}),
    Action.LOG_EXERCISE: frozenset({Relation.PATIENT}),
    # Outcome questionnaires: the patient answers; the care team reads.
    Action.VIEW_QUESTIONNAIRES: _CARE_TEAM | {Relation.PATIENT},
    Action.ANSWER_QUESTIONNAIRE: frozenset({Relation.PATIENT}),
    # Trajectory: the patient sees their own (in patient wording); either side may record a milestone.
    Action.VIEW_TRAJECTORY: _CARE_TEAM | {Relation.PATIENT},
    Action.RECORD_MILESTONE: _CARE_TEAM | {Relation.PATIENT},
    # Alerts are the care team's worklist: patients get their own advice in the app instead, and
    # clinic admins do not read clinical data.
    Action.VIEW_ALERTS: _CARE_TEAM,
    Action.HANDLE_ALERTS: _CARE_TEAM,
    # FHIR: the care team moves the record into the hospital's; the patient may download their own
    # record and bring in measurements from another app or a wearable. Clinic admins do not read
    # clinical data. Imported rows keep who imported them and the source identifier.
    Action.EXPORT_FHIR: _CARE_TEAM | {Relation.PATIENT},
    Action.IMPORT_FHIR: _CARE_TEAM | {Relation.PATIENT},
    # Who viewed this episode's record (the audit trail for this episode): its care team. The patient
    # has their own access log (/me/access-log/); clinic admins search the whole trail (/audit/).
    Action.VIEW_ACCESS_LOG: _CARE_TEAM,
}

CLINIC_POLICY: Final[dict[ClinicAction, frozenset[Role]]] = {
    ClinicAction.ENROL_PATIENT: frozenset({Role.SURGEON, Role.CLINIC_ADMIN}),
    ClinicAction.ADMINISTER_CLINIC: frozenset({Role.CLINIC_ADMIN}),
    ClinicAction.MANAGE_EXERCISE_LIBRARY: frozenset({Role.PHYSIOTHERAPIST, Role.SURGEON, Role.CLINIC_ADMIN}),
    ClinicAction.MANAGE_CLINIC_DEFAULTS: frozenset({Role.SURGEON, Role.CLINIC_ADMIN}),
    ClinicAction.VIEW_CLINIC_DEFAULTS: frozenset({Role.PHYSIOTHERAPIST, Role.SURGEON, Role.CLINIC_ADMIN}),
    # Expected-recovery protocols: every clinician reads them; surgeons and admins adopt and override.
    ClinicAction.VIEW_PROTOCOLS: frozenset({Role.PHYSIOTHERAPIST, Role.SURGEON, Role.CLINIC_ADMIN}),
    ClinicAction.MANAGE_PROTOCOLS: frozenset({Role.SURGEON, Role.CLINIC_ADMIN}),
    # Cohort views list only the clinician's own episodes (``episodes_for(user, VIEW_TRAJECTORY)``).
    ClinicAction.VIEW_COHORT: frozenset({Role.SURGEON, Role.PHYSIOTHERAPIST}),
    # The audit trail of the clinic (who read or changed which patient's records): its admins only.
    ClinicAction.VIEW_AUDIT: frozenset({Role.CLINIC_ADMIN}),
    # Privacy: carrying out patients' erasure requests and setting the retention of de-identified data.
    ClinicAction.MANAGE_PRIVACY: frozenset({Role.CLINIC_ADMIN}),
}

_ROLE_RELATION: Final[dict[str, Relation]] = {
    Role.PATIENT: Relation.PATIENT,
    Role.SURGEON: Relation.SURGEON,
    Role.PHYSIOTHERAPIST: Relation.PHYSIOTHERAPIST,
    Role.CLINIC_ADMIN: Relation.CLINIC_ADMIN,
}


def _active(user: User | AnonymousUser) -> User | None:
    if not user.is_authenticated or not user.is_active:
        return None
    from recovery.accounts.models import User as UserModel

    return user if isinstance(user, UserModel) and user.clinic_id is not None else None


def _relation_q(user: User) -> Q:
    """The episodes the user stands in their role's relation to (same clinic always required)."""
    relation = _ROLE_RELATION[user.role]
    same_clinic = Q(clinic_id=user.clinic_id)
    if relation is Relation.PATIENT:
        return same_clinic & Q(patient_id=user.pk)
    if relation is Relation.SURGEON:
        return same_clinic & Q(surgeon_id=user.pk)
    if relation is Relation.PHYSIOTHERAPIST:
        on_team = Episode.physiotherapists.through.objects.filter(episode_id=OuterRef("pk"), user_id=user.pk)
        return same_clinic & Q(Exists(on_team))
    return same_clinic


def relation_to(user: User | AnonymousUser, episode: Episode) -> Relation | None:
    """The user's relation to one episode, or None when the episode is outside their scope."""
    actor = _active(user)
    if actor is None or actor.clinic_id != episode.clinic_id:
        return None
    relation = _ROLE_RELATION[actor.role]
    if relation is Relation.PATIENT:
        return relation if episode.patient_id == actor.pk else None
    if relation is Relation.SURGEON:
        return relation if episode.surgeon_id == actor.pk else None
    if relation is Relation.PHYSIOTHERAPIST:
        return relation if episode.physiotherapists.filter(pk=actor.pk).exists() else None
    return relation


def episodes_for(user: User | AnonymousUser, action: Action = Action.VIEW_EPISODE) -> QuerySet[Episode]:
    """Every episode on which ``user`` may perform ``action``."""
    actor = _active(user)
    if actor is None or _ROLE_RELATION[actor.role] not in POLICY[action]:
        return Episode.objects.none()
    # Watched: whatever a staff request fetches from this scope is written to the audit trail.
    return watched_episodes().filter(_relation_q(actor))


def can(user: User | AnonymousUser, action: Action, episode: Episode) -> bool:
    relation = relation_to(user, episode)
    return relation is not None and relation in POLICY[action]


def role_may(user: User | AnonymousUser, action: Action) -> bool:
    """Whether the user's role could hold ``action`` on any episode at all (for lists that are not
    under one episode, such as the alert worklist: a role that never may is refused, not shown [])."""
    actor = _active(user)
    return actor is not None and _ROLE_RELATION[actor.role] in POLICY[action]


def can_in_clinic(user: User | AnonymousUser, action: ClinicAction) -> bool:
    actor = _active(user)
    return actor is not None and actor.role in CLINIC_POLICY[action]
