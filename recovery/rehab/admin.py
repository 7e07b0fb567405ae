"""Admin for the exercise library, assignments and default restrictions, scoped like the API.

- Exercises: staff see the shipped library and their clinic's own; shipped rows are read-only; a
  clinic's own are changed by those the policy lets manage the library. Forms run the same checks
  as the service (``exercise_problems``).
- Assignments: read-only, only on episodes the staff member may see rehab of; prescribing goes
  through the API, where the restriction guard runs.
- Default restrictions: shipped rows are read-only; a clinic's own are changed by those the policy
  lets manage clinic defaults.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from recovery.accounts.admin import StaffAdmin, actor_of
from recovery.episodes.access import Action, ClinicAction, can_in_clinic, episodes_for
from recovery.rehab.exercises import exercise_problems
from recovery.rehab.models import Assignment, AssignmentRevision, Exercise, RestrictionDefault
from recovery.rehab.rules import MAX_SOURCE, RESTRICTION_DAYS
from recovery.rehab.vocabulary import MOVEMENT_TAGS


def _own_or_shipped(request: HttpRequest, qs: QuerySet[Any]) -> QuerySet[Any]:
    actor = actor_of(request)
    if actor.is_superuser:
        return qs
    return qs.filter(Q(clinic__isnull=True) | Q(clinic_id=actor.clinic_id))


def _may_change(request: HttpRequest, obj: Any, action: ClinicAction) -> bool:
    actor = actor_of(request)
    if actor.is_superuser:
        return True
    if not can_in_clinic(actor, action):
        return False
    return obj is None or (obj.clinic_id is not None and obj.clinic_id == actor.clinic_id)


class _OwnedForm:
    """A form for a row owned by a clinic (or shipped). The admin sets ``owner_clinic_id``: the
    ``clinic`` field is read-only for clinic staff, so Django's own constraint check skips it."""

    owner_clinic_id: Any = None

    def _owner(self, cleaned: dict[str, Any]) -> Any:
        if "clinic" in cleaned:
            clinic = cleaned["clinic"]
            return clinic.pk if clinic is not None else None
        return self.owner_clinic_id


def _form_for_owner(request: HttpRequest, obj: Any, form: Any) -> Any:
    actor = actor_of(request)
    owner = obj.clinic_id if obj is not None else (None if actor.is_superuser else actor.clinic_id)
    return type(form.__name__, (form,), {"owner_clinic_id": owner})


