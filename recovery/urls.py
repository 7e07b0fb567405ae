from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
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
