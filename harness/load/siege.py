"""Drive siege with the suite's pinned configuration and read what it prints.

siege prints its summary on stderr and, with -v, one line per transaction on stdout, e.g.
``HTTP/1.1 200     0.24 secs:     101 bytes ==> GET  /``. Its clock has 10 ms resolution.
"""

import re
import shutil
import subprocess
import time

from hdrh.histogram import HdrHistogram

from harness.instruments.measure import percentiles
from harness.load.openloop import HIGHEST_US
from harness.network import HOST
from harness.servers import ROOT
from harness.subprocesses import run_bounded

SIEGERC = ROOT / "siegerc"

_SUMMARY_LINE = re.compile(r"^([A-Z][A-Za-z ]+):\s+([-0-9.]+)\s*(\S*)\s*$", re.M)
_TRANSACTION = re.compile(r"^HTTP/\d\.\d\s+(\d{3})\s+([0-9.]+) secs:", re.M)


def command(url, concurrency, seconds, verbose=False):
    return [
        "siege",
        "-R",
        str(SIEGERC),
        "-b",
        "-c",
        str(concurrency),
        "-t",
        f"{seconds}S",
        *(["-v"] if verbose else []),
        url,
    ]


def version():
    if shutil.which("siege") is None:
        return None
    run = subprocess.run(["siege", "--version"], capture_output=True, text=True, timeout=10)
    match = re.search(r"SIEGE (\S+)", run.stdout + run.stderr)
    return match.group(1) if match else None


def summary_block(text):
    """The summary as siege printed it, from 'Transactions:' to 'Shortest transaction:' ('' if absent)."""
    match = re.search(r"^Transactions:.*?^Shortest transaction:[^\n]*", text, re.M | re.S)
    return match.group(0) if match else ""


def parse_summary(text):
    """Every figure of the summary, keyed by its label in snake case: {'transactions': 461.0, ...}."""
    return {
        label.strip().lower().replace(" ", "_"): float(value)
        for label, value, _unit in _SUMMARY_LINE.findall(summary_block(text))
    }


def parse_transactions(text):
    """(status, seconds) of every transaction line."""
    return [(int(status), float(seconds)) for status, seconds in _TRANSACTION.findall(text)]


def histogram_of(seconds):
    """The latencies as an HDR histogram of µs, encoded: what --repeat merges across rounds (report.median_run)."""
    histogram = HdrHistogram(1, HIGHEST_US, 3)
    for value in seconds:
        histogram.record_value(max(1, round(value * 1e6)))
    return histogram.encode().decode()


def figures(stdout, stderr, elapsed_s):
    """A closed-loop run's figures from siege's output (and `elapsed_s`, how long siege ran); with "error" if siege
    printed nothing, "note" if it printed no summary."""
    summary = parse_summary(stderr)
    transactions = parse_transactions(stdout)
    ok_seconds = [seconds for status, seconds in transactions if status == 200]
    non_200 = len(transactions) - len(ok_seconds)
    # siege's failures are the requests that got no answer, plus the 5xx answers (a 4xx is a success to siege).
    answered_5xx = sum(1 for status, _ in transactions if status >= 500)
    unanswered = max(0, int(summary.get("failed_transactions", 0)) - answered_5xx)
    # siege's own clock if it printed its summary; else the time it really ran (it may outstay its -t by far).
    elapsed = summary.get("elapsed_time") or elapsed_s
    attempted = len(transactions) + unanswered
    rate = len(ok_seconds) / elapsed if elapsed else 0.0  # only a 200 is a success here
    found = dict(
        measured=bool(summary or transactions),
        siege=summary,
        siege_summary=summary_block(stderr),
        elapsed_s=round(elapsed, 2),
        transactions=len(transactions),
        availability=round(100 * len(ok_seconds) / attempted, 2) if attempted else 0.0,
        transaction_rate=round(rate, 2),
        # Not siege's "Response time", which divides the time of every answer, 5xx included, by the successes.
        response_time_s=round(sum(ok_seconds) / len(ok_seconds), 3) if ok_seconds else None,
        failed=unanswered + non_200,
        non_200=non_200,
        latency_ms=percentiles([seconds * 1000 for seconds in ok_seconds]),
        latency_hist=histogram_of(ok_seconds),
    )
    if not found["measured"]:
        found["error"] = "siege printed nothing: no transaction, no summary"
    elif not summary:  # siege outstayed its time and was stopped: its transaction lines are all there is
        found["note"] = "siege printed no summary (stopped after its time ran out)"
    return found


def run(port, concurrency, seconds, verbose=False, tick=None, path="/", on_start=None):
    """siege against the server, bounded in time; (stdout, stderr, seconds it ran). Ended by pid if it outstays
    its time. tick(seconds_left) is called every 15 s while it runs; on_start(time.monotonic()) as it starts."""
    started = time.monotonic()

    def every_15_s(_):
        tick(max(0, round(started + seconds - time.monotonic())))

    # siege ends on time, then waits for the answers in flight: 45 s more
    done = run_bounded(
        command(f"http://{HOST}:{port}{path}", concurrency, seconds, verbose),
        seconds + 45,
        every_15_s if tick else None,
        every_s=15,
        on_start=on_start,
    )
    return done.stdout, done.stderr, done.seconds