class ExerciseForm(_OwnedForm, forms.ModelForm[Exercise]):
    media_url = forms.URLField(required=False, max_length=200, assume_scheme="https")

    class Meta:
        model = Exercise
        fields = [
            "clinic",
            "slug",
            "name",
            "instructions",
            "region",
            "phase",
            "default_sets",
            "default_reps",
            "default_hold_seconds",
            "default_sessions_per_day",
            "movement_tags",
            "media_url",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned
        same_slug = Exercise.objects.filter(slug=cleaned.get("slug"), clinic_id=self._owner(cleaned))
        if same_slug.exclude(pk=self.instance.pk).exists():
            self.add_error("slug", "This library already has an exercise with this slug.")
        values = {name: cleaned.get(name) for name in ("name", "slug", "instructions", "region", "phase")}
        values.update(
            {
                name: cleaned.get(name)
                for name in (
                    "default_sets",
                    "default_reps",
                    "default_hold_seconds",
                    "default_sessions_per_day",
                    "movement_tags",
                )
            }
        )
        for field, messages in exercise_problems(values).items():
            self.add_error(field if field in self.fields else None, messages)
        return cleaned


@admin.register(Exercise)
class ExerciseAdmin(StaffAdmin):
    form = ExerciseForm
    list_display = ["name", "region", "phase", "clinic", "is_active"]
    list_filter = ["region", "phase", "is_active"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        return _form_for_owner(request, obj, super().get_form(request, obj, change, **kwargs))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Exercise]:
        return _own_or_shipped(request, super().get_queryset(request).select_related("clinic"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not actor_of(request).is_superuser:
            fields.append("clinic")
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _may_change(request, None, ClinicAction.MANAGE_EXERCISE_LIBRARY)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_change(request, obj, ClinicAction.MANAGE_EXERCISE_LIBRARY)

    def save_model(self, request: HttpRequest, obj: Exercise, form: Any, change: bool) -> None:
        actor = actor_of(request)
        if not actor.is_superuser:
            obj.clinic_id = actor.clinic_id
        if not change:
            obj.created_by = actor
        super().save_model(request, obj, form, change)


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AssignmentRevisionInline(_ReadOnly, admin.TabularInline[AssignmentRevision, Assignment]):
    model = AssignmentRevision
    extra = 0
    readonly_fields = ["action", "previous", "changed_by", "changed_at"]


@admin.register(Assignment)
class AssignmentAdmin(_ReadOnly, StaffAdmin):
    list_display = ["exercise", "episode", "sets", "reps", "hold_seconds", "start_day", "end_day", "ended_on"]
    list_filter = ["ended_on"]
    inlines = [AssignmentRevisionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Assignment]:
        actor = actor_of(request)
        qs = Assignment.objects.all()
        if not actor.is_superuser:
            qs = qs.filter(episode__in=episodes_for(actor, Action.VIEW_REHAB))
        return qs.select_related("exercise", "episode", "episode__patient")


class RestrictionDefaultForm(_OwnedForm, forms.ModelForm[RestrictionDefault]):
    class Meta:
        model = RestrictionDefault
        fields = [
            "clinic",
            "procedure",
            "lifting_limit_kg",
            "lifting_limit_until_day",
            "forbidden_movements",
            "source",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        procedure = cleaned.get("procedure")
        if procedure is not None:
            same = RestrictionDefault.objects.filter(procedure=procedure, clinic_id=self._owner(cleaned))
            if same.exclude(pk=self.instance.pk).exists():
                self.add_error(
                    "procedure", "These defaults already exist for this procedure; change them instead."
                )
        return cleaned

    def clean_forbidden_movements(self) -> Any:
        value = self.cleaned_data.get("forbidden_movements")
        low, high = RESTRICTION_DAYS
        valid = isinstance(value, list) and all(
            isinstance(item, dict)
            and set(item) == {"tag", "until_day"}
            and item["tag"] in MOVEMENT_TAGS
            and isinstance(item["until_day"], int)
            and low <= item["until_day"] <= high
            for item in value
        )
        if not valid:
            raise forms.ValidationError(
                f'Give a list like [{{"tag": "lumbar_flexion", "until_day": 42}}]; tags: {", ".join(MOVEMENT_TAGS)}; '
                f"days {low}-{high}."
            )
        assert isinstance(value, list)
        tags = [item["tag"] for item in value]
        if len(tags) != len(set(tags)):
            raise forms.ValidationError("Each tag may appear once.")
        return value

    def clean_source(self) -> str:
        source = str(self.cleaned_data.get("source") or "").strip()
        if not source or len(source) > MAX_SOURCE:
            raise forms.ValidationError(
                "Say where these numbers come from, or label them 'clinic default, not evidence'."
            )
        return source


@admin.register(RestrictionDefault)
class RestrictionDefaultAdmin(StaffAdmin):
    form = RestrictionDefaultForm
    list_display = ["procedure", "clinic", "lifting_limit_kg", "lifting_limit_until_day", "updated_at"]
    readonly_fields = ["updated_by", "updated_at"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        return _form_for_owner(request, obj, super().get_form(request, obj, change, **kwargs))

    def get_queryset(self, request: HttpRequest) -> QuerySet[RestrictionDefault]:
        return _own_or_shipped(request, super().get_queryset(request).select_related("procedure", "clinic"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not actor_of(request).is_superuser:
            fields.append("clinic")
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _may_change(request, None, ClinicAction.MANAGE_CLINIC_DEFAULTS)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_change(request, obj, ClinicAction.MANAGE_CLINIC_DEFAULTS)

    def save_model(self, request: HttpRequest, obj: RestrictionDefault, form: Any, change: bool) -> None:
        actor = actor_of(request)
        if not actor.is_superuser:
            obj.clinic_id = actor.clinic_id
        obj.updated_by = actor
        super().save_model(request, obj, form, change)
