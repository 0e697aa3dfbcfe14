"""The health probe counts its failures: a probe not answered within its timeout (SLOW_S) is slower than any answer
in every percentile, and the tables say what is known of a p99: "≥ the timeout", "max of N" for too few probes,
and for results saved by the older probe (p99 of the answered only, a 10 s timeout) what those allow."""

import http.server
import threading
import time

import pytest

from harness.columns import health_p99_text, health_percentile
from harness.instruments import measure
from harness.network import HOST
from harness.records.suite import Health, ProbeFloor


@pytest.fixture
def stalling_server():
    """A thread-per-request http.server on a free port whose /health stalls for 1.5 s (past the probe's 1 s
    timeout) on every `every`-th request and answers the others at once; stopped afterwards."""
    servers = []

    def start(every):
        lock, seen = threading.Lock(), [0]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with lock:
                    seen[0] += 1
                    stall = seen[0] % every == 0
                if stall:
                    time.sleep(1.5)
                body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def probe(port, seconds, interval=0.1):
    found = measure.HealthProbe(port, max_seconds=seconds + 5, interval=interval)
    found.start()
    time.sleep(seconds)
    return found.stop()


def test_a_probe_that_times_out_raises_the_p99_to_at_least_the_timeout(stalling_server):
    result = probe(stalling_server(every=4), 2)  # ~21 probes, a quarter of them stalled past 1 s
    assert result["timeout_s"] == measure.SLOW_S == 1.0
    assert result["count"] >= 15 and 0.15 <= result["failed"] / result["count"] <= 0.35, result
    # Counted among the answered only, the p99 would be a few ms: the stalls are slower than any answer.
    assert result["p99"] is None and result["p99_above"] < 1000 and result["max"] is None
    assert result["p50"] is not None and result["p50"] < 1000
    assert result["errors"] == ["TimeoutError"]
    # Unavailable and counted as slower than any answer are one event.
    assert result["slow_or_failed"] == result["failed"]
    assert result["unavailable_pct"] == round(100 * result["failed"] / result["count"], 1)
    assert health_p99_text(Health.from_json(result)) == "≥ 1000"


def test_a_probe_answered_in_time_gives_a_p99_and_says_when_too_few_probes(stalling_server):
    result = probe(stalling_server(every=10**9), 1)  # never stalls
    assert result["failed"] == 0 and result["p99"] is not None and result["p99"] < 1000
    health = Health.from_json(result)
    assert result["count"] < measure.MIN_PROBES
    assert health_p99_text(health) == f"{result['max']:.1f} (max of {result['count']})"


def test_a_short_run_is_probed_often_enough_for_a_p99():
    assert measure.probe_interval(60) == 0.1
    assert 6 / measure.probe_interval(6) >= measure.MIN_PROBES  # the short blocks' 6 s rows
    assert measure.probe_interval(1) == measure.MIN_INTERVAL_S  # no denser: its column says "max of N"


def test_failures_count_in_raw_percentiles_as_in_the_open_loop():
    assert measure.percentiles([1.0, 2.0, 3.0], (50, 99), failed=1) == {
        "p50": 2.0,
        "p99": None,
        "p99_above": 3.0,
        "max": None,
    }
    assert measure.percentiles([], (50, 99), failed=5) == {"p50": None, "p99": None, "max": None}


# Saved by the older probe: p99 of the answered only, "failed" = no answer within 10 s, no timeout_s.
OLD_MOSTLY_DOWN = {"p50": 1.8, "p99": 1.8, "max": 1.8, "count": 201, "failed": 200, "slow_or_failed": 200}
OLD_FINE = {"p50": 5.0, "p99": 9.1, "max": 9.4, "count": 120, "failed": 0, "slow_or_failed": 0}


@pytest.mark.parametrize(
    ("saved", "p99", "p50"),
    [
        (OLD_MOSTLY_DOWN, "≥ 10000", "≥ 10000"),  # 200 of 201 unanswered within 10 s: not "1.8 ms"
        ({**OLD_FINE, "failed": 3, "slow_or_failed": 3}, "≥ 10000", "≥ 5.0"),  # p50 only bounded by the answered
        ({**OLD_FINE, "failed": 1, "slow_or_failed": 1}, "≥ 9.1", "≥ 5.0"),  # rank not among the failures
        (OLD_FINE, "9.1", "5.0"),
        ({**OLD_FINE, "count": 56}, "9.4 (max of 56)", "5.0"),  # too few for a p99: the highest, and how many
        ({**OLD_FINE, "count": 56, "failed": 1, "slow_or_failed": 1}, "≥ 10000 (max of 56)", "≥ 5.0"),
        ({**OLD_FINE, "timeout_s": 1.0, "failed": 30, "p99": None, "p99_above": 9.4, "max": None}, "≥ 1000", "5.0"),
    ],
)
def test_saved_health_renders_what_is_known_of_its_p99(saved, p99, p50):
    health = Health.from_json(saved)
    assert health_p99_text(health) == p99
    found = health_percentile(health, 50)
    assert (found if isinstance(found, str) else f"{found:.1f}") == p50


def test_a_health_p99_reads_with_its_unit_where_a_sentence_prints_it():
    assert health_p99_text(Health.from_json({**OLD_FINE, "count": 56}), 0, " ms") == "9 ms (max of 56)"
    assert health_p99_text(Health.from_json(OLD_MOSTLY_DOWN), 0, " ms") == "≥ 10000 ms"
    assert health_p99_text(Health()) == "–"
    floor = ProbeFloor(p50=5.0, p99=8.0, max=8.5, count=61, failed=0, timeout_s=1.0)
    assert health_p99_text(floor, 1, " ms") == "8.5 ms (max of 61)"  # the floor is read as the runs are
