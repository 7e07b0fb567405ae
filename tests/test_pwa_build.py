"""The built PWA and how Django serves it: the size budget, the CSP-safe shell, caching, scope."""

from __future__ import annotations

import ast
import gzip
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client

from recovery.checkins.vocabulary import RED_FLAGS
from tests.pwa.support import DIST, FRONTEND, INDEX, needs_build

pytestmark = needs_build

# The budget for the patient's first load: at most 100 KB of gzipped JavaScript.
FIRST_LOAD_BUDGET_BYTES = 100 * 1024


class _ShellParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.inline_scripts = 0
        self.styles = 0
        self.style_attributes = 0
        self.preloads: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes:
            self.style_attributes += 1
        if tag == "script":
            src = attributes.get("src")
            if src:
                self.scripts.append(src)
            else:
                self.inline_scripts += 1
        elif tag == "style":
            self.styles += 1
        elif tag == "link" and attributes.get("rel") == "modulepreload" and attributes.get("href"):
            self.preloads.append(str(attributes["href"]))


def _shell() -> _ShellParser:
    parser = _ShellParser()
    parser.feed(INDEX.read_text())
    return parser


def _static_imports(path: Path, seen: set[Path]) -> None:
    """Follow the static `import ... from "./x.js"` of an entry chunk (not the lazy `import()`)."""
    if path in seen:
        return
    seen.add(path)
    code = path.read_text()
    for name in re.findall(
        r"""(?:^|[;\n}])\s*import\s*(?:[\w$*{}\s,]+from\s*)?["']\./([\w.-]+\.js)["']""", code
    ):
        _static_imports(path.parent / name, seen)


def test_patient_first_load_javascript_is_within_100_kb_gzipped(capsys: pytest.CaptureFixture[str]) -> None:
    shell = _shell()
    files: set[Path] = set()
    for src in [*shell.scripts, *shell.preloads]:
        _static_imports(DIST / src.lstrip("/"), files)
    assert files, "index.html references no JavaScript"
    total = sum(len(gzip.compress(path.read_bytes(), compresslevel=9)) for path in files)
    with capsys.disabled():
        sys.stdout.write(f"\nPWA first-load JavaScript: {total} bytes gzipped ({total / 1024:.1f} KB)\n")
    assert total <= FIRST_LOAD_BUDGET_BYTES
    # The chart library is only for the progress and patient-detail screens.
    assert not any("uPlot" in path.read_text() or "uplot" in path.name for path in files)


def test_shell_has_no_inline_script_or_style_for_the_csp() -> None:
    shell = _shell()
    assert shell.scripts
    assert (shell.inline_scripts, shell.styles, shell.style_attributes) == (0, 0, 0)


def test_service_worker_precaches_the_shell_and_its_entry() -> None:
    code = (DIST / "sw.js").read_text()
    match = re.search(r'\{"version":"[0-9a-f]+","files":\[[^\]]*\]\}', code)
    assert match, "the build did not write the precache list into sw.js"
    precache = json.loads(match.group(0))
    assert "/index.html" in precache["files"]
    assert "/manifest.webmanifest" in precache["files"]
    assert set(_shell().scripts) <= set(precache["files"])


def test_manifest_is_installable() -> None:
    manifest = json.loads((DIST / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith("/app/")
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert (DIST / icon["src"].lstrip("/")).is_file()


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/app/",
        "/app/today/",
        "/app/questionnaires/6_weeks/odi/",
        "/app/clinic/episodes/8d0c6a53-0c3c-4a55-9b55-7f3c2a1e0b11/",
        "/reminders/",
        "/clinician/",
        "/episodes/8d0c6a53-0c3c-4a55-9b55-7f3c2a1e0b11/check-ins/new/",
    ],
)
def test_client_routes_serve_the_app_shell_uncached(db: None, url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 200
    assert response.content == INDEX.read_bytes()
    assert "no-cache" in response["Cache-Control"]


def test_service_worker_and_manifest_are_served_at_the_root_scope(db: None) -> None:
    client = Client()
    worker = client.get("/sw.js")
    assert worker.status_code == 200
    assert "javascript" in worker["Content-Type"]
    manifest = client.get("/manifest.webmanifest")
    assert manifest.status_code == 200
    assert json.loads(b"".join(manifest.streaming_content))["name"] == "Mobilize"  # type: ignore[attr-defined]


def test_hashed_assets_are_cached_for_a_year_and_immutable(db: None) -> None:
    entry = _shell().scripts[0]
    response = Client().get(entry)
    assert response.status_code == 200
    assert "immutable" in response["Cache-Control"]
    assert "max-age=315360000" in response["Cache-Control"] or "max-age=31536000" in response["Cache-Control"]
    assert "immutable" not in Client().get("/sw.js").get("Cache-Control", "")


def test_server_routes_still_win_over_the_shell(db: None) -> None:
    client = Client()
    assert client.get("/api/v1/health/").json() == {"status": "ok"}
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/app/").content != client.get("/admin/login/").content
    assert client.get("/api/v1/no-such-thing/").status_code == 404
    assert client.get("/accounts/set-password/abc/def/").status_code == 200


def test_red_flag_vocabulary_in_the_app_matches_the_server() -> None:
    source = (FRONTEND / "src" / "redflags.ts").read_text()
    pairs = re.findall(r'\{ code: "(\w+)", urgency: "(\w+)" \}', source)
    assert pairs == [(flag.code, flag.urgency) for flag in RED_FLAGS]
    catalogue = (FRONTEND / "src" / "i18n.ts").read_text()
    for flag in RED_FLAGS:
        english = re.search(rf'"flag\.{flag.code}": ("[^"]+")', catalogue)
        assert english, flag.code
        assert ast.literal_eval(english.group(1)) == flag.label
        assert catalogue.count(f'"flag.{flag.code}":') == 2  # English and Spanish


@pytest.mark.skipif(
    shutil.which("npm") is None or not (FRONTEND / "node_modules" / ".bin" / "vitest").exists(),
    reason="the front end's node_modules are not installed (make install)",
)
def test_front_end_unit_tests_pass() -> None:
    """The Vitest suite (frontend/tests/): the outbox against 409, 400, 401/5xx and a server restart."""
    result = subprocess.run(
        ["npm", "test", "--silent"], cwd=FRONTEND, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
