#!/usr/bin/env python3
"""Run the Mobilize demo: web server, one Celery worker and one Celery beat.

Usage: ``make demo`` (or ``MOBILIZE_ENV=demo .venv/bin/python bin/demo.py``).

Prepares the demo database (migrate, collectstatic, seed_demo), then starts the three processes,
each in its own process group, with their output prefixed by name. Ctrl-C or SIGTERM stops all of
them; if one dies unexpectedly the others are stopped and the exit status is non-zero.

Environment: ``PORT`` (default 8000); ``DATABASE_URL`` (default: SQLite under var/);
``REDIS_URL`` (default: Celery's filesystem transport under var/broker/).
Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("MOBILIZE_VAR_DIR") or ROOT / "var")  # as recovery.settings does
HOST = "127.0.0.1"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.2

DEMO_LOGINS = (
    ("surgeon", "surgeon@demo.mobilize.example"),
    ("physio", "physio@demo.mobilize.example"),
    ("patient", "patient@demo.mobilize.example"),
    ("admin", "admin@demo.mobilize.example"),
)
DEMO_PASSWORD = "mobilize-demo"

_COLOURS = {"web": "32", "worker": "36", "beat": "35", "demo": "1"}
_print_lock = threading.RLock()  # re-entrant: signal handlers print too


def _use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def say(name: str, text: str) -> None:
    """Print ``text`` with a ``name |`` prefix, one whole line at a time."""
    prefix = f"{name:<6} |"
    if _use_colour():
        prefix = f"\033[{_COLOURS.get(name, '0')}m{prefix}\033[0m"
    with _print_lock:
        for line in text.splitlines() or [""]:
            sys.stdout.write(f"{prefix} {line}\n")
        sys.stdout.flush()


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _pump(name: str, stream: IO[str]) -> None:
    for line in stream:
        say(name, line.rstrip("\n"))
    stream.close()


def _redact(url: str) -> str:
    """Drop the password from a URL before printing it."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def describe_backends(env: dict[str, str]) -> tuple[str, str]:
    database_url = env.get("DATABASE_URL", "")
    if not database_url:
        database = f"SQLite ({VAR / 'mobilize.sqlite3'})"
    elif database_url.startswith("sqlite"):
        database = f"SQLite ({_redact(database_url)})"
    elif database_url.startswith(("postgres", "pgsql")):
        database = f"PostgreSQL ({_redact(database_url)})"
    else:
        database = _redact(database_url)
    redis_url = env.get("REDIS_URL", "")
    broker = f"Redis ({_redact(redis_url)})" if redis_url else f"filesystem transport ({VAR / 'broker'})"
    return database, broker


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def http_answers(url: str) -> bool:
    """True once anything answers HTTP at ``url`` (any status code counts)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


class Supervisor:
    def __init__(self, children: list[Child], env: dict[str, str]) -> None:
        self.children = children
        self.env = env
        self.stop_requested = threading.Event()
        self.signals_received = 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signals_received += 1
        if self.signals_received == 1:
            say("demo", f"received {signal.Signals(signum).name}; stopping (again to force)")
            self.stop_requested.set()
        else:
            say("demo", "forcing shutdown")
            self.kill_all(signal.SIGKILL)

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def start(self) -> None:
        for child in self.children:
            proc = subprocess.Popen(
                child.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                errors="replace",
                start_new_session=True,  # own session => own process group, untouched by terminal Ctrl-C
            )
            child.proc = proc
            assert proc.stdout is not None
            child.reader = threading.Thread(
                target=_pump, args=(child.name, proc.stdout), name=f"pump-{child.name}", daemon=True
            )
            child.reader.start()
            say("demo", f"started {child.name} (pid {proc.pid})")

    def dead_child(self) -> Child | None:
        for child in self.children:
            if not child.running():
                return child
        return None

    def terminate_all(self) -> None:
        """Ask every running child to stop: SIGTERM to the child itself, which shuts down its own
        helpers (a Celery worker finishes its current tasks and stops its pool)."""
        for child in self.children:
            if child.running():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)

    def kill_all(self, sig: signal.Signals) -> None:
        """Send ``sig`` to every child's process group (children that already exited included,
        so that anything they left behind goes too)."""
        for child in self.children:
            if child.proc is None:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, sig)

    def stop(self) -> None:
        if any(child.running() for child in self.children):
            say("demo", "stopping " + ", ".join(c.name for c in self.children if c.running()))
        self.terminate_all()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say("demo", f"{child.name} did not stop within {STOP_TIMEOUT_S:.0f}s; killing it")
        self.kill_all(signal.SIGKILL)
        for child in self.children:
            if child.proc is not None:
                child.proc.wait()
            if child.reader is not None:
                child.reader.join(timeout=2)

    def wait_until_ready(self, url: str) -> Child | None:
        """Poll ``url`` until it answers. Returns a child that died meanwhile, if any."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.stop_requested.is_set():
            dead = self.dead_child()
            if dead is not None:
                return dead
            if http_answers(url):
                return None
            if time.monotonic() > deadline:
                raise TimeoutError(f"the web server did not answer at {url} within {READY_TIMEOUT_S:.0f}s")
            self.stop_requested.wait(POLL_S)
        return None

    def watch(self) -> Child | None:
        """Block until a stop is requested (returns None) or a child exits (returns it)."""
        while not self.stop_requested.is_set():
            dead = self.dead_child()
            if dead is not None:
                return dead
            self.stop_requested.wait(POLL_S)
        return None


