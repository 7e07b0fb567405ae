"""Response headers Django does not set itself: Content-Security-Policy and CORS.

Django's ``SecurityMiddleware`` already sends ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``,
``Cross-Origin-Opener-Policy`` and (in production) HSTS; ``XFrameOptionsMiddleware`` sends
``X-Frame-Options: DENY``. This module adds the rest without a new dependency.

CSP: the PWA and the API are same-origin, so everything is ``'self'``; no inline script anywhere (the
Swagger UI loads its start-up script from a URL: ``SpectacularSwaggerSplitView``). The few server-
rendered pages (home, API docs, admin, the set-password form) carry inline ``<style>`` blocks or style
attributes, so for them only ``style-src`` also allows ``'unsafe-inline'``; scripts stay ``'self'``.

CORS is closed unless ``CORS_ALLOWED_ORIGINS`` lists origins: only those get
``Access-Control-Allow-Origin``, never with credentials (cookies stay same-origin; another origin
uses a bearer token).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

CSP_STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
CSP_SERVER_PAGES = CSP_STRICT.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
_SERVER_PAGE_PREFIXES = ("/admin/", "/api/docs/", "/accounts/")

CORS_ALLOWED_HEADERS = "authorization, content-type, x-csrftoken"
CORS_ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_EXPOSED_HEADERS = "retry-after"
CORS_MAX_AGE = "600"


def content_security_policy(path: str) -> str:
    if path == "/" or path.startswith(_SERVER_PAGE_PREFIXES):
        return CSP_SERVER_PAGES
    return CSP_STRICT


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", content_security_policy(request.path))
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        return response


class CorsMiddleware:
    """Answers preflights and marks responses for the configured origins; does nothing otherwise."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("Origin")
        allowed: list[str] = settings.CORS_ALLOWED_ORIGINS
        if not origin or origin not in allowed or not request.path.startswith("/api/"):
            response = self.get_response(request)
            if allowed:
                # Caches must not hand one origin's answer to another.
                response.headers["Vary"] = _vary_with_origin(response)
            return response
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = HttpResponse(status=204)
            response.headers["Access-Control-Allow-Methods"] = CORS_ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
        else:
            response = self.get_response(request)
            response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = _vary_with_origin(response)
        return response


def _vary_with_origin(response: HttpResponse) -> str:
    existing = [part.strip() for part in response.headers.get("Vary", "").split(",") if part.strip()]
    if not any(part.lower() == "origin" for part in existing):
        existing.append("Origin")
    return ", ".join(existing)
