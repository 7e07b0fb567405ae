"""Reads for episodes, always scoped by the access policy."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import AnonymousUser
from django.db.models import Prefetch, QuerySet

from recovery.accounts.models import User
from recovery.episodes.access import Action, episodes_for
from recovery.episodes.models import Episode


def episode_list(*, user: User | AnonymousUser, action: Action = Action.VIEW_EPISODE) -> QuerySet[Episode]:
    return (
        episodes_for(user, action)
        .select_related("patient", "patient__patient_profile", "surgeon", "procedure")
        .prefetch_related(Prefetch("physiotherapists", queryset=User.objects.order_by("full_name")))
        .order_by("-surgery_date", "id")
    )


def episode_for_write_path(
    *, user: User | AnonymousUser, action: Action, episode_id: UUID | str
) -> Episode | None:
    """The one episode behind a nested URL, with only what its children need (the patient's zone).

    This sits on the hot path of every check-in POST, so it is one indexed query: no care-team
    prefetch and no ordering.
    """
    try:
        return (
            episodes_for(user, action)
            .select_related("patient__patient_profile")
            .order_by()
            .get(pk=episode_id)
        )
    except Episode.DoesNotExist:
        return None


def episode_get(*, user: User | AnonymousUser, episode_id: UUID | str) -> Episode | None:
    """The episode if ``user`` may see it at all; None means 'does not exist for you'."""
    return episode_list(user=user).filter(pk=episode_id).first()
