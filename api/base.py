"""The guarded base view for everything under ``/api/v1/episodes/{episode_id}/``.

The episode is resolved once, in ``initial()``, through the access policy: a user who may not read
the resource's data gets 404 (it does not exist for them); one who may read but not do the
requested action gets 403. Subclasses declare ``read_action`` and ``method_actions`` and can neither
override ``initial`` nor fetch the episode any other way, so scoping cannot be forgotten.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from recovery.accounts.models import User
from recovery.episodes.access import Action, can
from recovery.episodes.models import Episode
from recovery.episodes.selectors import episode_for_write_path

_SAFE = ("GET", "HEAD", "OPTIONS")


class EpisodeScopedView(APIView):
    read_action: ClassVar[Action]
    method_actions: ClassVar[dict[str, Action]] = {}
    episode: Episode

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for forbidden in ("initial", "get_episode"):
            if forbidden in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} must not override {forbidden}(): scoping lives in the base view."
                )

    @property
    def user(self) -> User:
        user = self.request.user
        assert isinstance(user, User)
        return user

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.episode = self.get_episode(request, kwargs["episode_id"])

    def get_episode(self, request: Request, episode_id: Any) -> Episode:
        episode = episode_for_write_path(user=request.user, action=self.read_action, episode_id=episode_id)
        if episode is None:
            raise exceptions.NotFound("Episode not found.")
        method = request.method or "GET"
        action = self.read_action if method in _SAFE else self.method_actions.get(method)
        if action is None or not can(request.user, action, episode):
            raise exceptions.PermissionDenied("You cannot do this on this episode.")
        return episode


def current_user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)
    return user
