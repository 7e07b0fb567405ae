"""A throwaway PostgreSQL cluster (``initdb`` + ``pg_ctl``, trust auth, loopback, a free port, a temp
dir) that a test stops, starts and restarts, and a real web server (gunicorn) in front of it.

``initdb`` refuses to run as root; as root the cluster runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.utils import timezone

from tests.faults.servers import free_port

ROOT = Path(__file__).resolve().parents[2]

#: Runs gunicorn travelled to the instant given as its first argument (ticking).
_AT_CLOCK = (
    "import sys, time_machine\n"
    "from gunicorn.app.wsgiapp import run\n"
    "with time_machine.travel(sys.argv.pop(1), tick=True):\n"
    "    sys.exit(run())\n"
)


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


class ThrowawayPostgres:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mobilize-faults-pg-"))
        self.data = self.dir / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, user="postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def url(self, name: str = "mobilize") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """What an operator's restart does: every session is terminated, then the server comes back."""
        self.stop()
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def clone_from(self, source_url: str, name: str = "mobilize") -> None:
        """Create database ``name`` here as a copy (schema and rows) of ``source_url``'s database."""
        psql = str(self.bindir / "psql")
        subprocess.run(
            [psql, self.url("postgres"), "-qc", f'CREATE DATABASE "{name}"'], check=True, timeout=30
        )
        dump = subprocess.run(
            [str(self.bindir / "pg_dump"), "--no-owner", "--no-privileges", source_url],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            [psql, "-q", "-v", "ON_ERROR_STOP=1", self.url(name)],
            input=dump.stdout,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def count(self, sql: str, name: str = "mobilize") -> int:
        out = subprocess.run(
            [str(self.bindir / "psql"), "-tAc", sql, self.url(name)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return int(out.stdout.decode().strip())


class WebServer:
    """gunicorn serving the app (one worker, four threads), as in production."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="mobilize-faults-web-", suffix=".log", delete=False)  # noqa: SIM115
        # Under MOBILIZE_TEST_NOW the test runs at a chosen instant; the server must share its clock
        # (the forked worker inherits the master's travelled clock).
        instant = os.environ.get("MOBILIZE_TEST_NOW")
        clock = ["-c", _AT_CLOCK, timezone.now().isoformat()] if instant else ["-m", "gunicorn"]
        self.process = subprocess.Popen(
            [
                sys.executable,
                *clock,
                "recovery.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"gunicorn did not start: {self.output()}")

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
