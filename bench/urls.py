"""Routes of the benchmark baseline, included under ``/bench/`` only when ``MOBILIZE_BENCH`` is on."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import path

from bench import bare

if settings.IS_PRODUCTION:
    # bare.checkin_create writes without authenticating: it must never be reachable in production.
    raise ImproperlyConfigured("MOBILIZE_BENCH must not be enabled with MOBILIZE_ENV=production.")

urlpatterns = [
    path("checkins/<uuid:episode_id>/", bare.checkin_create, name="bench-checkin-create"),
]
