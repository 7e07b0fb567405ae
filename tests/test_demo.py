"""`make demo` end to end: bin/demo.py on SQLite and the file-system broker, then Ctrl-C.

Starts the real web server, Celery worker and beat with no PostgreSQL or Redis settings, signs in
with a demo login, enrols a patient so that the worker sends the invitation email through the file
broker, and checks that SIGINT stops every process the demo started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def call(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def processes_with(marker: str) -> list[int]:
    """Pids whose environment carries ``marker`` (the demo's private var dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find child processes")
def test_make_demo_runs_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    port = free_port()
    var_dir = tmp_path / f"demo-var-{port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER", "EMAIL_BACKEND"}
    }
    env.update({"MOBILIZE_ENV": "demo", "MOBILIZE_VAR_DIR": str(var_dir), "PORT": str(port), "NO_COLOR": "1"})
    demo = subprocess.Popen(
        [sys.executable, "bin/demo.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    banner = threading.Event()

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            output.append(line)
            if "Press Ctrl-C to stop" in line:
                banner.set()

    threading.Thread(target=read, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert banner.wait(180), "".join(output)
        text = "".join(output)
        assert base in text
        assert "SQLite" in text
        for login in (
            "surgeon@demo.mobilize.example",
            "physio@demo.mobilize.example",
            "patient@demo.mobilize.example",
        ):
            assert login in text
        assert call("GET", f"{base}/api/v1/health/")[0] == 200

        status, token = call(
            "POST",
            f"{base}/api/v1/auth/token/",
            {"email": "surgeon@demo.mobilize.example", "password": "mobilize-demo"},
        )
        assert status == 201, token
        status, episodes = call("GET", f"{base}/api/v1/episodes/", token=token["token"])
        assert status == 200
        assert episodes["count"] > 0
        enrol = {
            "patient": {
                "email": f"demo-walker-{port}@example.org",
                "name": "Demo Walker",
                "date_of_birth": "1959-09-09",
                "time_zone": "Europe/Madrid",
            },
            "procedure": "lumbar_microdiscectomy",
            "levels": ["L4-L5"],
            "surgery_date": (date.today() + timedelta(days=5)).isoformat(),
        }
        assert call("POST", f"{base}/api/v1/episodes/", enrol, token=token["token"])[0] == 201
        # The worker picks the invitation up from the file-system broker and prints the email.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and f"demo-walker-{port}@example.org" not in "".join(output[-400:]):
            time.sleep(0.5)
        assert "invites you to Mobilize" in "".join(output)
        # Beat's first dispatch on SQLite: the seeded reminders go out and the worker records them.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "Reminders recorded:" not in "".join(output):
            time.sleep(0.5)
        text = "".join(output)
        assert "Reminders recorded:" in text and " sent" in text.split("Reminders recorded:", 1)[1], text[
            -3000:
        ]
        assert "raised unexpected" not in text, text[-3000:]
        assert len(processes_with(str(var_dir))) >= 3
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            raise
    assert code == 0, "".join(output[-50:])
    time.sleep(0.5)
    assert processes_with(str(var_dir)) == []
