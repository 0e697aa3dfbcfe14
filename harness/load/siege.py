"""Drive siege with the suite's pinned configuration and read what it prints.

siege prints its summary on stderr and, with -v, one line per transaction on stdout, e.g.
``HTTP/1.1 200     0.24 secs:     101 bytes ==> GET  /``. Its clock has 10 ms resolution.
"""
import re
import shutil
import subprocess
import time

from ..servers import HOST, ROOT
from ..subprocesses import run_bounded

SIEGERC = ROOT / "siegerc"

_SUMMARY_LINE = re.compile(r"^([A-Z][A-Za-z ]+):\s+([-0-9.]+)\s*(\S*)\s*$", re.M)
_TRANSACTION = re.compile(r"^HTTP/\d\.\d\s+(\d{3})\s+([0-9.]+) secs:", re.M)


def command(url, concurrency, seconds, verbose=False):
    return ["siege", "-R", str(SIEGERC), "-b", "-c", str(concurrency), "-t", f"{seconds}S",
            *(["-v"] if verbose else []), url]


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
    return {label.strip().lower().replace(" ", "_"): float(value)
            for label, value, _unit in _SUMMARY_LINE.findall(summary_block(text))}


def parse_transactions(text):
    """(status, seconds) of every transaction line."""
    return [(int(status), float(seconds)) for status, seconds in _TRANSACTION.findall(text)]


def run(port, concurrency, seconds, verbose=False, tick=None, path="/"):
    """siege against the server, bounded in time; (stdout, stderr, seconds it ran). Ended by pid if it outstays
    its time. tick(seconds_left) is called every 15 s while it runs."""
    started = time.monotonic()

    def every_15_s(_):
        tick(max(0, round(started + seconds - time.monotonic())))

    # siege ends on time, then waits for the answers in flight: 45 s more
    done = run_bounded(command(f"http://{HOST}:{port}{path}", concurrency, seconds, verbose), seconds + 45,
                       every_15_s if tick else None, every_s=15)
    return done.stdout, done.stderr, done.seconds
