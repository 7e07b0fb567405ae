from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import include, path, re_path
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView


@require_safe
def app_shell(request: HttpRequest) -> HttpResponse:
    """The PWA's index.html for ``/`` and every client-side route (``/app/...``, and the paths push
    payloads carry); its hashed JS and CSS come from WhiteNoise. ``no-cache`` so a new build is seen at
    once. Without a build (``make install`` not run) the plain home page links to the API docs."""
    try:
        html = (settings.FRONTEND_DIST / "index.html").read_bytes()
    except FileNotFoundError:
        return TemplateResponse(request, "home.html")
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    patch_cache_control(response, no_cache=True)
    return response


urlpatterns = [
    path("", app_shell, name="home"),
    re_path(r"^app(?:/.*)?$", app_shell, name="app"),
    # Where reminder notifications point (recovery/reminders/services.py); the app maps them to screens.
    re_path(
        r"^(?:clinician|reminders|episodes/[0-9a-f-]{36}/(?:check-ins/new|plan/today|questionnaires))/$",
        app_shell,
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    # The invitation link: Django's own set-password form (the PWA offers the same via the API).
    path(
        "accounts/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(success_url="/accounts/set-password/done/"),
        name="password_reset_confirm",
    ),
    path(
        "accounts/set-password/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]

handler400 = "api.errors.json_bad_request"
handler404 = "api.errors.json_not_found"
handler500 = "api.errors.json_server_error"

if settings.BENCH_ENABLED:
    # The framework-free baseline of `make bench` (an unauthenticated write): never routed otherwise.
    urlpatterns += [path("bench/", include("bench.urls"))]
