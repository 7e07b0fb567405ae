"""The Lighthouse benchmark's plumbing (``python -m bench lighthouse``): options, the runner's command
line, reading its output, what is printed for a low score, and a broken run's exit status. Cheap: no
server, no database, no Chromium; the scores themselves are only measured by ``make bench``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import lighthouse
from bench.common import BenchError


def test_defaults_aim_at_90_with_the_system_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.delenv("BENCH_LIGHTHOUSE_AIM", raising=False)
    options = lighthouse.parse_args([])
    assert (options.aim, options.chromium) == (90, "/usr/bin/chromium")


def test_aim_outside_0_to_100_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        lighthouse.parse_args(["--lighthouse-aim", "101"])
    assert exited.value.code == 2
    assert "--lighthouse-aim" in capsys.readouterr().err


def test_registered_as_a_command_and_in_the_default_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert "lighthouse" in bench_main.COMMANDS
    # Both parse the Lighthouse options (a bad one is refused before any benchmark starts).
    for argv in (["lighthouse", "--lighthouse-aim", "-1"], ["--lighthouse-aim", "-1"]):
        with pytest.raises(SystemExit):
            bench_main.main(argv)
        assert "--lighthouse-aim must be between 0 and 100" in capsys.readouterr().err


def test_signed_in_page_signs_in_first_and_asks_for_json() -> None:
    signed_out, signed_in = lighthouse.PAGES
    base = "http://127.0.0.1:5555"
    command = lighthouse.lighthouse_command(base, signed_in)
    assert command[:3] == ["node", str(lighthouse.RUNNER), f"{base}/app/today/"]
    assert command[3:] == [
        "--email",
        lighthouse.PATIENT_EMAIL,
        "--password",
        lighthouse.PATIENT_PASSWORD,
        "--json",
    ]
    assert lighthouse.lighthouse_command(base, signed_out) == [
        "node",
        str(lighthouse.RUNNER),
        f"{base}/app/",
        "--json",
    ]


def test_runner_gets_the_chosen_chromium() -> None:
    assert lighthouse.runner_environment("/opt/chromium")["CHROMIUM"] == "/opt/chromium"


def test_printed_chromium_flags_are_the_ones_the_runner_uses() -> None:
    runner = lighthouse.RUNNER.read_text()
    for flag in lighthouse.CHROMIUM_FLAGS:
        assert f'"{flag}"' in runner, flag


def test_scores_are_read_from_the_last_json_line() -> None:
    data = {
        "url": "http://127.0.0.1:5555/app/",
        "signed_in": False,
        "scores": {"performance": 73, "accessibility": 96},
        "metrics": {"first-contentful-paint": "2.1 s"},
        "accessibility_failing": [],
    }
    stdout = (
        "lighthouse http://127.0.0.1:5555/app/ (mobile): performance 73, accessibility 96\n"
        + json.dumps(data)
    )
    assert lighthouse.parse_runner_output(stdout)["scores"] == {"performance": 73, "accessibility": 96}


@pytest.mark.parametrize(
    "stdout",
    [
        "",
        "lighthouse ...: performance 99, accessibility 100",
        '{"scores": {"performance": null}}',
        "{not json",
    ],
)
def test_output_without_scores_is_a_broken_run(stdout: str) -> None:
    with pytest.raises(BenchError):
        lighthouse.parse_runner_output(stdout)


def test_a_low_score_is_printed_as_below_the_aim() -> None:
    signed_out, signed_in = lighthouse.PAGES
    results = [
        lighthouse.Result(signed_out, 100, 100, {}, []),
        lighthouse.Result(signed_in, 72, 95, {"largest-contentful-paint": "4.0 s"}, ["color-contrast"]),
    ]
    lines = lighthouse.result_lines(results, 90)
    assert lines[0] == "sign-in screen (/app/): performance 100 (met), accessibility 100 (met)"
    assert "performance 72 (below the aim), accessibility 95 (met)" in lines[2]
    assert "LCP 4.0 s" in lines[3]
    assert lines[4] == "  accessibility audits not passed: color-contrast"
    assert lines[-1] == "aim 90 for performance and accessibility: below on Today (signed in)"


def test_without_a_build_the_run_exits_1_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(lighthouse, "DIST", tmp_path / "dist")
    options = lighthouse.Options(
        aim=90, chromium="/usr/bin/chromium", database_url="postgres://x@127.0.0.1/none"
    )
    assert lighthouse.run_main(options) == 1
    assert "frontend/dist/ is not built" in capsys.readouterr().err


def test_a_missing_chromium_is_a_broken_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html>")
    monkeypatch.setattr(lighthouse, "DIST", dist)
    options = lighthouse.Options(
        aim=90, chromium=str(tmp_path / "no-chromium"), database_url="postgres://x/none"
    )
    assert lighthouse.run_main(options) == 1
    assert "no Chromium" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_the_runner_script_parses() -> None:
    done = subprocess.run(
        ["node", "--check", str(lighthouse.RUNNER)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