def run_step(title: str, argv: list[str], env: dict[str, str]) -> None:
    say("demo", title)
    result = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise SystemExit(f"demo: '{' '.join(argv[1:])}' failed with exit status {result.returncode}")


def banner(base_url: str, database: str, broker: str) -> str:
    width = 72
    rule = "=" * width
    lines = [
        rule,
        "  Mobilize demo is running",
        "",
        f"  App        {base_url}/",
        f"  API docs   {base_url}/api/docs/",
        f"  Admin      {base_url}/admin/",
        "",
        f"  Database   {database}",
        f"  Broker     {broker}",
        "",
        f"  Demo logins (password: {DEMO_PASSWORD})",
        *(f"    {role:<8} {email}" for role, email in DEMO_LOGINS),
        "",
        "  Press Ctrl-C to stop.",
        rule,
    ]
    return "\n".join(lines)


def main() -> int:
    env = dict(os.environ)
    env["MOBILIZE_ENV"] = "demo"
    env["PYTHONUNBUFFERED"] = "1"
    port_text = env.get("PORT", "8000")
    try:
        port = int(port_text)
    except ValueError:
        print(f"demo: PORT must be a number, got {port_text!r}", file=sys.stderr)
        return 2
    base_url = f"http://{HOST}:{port}"
    env.setdefault("MOBILIZE_BASE_URL", base_url)

    if port_in_use(port):
        print(
            f"demo: port {port} on {HOST} is already in use; stop that process or set PORT", file=sys.stderr
        )
        return 1

    for directory in (VAR, VAR / "broker" / "in", VAR / "broker" / "out", VAR / "broker" / "processed"):
        directory.mkdir(parents=True, exist_ok=True)

    database, broker = describe_backends(env)
    say("demo", f"database: {database}")
    say("demo", f"broker:   {broker}")

    venv_python = ROOT / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    manage = str(ROOT / "manage.py")
    try:
        run_step("applying migrations", [python, manage, "migrate", "--noinput"], env)
        run_step("collecting static files", [python, manage, "collectstatic", "--noinput", "-v", "0"], env)
        run_step("seeding demo data", [python, manage, "seed_demo"], env)
    except KeyboardInterrupt:
        return 130

    children = [
        Child("web", [python, manage, "runserver", f"{HOST}:{port}", "--noreload"]),
        Child(
            "worker",
            [python, "-m", "celery", "-A", "recovery", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        ),
        Child(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "recovery",
                "beat",
                "--schedule",
                str(VAR / "celerybeat-schedule"),
                "--loglevel",
                "INFO",
            ],
        ),
    ]
    supervisor = Supervisor(children, env)
    supervisor.install_signal_handlers()
    dead: Child | None = None
    status = 0
    try:
        supervisor.start()
        dead = supervisor.wait_until_ready(f"{base_url}/api/v1/health/")
        if dead is None and not supervisor.stop_requested.is_set():
            say("demo", banner(base_url, database, broker))
            dead = supervisor.watch()
    except TimeoutError as exc:
        say("demo", f"error: {exc}")
        status = 1
    finally:
        if dead is not None:
            code = dead.proc.returncode if dead.proc is not None else None
            say("demo", f"{dead.name} exited unexpectedly (status {code}); stopping the others")
            status = 1
        supervisor.stop()
    if status == 0:
        say("demo", "stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
