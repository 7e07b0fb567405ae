"""Recording the audit trail automatically, for every request by a staff member.

No view has to remember anything. A request carries a ``Trail`` (a context variable set by
``AuditMiddleware``); it starts recording once the signed-in user is known to be staff (``begin``,
called by the API's default permission class, or by the middleware for the Django admin). While it
records, it notes every patient record the request touches, where every read passes:

- every model instance loaded or built that *is* an episode or points at one (a check-in, an alert,
  an assignment...): a ``post_init`` receiver connected, at start-up, only to those models;
- every row fetched from the access policy's scoped queryset (``episodes_for``), also when it is
  fetched as bare ids (``values_list("pk", flat=True)``, as the cohort reads do);
- every patient's account loaded (a ``User`` with the patient role: name, email, in the admin's
  people pages too); a patient already covered by an episode of the request gets no second record.

Views load through the access policy, so an outsider never loads a record they cannot see; and a 404
is not recorded at all.

When the response is known, ``finish`` writes one ``AuditEvent`` and one ``AuditRecord`` per episode
touched (its patient read from the episode row) or patient account read alone: on PostgreSQL one
statement (so a staff read costs one query more), elsewhere up to four. Invariants:

- writes (POST, PUT, PATCH, DELETE) by staff run inside one ``transaction.atomic()`` opened by
  ``begin``; the audit rows are inserted before it commits, so a write and its audit event commit or
  roll back together. A 4xx write leaves no event (nothing happened); a 5xx rolls the whole request
  back;
- a refused attempt (403) on a record the actor can see is recorded too, after the transaction, as
  an event with ``status_code`` 403;
- a streamed response (CSV or NDJSON exports) is recorded when the stream ends, with everything the
  stream read;
- failing to write the audit row fails the request (500; a write rolls back): nothing is shown or
  changed unrecorded, except the tail of a stream, which is recorded when it ends;
- patients' own requests are not recorded (the issue audits staff) and add no query: no trail
  starts, no transaction is opened.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models, transaction
from django.db.models.signals import post_init
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone

from recovery.accounts.models import Role, User
from recovery.audit.models import AuditAction
from recovery.audit.services import audit_event_insert
from recovery.episodes.models import Episode

if TYPE_CHECKING:
    from django.db.transaction import Atomic

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITE_ACTION = {
    "POST": AuditAction.CREATE,
    "PUT": AuditAction.UPDATE,
    "PATCH": AuditAction.UPDATE,
    "DELETE": AuditAction.DELETE,
}
# Django admin URL names say what a POST does.
_ADMIN_SUFFIX_ACTION = {
    "_add": AuditAction.CREATE,
    "_change": AuditAction.UPDATE,
    "_delete": AuditAction.DELETE,
    "_changelist": AuditAction.UPDATE,
}
_USER_AGENT_MAX = 200


@dataclass
class Trail:
    """What one request did to patient records; recording only once ``actor`` is set."""

    request: HttpRequest
    actor: User | None = None
    auth: Any = None
    #: episode id -> patient id (None until looked up).
    episodes: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)
    #: patients whose account was read, with or without an episode.
    patients: set[uuid.UUID] = field(default_factory=set)
    atomic: Atomic | None = None
    started: bool = False

    def note(self, episode_id: Any, patient_id: Any = None) -> None:
        if not isinstance(episode_id, uuid.UUID):
            return
        if patient_id is not None or episode_id not in self.episodes:
            self.episodes[episode_id] = patient_id if isinstance(patient_id, uuid.UUID) else None


_current: ContextVar[Trail | None] = ContextVar("mobilize_audit_trail", default=None)


def _recording() -> Trail | None:
    trail = _current.get()
    return trail if trail is not None and trail.actor is not None else None


def is_audited(user: Any) -> bool:
    """Staff (every role but patient) and platform superusers are audited."""
    return isinstance(user, User) and user.is_active and (user.is_superuser or user.role != Role.PATIENT)


def begin(request: HttpRequest, user: Any, auth: Any = None) -> None:
    """Start recording ``request`` once its user is known to be staff; open the write transaction.

    Called before the view touches any data. Does nothing outside ``AuditMiddleware``, for patients,
    and a second time.
    """
    trail = _current.get()
    if trail is None or trail.request is not request or trail.started or not is_audited(user):
        return
    trail.started = True
    trail.actor = user
    trail.auth = auth
    if (request.method or "GET") not in _SAFE:
        trail.atomic = transaction.atomic()
        trail.atomic.__enter__()


# --- ORM hooks -------------------------------------------------------------------------------------

#: model -> attribute names holding an episode id ("id" for Episode itself).
_WATCHED: dict[type[models.Model], tuple[str, ...]] = {}


def _on_init(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    trail = _recording()
    if trail is None:
        return
    # __dict__ only: a deferred field must not cost a query.
    values = instance.__dict__
    if isinstance(instance, User):
        if values.get("role") == Role.PATIENT and isinstance(values.get("id"), uuid.UUID):
            trail.patients.add(values["id"])
        return
    if isinstance(instance, Episode):
        trail.note(values.get("id"), values.get("patient_id"))
        return
    for attname in _WATCHED.get(sender, ()):
        trail.note(values.get(attname))


def watch_episode_models() -> None:
    """Connect ``_on_init`` to Episode, User and every model with a foreign key to Episode (audit's
    own excluded).

    Connected per model, so every other model keeps Django's no-receiver fast path.
    """
    for model in apps.get_models():
        if model._meta.app_label == "audit":
            continue
        if issubclass(model, Episode | User):
            names: tuple[str, ...] = ("id",)
        else:
            names = tuple(
                f.attname
                for f in model._meta.concrete_fields
                if isinstance(f, models.ForeignKey) and f.related_model is Episode
            )
        if names:
            _WATCHED[model] = names
            post_init.connect(_on_init, sender=model, weak=False, dispatch_uid=f"audit-{model._meta.label}")


def _note_rows(qs: models.QuerySet[Any], rows: Iterable[Any]) -> None:
    trail = _recording()
    if trail is None:
        return
    fields = tuple(getattr(qs, "_fields", None) or ())
    for row in rows:
        if isinstance(row, Episode):
            continue  # already noted by _on_init
        if isinstance(row, dict):
            trail.note(row.get("id", row.get("pk")), row.get("patient_id", row.get("patient")))
        elif isinstance(row, tuple):
            named = dict(zip(fields, row, strict=False))
            trail.note(named.get("id", named.get("pk")), named.get("patient_id", named.get("patient")))
        elif fields and fields[0] in ("id", "pk"):
            trail.note(row)


class WatchedEpisodeQuerySet(models.QuerySet[Episode]):
    """The access policy's scoped episodes: whatever a staff request fetches from it is recorded,
    also as bare ids or value rows (which build no model instance)."""

    def _fetch_all(self) -> None:
        fresh = self._result_cache is None
        super()._fetch_all()
        if fresh and self._result_cache:
            _note_rows(self, self._result_cache)

    def iterator(self, chunk_size: int | None = None) -> Iterator[Any]:
        for row in super().iterator(chunk_size=chunk_size):
            _note_rows(self, (row,))
            yield row


def watched_episodes() -> WatchedEpisodeQuerySet:
    return WatchedEpisodeQuerySet(model=Episode)


# --- writing the event -----------------------------------------------------------------------------


def _action(trail: Trail, response: HttpResponseBase, url_name: str) -> AuditAction:
    method = trail.request.method or "GET"
    if method not in _SAFE:
        if url_name.startswith("admin:"):
            for suffix, action in _ADMIN_SUFFIX_ACTION.items():
                if url_name.endswith(suffix):
                    return action
        match = trail.request.resolver_match
        if method == "POST" and match is not None and set(match.kwargs) - {"episode_id"}:
            # A POST to one existing record (``alerts/{id}/acknowledge/``) changes it.
            return AuditAction.UPDATE
        return _WRITE_ACTION.get(method, AuditAction.UPDATE)
    disposition = str(response.get("Content-Disposition", ""))
    if (
        isinstance(response, StreamingHttpResponse)
        or disposition.startswith("attachment")
        or "export" in url_name
        or "fhir" in url_name
    ):
        return AuditAction.EXPORT
    data = getattr(response, "data", None)
    if (
        url_name.endswith(("-list", "_changelist"))
        or isinstance(data, list)
        or (isinstance(data, dict) and "results" in data)
        or len(trail.episodes) > 1
    ):
        return AuditAction.LIST
    return AuditAction.VIEW


def _token_id(auth: Any) -> uuid.UUID | None:
    from recovery.accounts.models import ApiToken

    return auth.pk if isinstance(auth, ApiToken) else None


def _write(trail: Trail, response: HttpResponseBase) -> None:
    """Insert the event and its records. The trail stops recording first: these queries are ours."""
    actor = trail.actor
    if actor is None or not (trail.episodes or trail.patients):
        return
    trail.actor = None
    from recovery.security.net import client_address

    request = trail.request
    match = request.resolver_match
    url_name = (match.view_name if match else "") or ""
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "at": timezone.now(),
        "actor_id": actor.pk,
        "actor_role": actor.role,
        "clinic_id": actor.clinic_id,
        "action": _action(trail, response, url_name).value,
        "method": (request.method or "GET")[:10],
        "resource": url_name[:120],
        "route": (match.route if match else "")[:300],
        "path": request.path[:500],
        "status_code": response.status_code,
        "address": client_address(request),
        "user_agent": str(request.headers.get("User-Agent", ""))[:_USER_AGENT_MAX],
    }
    audit_event_insert(
        event=row, token_id=_token_id(trail.auth), episodes=trail.episodes, patients=trail.patients
    )


def _recordable(status: int) -> bool:
    # Success, or a refusal on a record the actor can see (outsiders get 404 and are not recorded).
    return status < 400 or status == 403


def _streamed(trail: Trail, response: StreamingHttpResponse, content: Iterator[Any]) -> Iterator[Any]:
    """The stream, read with the trail active; the event is written when the stream ends."""
    try:
        while True:
            reset = _current.set(trail)
            try:
                chunk = next(content)
            except StopIteration:
                break
            finally:
                _current.reset(reset)
            yield chunk
    finally:
        _write(trail, response)


def finish(trail: Trail, response: HttpResponseBase) -> HttpResponseBase:
    status = response.status_code
    if trail.atomic is not None:
        atomic, trail.atomic = trail.atomic, None
        try:
            if status >= 500:
                transaction.set_rollback(True)
            elif status < 400 and not transaction.get_rollback():
                _write(trail, response)
        except BaseException as exc:
            # No audit row, no write: the request's transaction rolls back as a whole.
            atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        atomic.__exit__(None, None, None)
        if status == 403:
            _write(trail, response)
        return response
    if trail.actor is None or not _recordable(status):
        return response
    if isinstance(response, StreamingHttpResponse):
        response.streaming_content = _streamed(trail, response, iter(response.streaming_content))  # type: ignore[arg-type]
        return response
    _write(trail, response)
    return response


def abort(trail: Trail, exc: BaseException) -> None:
    if trail.atomic is not None:
        atomic, trail.atomic = trail.atomic, None
        atomic.__exit__(type(exc), exc, exc.__traceback__)


class AuditMiddleware:
    """Gives each request its trail; the Django admin (session users) starts recording here, the API
    in its default permission class (``api.audit.AuditTrail``), once DRF has authenticated."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        trail = Trail(request)
        reset = _current.set(trail)
        try:
            if request.path.startswith("/admin/"):
                begin(request, request.user)
            try:
                response = self.get_response(request)
            except BaseException as exc:
                abort(trail, exc)
                raise
            return finish(trail, response)
        finally:
            _current.reset(reset)
