"""The load benchmark's pure parts: locust's CSV statistics as a table, stored vs acknowledged
writes, which endpoints run, and the --think option. No server, no database.

Locust patches the standard library with gevent when imported, so the one test that needs real
locust output runs it in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.load import parse_think
from bench.load_plan import (
    CHECK_IN,
    CLINICIAN,
    ENDPOINTS,
    EXERCISE_LOG,
    PATIENT,
    Endpoint,
    PatientSeed,
    request_body,
    select_endpoints,
)
from bench.load_report import (
    EndpointStats,
    ack_report,
    compare_acks,
    parse_acks,
    parse_exceptions_csv,
    parse_failures_csv,
    parse_stats_csv,
    read_acks,
    stats_table,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

STATS_CSV = textwrap.dedent(
    """\
    Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
    GET,GET /episodes/,120,0,35,48.1,9.2,410.5,2100.0,2.0,0.0,35,44,52,60,96,160,250,330,410,410,410
    POST,POST /episodes/{id}/check-ins/,521,2,12,25.3,4.1,380.2,480.0,8.68,0.03,12,16,21,26,57,120,220,280,380,380,380
    GET,GET /episodes/{id}/adherence/,0,0,0,0.0,0,0,0.0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
    ,Aggregated,641,2,15,29.6,4.1,410.5,780.0,10.68,0.03,15,20,26,31,70,130,230,300,410,410,410
    """
)


def test_stats_csv_gives_a_row_per_endpoint_and_the_total():
    rows, total = parse_stats_csv(STATS_CSV)

    assert rows == [
        EndpointStats("GET /episodes/", 120, 0, 2.0, 35, 160, 330),
        EndpointStats("POST /episodes/{id}/check-ins/", 521, 2, 8.68, 12, 120, 280),
        EndpointStats("GET /episodes/{id}/adherence/", 0, 0, 0.0, None, None, None),
    ]
    assert total == EndpointStats("Aggregated", 641, 2, 10.68, 15, 130, 300)


def test_stats_csv_without_aggregated_row_is_an_error():
    header = STATS_CSV.splitlines()[0]

    with pytest.raises(ValueError, match="Aggregated"):
        parse_stats_csv(header + "\n")


def test_table_follows_the_given_order_and_ends_with_the_total():
    rows, total = parse_stats_csv(STATS_CSV)

    lines = stats_table(rows, total, order=["POST /episodes/{id}/check-ins/", "GET /episodes/"])

    assert lines[0].split() == [
        "endpoint",
        "requests",
        "failures",
        "req/s",
        "p50",
        "ms",
        "p95",
        "ms",
        "p99",
        "ms",
    ]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["POST", "/episodes/{id}/check-ins/"],
        ["GET", "/episodes/"],
        ["GET", "/episodes/{id}/adherence/"],
        ["total", "641"],
    ]
    assert lines[1].split()[2:] == ["521", "2", "8.7", "12", "120", "280"]
    assert lines[3].split()[2:] == ["0", "0", "0.0", "-", "-", "-"]
    assert lines[4].split()[1:] == ["641", "2", "10.7", "15", "130", "300"]
    assert len({len(line) for line in lines}) == 1


def test_failures_csv_lists_the_most_frequent_first():
    text = textwrap.dedent(
        """\
        Method,Name,Error,Occurrences,First Seen,Last Seen
        GET,GET /episodes/,"HTTP 500: {""errors"": {}}",1,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z
        POST,POST /episodes/{id}/check-ins/,"CatchResponseError('no response: ConnectionResetError()')",4,2026-01-01T00:00:00Z,2026-01-01T00:00:01Z
        """
    )

    failures = parse_failures_csv(text)

    assert [(f.name, f.error, f.occurrences) for f in failures] == [
        ("POST /episodes/{id}/check-ins/", "no response: ConnectionResetError()", 4),
        ("GET /episodes/", 'HTTP 500: {"errors": {}}', 1),
    ]


def test_exceptions_csv_gives_counts_and_messages():
    text = "Count,Message,Traceback,Nodes\n3,KeyError('token'),\"Traceback ...\",local\n"

    assert parse_exceptions_csv(text) == [(3, "KeyError('token')")]


def test_real_locust_statistics_parse(tmp_path):
    """The CSV as locust itself writes it (the locustfile uses locust's StatsCSV when locust quits)."""
    script = textwrap.dedent(
        """\
        import csv, sys
        from locust.env import Environment
        from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

        env = Environment()
        for ms in (5, 7, 9, 11, 200):
            env.stats.log_request("POST", "POST /episodes/{id}/check-ins/", ms, 480)
        env.stats.log_request("GET", "GET /episodes/", 30, 2100)
        env.stats.log_error("GET", "GET /episodes/", "HTTP 500: boom")
        with open(sys.argv[1], "w", newline="") as file:
            StatsCSV(env, PERCENTILES_TO_REPORT).requests_csv(csv.writer(file))
        with open(sys.argv[2], "w", newline="") as file:
            StatsCSV(env, PERCENTILES_TO_REPORT).failures_csv(csv.writer(file))
        """
    )
    stats, failures = tmp_path / "stats.csv", tmp_path / "failures.csv"

    subprocess.run([sys.executable, "-c", script, str(stats), str(failures)], check=True, cwd=PROJECT_ROOT)

    rows, total = parse_stats_csv(stats.read_text())
    by_name = {row.name: row for row in rows}
    assert by_name["POST /episodes/{id}/check-ins/"].requests == 5
    assert by_name["POST /episodes/{id}/check-ins/"].p50 == 9
    assert by_name["POST /episodes/{id}/check-ins/"].p99 == 200
    assert by_name["GET /episodes/"].failures == 1
    assert (total.requests, total.failures) == (6, 1)
    assert [(f.name, f.error, f.occurrences) for f in parse_failures_csv(failures.read_text())] == [
        ("GET /episodes/", "HTTP 500: boom", 1)
    ]


# ---------------------------------------------------------------------------------------------
# Stored vs acknowledged
# ---------------------------------------------------------------------------------------------


def test_ack_lines_become_ids_per_kind_and_duplicates_count_once():
    acks = parse_acks(["check-in a", "", "exercise-log b", "check-in a", "check-in c"])

    assert acks == {CHECK_IN: {"a", "c"}, EXERCISE_LOG: {"b"}}


@pytest.mark.parametrize("line", ["check-in", "check-in a b", "walk a"])
def test_malformed_ack_line_is_an_error(line):
    with pytest.raises(ValueError, match="line 2"):
        parse_acks(["check-in a", line])


def test_ack_files_of_every_process_are_merged(tmp_path):
    (tmp_path / "acks-101.txt").write_text("check-in a\nexercise-log b\n")
    (tmp_path / "acks-202.txt").write_text("check-in c\n")
    (tmp_path / "seed.json").write_text("{}")

    assert read_acks(tmp_path) == {CHECK_IN: {"a", "c"}, EXERCISE_LOG: {"b"}}


def test_stored_equal_to_acknowledged_is_ok():
    acknowledged = {CHECK_IN: {"a", "b"}, EXERCISE_LOG: {"c"}}

    check = compare_acks(acknowledged, {CHECK_IN: {"a", "b"}, EXERCISE_LOG: {"c"}})

    assert check.ok
    assert ack_report(check) == ["stored = acknowledged: 3 = 3 OK (check-ins 2 = 2, exercise logs 1 = 1)"]


def test_stored_but_unacknowledged_is_reported_and_not_an_error():
    check = compare_acks(
        {CHECK_IN: {"a"}, EXERCISE_LOG: set()}, {CHECK_IN: {"a", "late"}, EXERCISE_LOG: {"x"}}
    )

    assert check.ok
    assert check.unacknowledged == {CHECK_IN: 1, EXERCISE_LOG: 1}
    report = ack_report(check)
    assert report[0].startswith("stored = acknowledged: 1 = 1 OK")
    assert report[1].startswith("stored but unacknowledged: 2 (check-ins 1, exercise logs 1)")


def test_acknowledged_but_missing_fails_and_names_the_ids():
    check = compare_acks(
        {CHECK_IN: {"a", "b", "c"}, EXERCISE_LOG: {"d"}}, {CHECK_IN: {"a"}, EXERCISE_LOG: set()}
    )

    assert not check.ok
    assert check.missing == {CHECK_IN: ["b", "c"], EXERCISE_LOG: ["d"]}
    report = ack_report(check)
    assert report[0].startswith("stored = acknowledged: 1 = 4 FAIL: 3 acknowledged writes are not stored")
    assert report[1:] == ["  missing check-ins (2): b, c", "  missing exercise logs (1): d"]


def test_a_long_list_of_missing_ids_is_cut_but_counted():
    acknowledged = {CHECK_IN: {f"id-{n:02d}" for n in range(25)}}

    report = ack_report(compare_acks(acknowledged, {}))

    assert report[1].startswith("  missing check-ins (25): id-00, id-01,")
    assert report[1].endswith("id-09, ...")


# ---------------------------------------------------------------------------------------------
# Which endpoints run, and their bodies
# ---------------------------------------------------------------------------------------------


def test_stand_ins_run_until_the_real_endpoint_exists():
    names = {endpoint.name for endpoint in ENDPOINTS}
    without_later_endpoints = names - {"GET /cohort/", "GET /episodes/{id}/trajectory/"}

    chosen = {endpoint.name for endpoint in select_endpoints(without_later_endpoints)}
    assert chosen == without_later_endpoints

    chosen = {endpoint.name for endpoint in select_endpoints(names)}
    assert "GET /cohort/" in chosen
    assert "GET /episodes/" not in chosen
    assert "GET /episodes/{id}/trajectory/" in chosen
    assert "GET /episodes/{id}/check-ins/" not in chosen


def test_skipped_endpoints_do_not_run():
    chosen = select_endpoints(["POST /episodes/{id}/check-ins/", "GET /episodes/"])

    assert [endpoint.name for endpoint in chosen] == ["POST /episodes/{id}/check-ins/", "GET /episodes/"]


def test_endpoint_path_and_accepted_statuses():
    write = Endpoint("POST /episodes/{id}/exercise-logs/", PATIENT, 1, writes=EXERCISE_LOG)
    read = Endpoint("GET /cohort/", CLINICIAN, 1)

    assert write.method == "POST"
    assert write.path("e-1") == "/api/v1/episodes/e-1/exercise-logs/"
    assert write.ok_statuses == {200, 201}
    assert read.path("e-1") == "/api/v1/cohort/"
    assert read.ok_statuses == {200}


def test_every_write_body_has_a_fresh_id_and_logs_name_an_assignment():
    patient: PatientSeed = {"token": "t", "episode": "e", "assignments": ["a-1", "a-2"]}
    checkin = Endpoint("POST /episodes/{id}/check-ins/", PATIENT, 1, writes=CHECK_IN)
    log = Endpoint("POST /episodes/{id}/exercise-logs/", PATIENT, 1, writes=EXERCISE_LOG)

    first, second = request_body(checkin, patient), request_body(checkin, patient)
    assert first is not None and second is not None
    assert first["id"] != second["id"]
    assert first["red_flags"] == []
    body = request_body(log, patient)
    assert body is not None
    assert body["assignment"] in {"a-1", "a-2"}
    assert request_body(Endpoint("GET /episodes/", CLINICIAN, 1), None) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.5-1.5", (0.5, 1.5)), ("0-0", (0.0, 0.0)), ("2-1", None), ("1", None), ("a-b", None), ("-1-2", None)],
)
def test_think_option(raw, expected):
    assert parse_think(raw) == expected
