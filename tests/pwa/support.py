"""Shared helpers for the PWA tests: where the build is, and the Chromium the browser tests drive."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

FRONTEND = Path(settings.BASE_DIR) / "frontend"
DIST = FRONTEND / "dist"
INDEX = DIST / "index.html"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(
    os.environ.get("MOBILIZE_ARTIFACTS_DIR", str(Path(settings.BASE_DIR) / "var" / "test-artifacts"))
)

needs_build = pytest.mark.skipif(
    not INDEX.is_file(), reason="frontend/dist is not built: run `make install` (npm ci && npm run build)"
)
