"""Admin for questionnaires, scoped like the API.

- Instruments are shipped data (changed by a data migration): read-only for everyone.
- A clinic's licensed wording is loaded with ``manage.py load_instrument_text`` (which checks its
  structure); the admin shows the clinic's own rows, read-only.
- Schedules: the shipped default rows are read-only; surgeons and clinic admins
  (``MANAGE_CLINIC_DEFAULTS``) add and change their clinic's own timepoints. Rows are deactivated,
  not deleted.
- Responses are read-only and listed through the access policy (``VIEW_QUESTIONNAIRES``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.episodes.access import Action, ClinicAction, can_in_clinic, episodes_for
from recovery.proms.models import Instrument, InstrumentText, QuestionnaireResponse, ScheduleTimepoint


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Instrument)
class InstrumentAdmin(_ReadOnly, StaffAdmin):
    list_display = ["code", "name", "version", "region", "is_active", "updated_at"]
    readonly_fields = [
        "code",
        "name",
        "version",
        "region",
        "is_active",
        "license_note",
        "title",
        "scoring",
        "thresholds",
        "loinc",
        "items",
        "updated_at",
    ]


@admin.register(InstrumentText)
class InstrumentTextAdmin(_ReadOnly, StaffAdmin):
    list_display = ["instrument", "language", "clinic", "updated_at"]
    readonly_fields = ["clinic", "instrument", "language", "license_note", "items", "loaded_by", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[InstrumentText]:
        actor = actor_of(request)
        qs = InstrumentText.objects.select_related("clinic", "instrument")
        return qs if actor.is_superuser else qs.filter(clinic_id=actor.tenant_id)


@admin.register(ScheduleTimepoint)
class ScheduleTimepointAdmin(StaffAdmin):
    list_display = [
        "label",
        "key",
        "clinic",
        "opens_day",
        "target_day",
        "closes_day",
        "is_baseline",
        "is_active",
    ]
    list_filter = ["is_active"]
    fields = [
        "key",
        "label",
        "is_baseline",
        "opens_day",
        "target_day",
        "closes_day",
        "timepoint_source",
        "window_source",
        "is_active",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScheduleTimepoint]:
        actor = actor_of(request)
        qs = ScheduleTimepoint.objects.select_related("clinic")
        if actor.is_superuser:
            return qs
        return qs.filter(Q(clinic__isnull=True) | Q(clinic_id=actor.tenant_id))

    def _may_manage(self, request: HttpRequest, obj: ScheduleTimepoint | None) -> bool:
        actor = actor_of(request)
        if not can_in_clinic(actor, ClinicAction.MANAGE_CLINIC_DEFAULTS):
            return False
        # The shipped default belongs to Mobilize: a clinic changes its own copy, never the default.
        return obj is None or (obj.clinic_id is not None and obj.clinic_id == actor.clinic_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_manage(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)
        clinic_id = actor_of(request).clinic_id

        # The model's clean() checks the row against its clinic's schedule, so the clinic must be
        # known before validation, not only in save_model.
        class ClinicScopedForm(form_class):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **form_kwargs: Any) -> None:
                super().__init__(*args, **form_kwargs)
                if self.instance._state.adding:
                    self.instance.clinic_id = clinic_id

        return ClinicScopedForm

    def save_model(self, request: HttpRequest, obj: ScheduleTimepoint, form: Any, change: bool) -> None:
        actor = actor_of(request)
        if not change:
            obj.clinic_id = actor.clinic_id
        obj.updated_by = actor
        super().save_model(request, obj, form, change)


@admin.register(QuestionnaireResponse)
class QuestionnaireResponseAdmin(_ReadOnly, StaffAdmin):
    list_display = ["episode", "instrument", "timepoint", "percent", "missing", "submitted_at"]
    list_filter = ["instrument", "timepoint"]
    readonly_fields = [
        "id",
        "episode",
        "instrument",
        "instrument_version",
        "timepoint",
        "timepoint_label",
        "is_baseline",
        "answers",
        "raw_score",
        "answered",
        "missing",
        "percent",
        "submitted_at",
        "local_date",
        "created_by",
        "created_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[QuestionnaireResponse]:
        actor = actor_of(request)
        qs = QuestionnaireResponse.objects.all()
        if not actor.is_superuser:
            qs = qs.filter(episode__in=episodes_for(actor, Action.VIEW_QUESTIONNAIRES))
        return qs.select_related("episode", "episode__patient", "instrument")
