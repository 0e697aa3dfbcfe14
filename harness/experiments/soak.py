"""Soak: every server, a group at a time, for minutes, under mixed load, its process tree's memory and open files
sampled.

    .venv/bin/python -m harness.experiments.soak [--minutes 10] [--servers 1,4] [--group 8]   (make soak)

Each server gets, side by side with the others of its group (GROUP at a time, one group after another): siege in
30 s phases alternating 25 and 512 users; a checker that asks for random small n and compares every answer with the
harness's own sieve; a bad request every second (must be a 400 JSON); every 10 s a burst of clients that give up
(connect, ask for a task of the default size, close); and for the servers with worker processes, one worker killed
(SIGKILL) every minute. Every 5 s: PSS of the whole tree (shared pages counted once) and its open file descriptors.
The report gives their slope over the second half of the run (the first half warms up: pools fill, allocators grow),
answers checked and wrong, and whether the stop left anything behind.

It measures reliability, not throughput: the load is sized so that every server keeps answering with all the
others beside it on the machine's cores. siege asks for small tasks (SIEGE_N: about a millisecond alone), so that
512 users are answered within siege's timeout, and the clients that give up ask for GIVE_UP default-size tasks
every 10 s, which a server that runs the work of clients that left (uvicorn) finishes before the next burst; bursts
of second-long tasks piled up there faster than one core drains them, and the table read a backlog, not the server.
"""

import collections
import datetime
import http.client
import os
import random
import signal
import socket
import threading
import time
from pathlib import Path

import numpy
from tabulate import tabulate

import tasks
from harness.cli import OneLineParser, runnable, server_list
from harness.instruments.measure import client_connections, tree_figures, wait_until_idle
from harness.instruments.provenance import environment
from harness.instruments.verify import prime_count
from harness.load import siege
from harness.network import HOST, request
from harness.records.blocks import SoakResults
from harness.records.file import record_of, write
from harness.server_process import ServerProcess
from harness.servers import ROOT, SERVERS
from processes import free_port, on_stop_signals

# Servers soaked at once: with every row of the suite on two cores, each would be soaked beside twenty others,
# and its figures read the machine's contention, not the row.
GROUP = 8
PHASE_S = 30
SAMPLE_S = 5
SIEGE_N = 5_000  # siege's task: ~1 ms alone, so that 512 users of every server at once are answered in time
GIVE_UP = 5  # clients that give up every 10 s, each asking for a default-size task: a server that runs it all anyway
# (uvicorn) gets a small share of a core of it
BAD = ["/?n=abc", "/?n=0", "/?n=", "/?m=1", "/?n=1&n=2", f"/?n={tasks.KINDS['cpu'].max_n + 1}"]


def tree_now(process):
    """(PSS MB, open file descriptors, processes) of the server's tree now."""
    now = tree_figures(process.process.pid)
    return round(now.pss / 2**20, 1), now.fds, now.processes


def settled(process, timeout=10):
    """tree_now once the tree's process count has held for a second, at most `timeout` s: gunicorn answers /health
    from its first worker while it still forks the others, and a reading then is not the tree at rest."""
    last, deadline = tree_now(process), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1)
        now = tree_now(process)
        if now[2] == last[2]:
            return now
        last = now
    return last


def floor_slope_per_minute(samples, column):
    """Least-squares slope, per minute, of each minute's lowest reading of `column` in `samples` (time, pss,
    fds). The floor, because the load alternates: 512 users hold ~500 more sockets than 25 do, but a leak raises
    the floor."""
    floors = {}
    for sample in samples:
        minute = int(sample[0] // 60)
        floors[minute] = min(floors.get(minute, sample[column]), sample[column])
    if len(floors) < 3:
        return None
    return round(float(numpy.polyfit(list(floors), list(floors.values()), 1)[0]), 2)


REST_BOUND_S = 120  # how long the soak waits after the load for the server's tree to go idle
NOT_REACHED = "not reached"


def tasks_in_progress(process):
    """The tasks the server says are running or waiting for a worker (GET /stats); None while it does not answer
    (a server whose only thread is in a task)."""
    try:
        return request(process.port, "/stats", timeout=1)[2]["in_progress"]
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
        return None


def at_rest(process, timeout):
    """Wait until the server says no task is in progress (its queued work done or dropped), its tree has gone idle
    (a thread may still finish a task dropped for a client that left) and no client's connection is open in it;
    the seconds waited, or None if `timeout` passed first."""
    started = time.monotonic()

    def left():
        return timeout - (time.monotonic() - started)

    while tasks_in_progress(process) != 0:
        if left() <= 0:
            return None
        time.sleep(0.5)
    if wait_until_idle(process, timeout=max(left(), 0.1)) is None:
        return None
    while client_connections(process):
        if left() <= 0:
            return None
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


class Soak:
    def __init__(self, server, seconds, stop):
        self.server, self.seconds, self.stop = server, seconds, stop
        self.process = ServerProcess(server, free_port())
        self.samples, self.errors, self.at_rest = [], [], []
        self.rest_wait_s = NOT_REACHED  # until the load has run and the soak waited for the tree to go idle
        self.checked = self.wrong = self.bad_sent = self.bad_wrong = self.gave_up = self.killed = 0
        self.siege_ok = self.siege_all = 0

    def loop(self, every, action):
        """Run action() every `every` seconds until the soak ends (bounded in count by the time)."""
        started = time.monotonic()
        for i in range(int(self.seconds / every) + 1):
            if (
                self.stop.wait(max(0, started + i * every - time.monotonic()))
                or time.monotonic() - started > self.seconds
            ):
                return
            try:
                action()
            except Exception as error:  # noqa: BLE001 - kept and reported: a soak counts, it does not stop
                self.errors.append(f"{action.__name__}: {error!r}")

    def check(self):
        n = random.randint(1, 50_000)
        try:
            status, _, body = request(self.process.port, f"/?n={n}", timeout=120)
        except OSError as error:  # refused or dropped under overload: not a wrong answer, but said under the table
            self.errors.append(f"check: no answer ({type(error).__name__})")
            return
        self.checked += 1
        if status == 200 and (body or {}).get("result") != prime_count(n):  # a 200 without the answer is wrong too
            self.wrong += 1
            self.errors.append(f"n={n}: {body}")

    def bad_request(self):
        path = random.choice(BAD)
        try:
            status, _headers, body = request(self.process.port, path, timeout=60)
        except OSError as error:
            self.errors.append(f"bad request: no answer ({type(error).__name__})")
            return
        self.bad_sent += 1
        if status not in (400, 503) or not (body or {}).get("error"):
            self.bad_wrong += 1
            self.errors.append(f"{path}: {status} {body}")

    def give_up(self):
        clients = []
        for _ in range(GIVE_UP):
            try:
                client = socket.create_connection((HOST, self.process.port), timeout=2)
                client.sendall(f"GET /?n={tasks.KINDS['cpu'].default_n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                clients.append(client)
            except OSError as error:
                self.errors.append(f"give-up: no connection ({type(error).__name__})")
        time.sleep(0.5)
        for client in clients:
            client.close()
        self.gave_up += len(clients)

    def kill_a_worker(self):
        status, _, body = request(self.process.port, "/?n=10", timeout=120)
        if status != 200 or "pid" not in (body or {}):
            raise RuntimeError(f"GET /?n=10 answered {status} {body}: no worker to kill this minute")
        pid = body["pid"]  # a worker, as its answer says
        if pid != self.process.process.pid:
            os.kill(pid, signal.SIGKILL)
            self.killed += 1

    def sample(self):
        self.samples.append((time.monotonic() - self.started, *tree_now(self.process)[:2]))

    def sieges(self):
        for phase in range(int(self.seconds // PHASE_S)):
            if self.stop.is_set():
                return
            users = 25 if phase % 2 == 0 else 512
            _, stderr, _ = siege.run(self.process.port, users, PHASE_S, path=f"/?n={SIEGE_N}")
            figures = siege.parse_summary(stderr)
            self.siege_ok += int(figures.get("successful_transactions", 0))
            self.siege_all += int(figures.get("transactions", 0) + figures.get("failed_transactions", 0))

    def run(self):
        self.process.start()
        if not self.process.wait_healthy(60):
            self.errors.append("did not come up")
            return
        self.at_rest = [settled(self.process)]
        self.started = time.monotonic()
        actions = [(SAMPLE_S, self.sample), (1, self.check), (1, self.bad_request), (10, self.give_up)]
        if self.server.own_processes:
            actions.append((60, self.kill_a_worker))
        threads = [threading.Thread(target=self.loop, args=action, daemon=True) for action in actions]
        threads.append(threading.Thread(target=self.sieges, daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.seconds + 120)
        # What the load left queued is done or dropped, and every client's connection closed; if not within the
        # bound, the row says so: its readings "after" are then of a server still working (uvicorn runs the tasks
        # of clients that left to their end, and holds their sockets until then).
        # (Stopped by a signal: not waited for, so that the results are saved within the stop's grace period.)
        self.rest_wait_s = at_rest(self.process, timeout=0 if self.stop.is_set() else REST_BOUND_S)
        self.at_rest.append(tree_now(self.process))

    def result(self):
        pss, fds = [s[1] for s in self.samples], [s[2] for s in self.samples]
        rest = self.at_rest if len(self.at_rest) == 2 else [(None, None, None)] * 2
        return {
            "server": self.server.label,
            "minutes": round(self.seconds / 60, 1),
            "checked": self.checked,
            "wrong": self.wrong,
            "bad_requests": self.bad_sent,
            "bad_wrong": self.bad_wrong,
            "siege_availability": round(100 * self.siege_ok / self.siege_all, 2) if self.siege_all else None,
            "gave_up": self.gave_up,
            "workers_killed": self.killed,
            "pss_mb_at_rest": [rest[0][0], rest[1][0]],
            # the maxima of every reading, those at rest too: "after" is never above "(max)"
            "pss_mb_max": max(pss + [r[0] for r in rest if r[0] is not None], default=None),
            "pss_floor_slope_mb_per_min": floor_slope_per_minute(self.samples, 1),
            "fds_at_rest": [rest[0][1], rest[1][1]],
            "fds_max": max(fds + [r[1] for r in rest if r[1] is not None], default=None),
            "fds_floor_slope_per_min": floor_slope_per_minute(self.samples, 2),
            "processes_at_rest": [rest[0][2], rest[1][2]],
            "idle_after_s": None if self.rest_wait_s == NOT_REACHED else self.rest_wait_s,
            "idle_after": None if self.rest_wait_s == NOT_REACHED else self.rest_wait_s is not None,
            "samples": self.samples,
            "errors": kept_errors(self.errors),
            "error_count": len(self.errors),
            "clean_stop": self.clean_stop,
        }


HEADERS = [
    "Server",
    "Min",
    "Checked (wrong)",
    "Bad req. (wrong)",
    "siege avail. %",
    "Gave up",
    "Workers killed",
    "PSS MB at rest: before → after (max)",
    "PSS floor MB/min",
    "FDs at rest: before → after (max)",
    "FDs floor /min",
    "Processes at rest",
    "Clean stop",
]


def kept_errors(errors, kinds=20):
    """The errors saved: every one of the first `kinds` different messages, so that each is said with how often it
    came (a refused check may come hundreds of times, and must not hide the one wrong answer)."""
    first = set(list(dict.fromkeys(errors))[:kinds])
    return [error for error in errors if error in first]


def table(results):
    """The soak's table, a row per server (harness.records.blocks.SoakRun)."""

    def rest(before_after, peak):
        return f"{before_after[0]} → {before_after[1]} ({peak})"

    rows = [
        [
            r.server,
            r.minutes,
            f"{r.checked} ({r.wrong})",
            f"{r.bad_requests} ({r.bad_wrong})",
            r.siege_availability,
            r.gave_up,
            r.workers_killed,
            rest(r.pss_mb_at_rest, r.pss_mb_max),
            r.pss_floor_slope_mb_per_min,
            rest(r.fds_at_rest, r.fds_max),
            r.fds_floor_slope_per_min,
            " → ".join(map(str, r.processes_at_rest)),
            "yes" if r.clean_stop else "NO",
        ]
        for r in results
    ]
    return tabulate(rows, HEADERS, "rst")


def notes(results):
    """What the table's cells do not hold, a line per server that has any: every error its soak recorded, each
    with how often, and why its siege availability is blank."""
    lines = []
    for r in results:
        said = [f"{error} ({count}×)" if count > 1 else error for error, count in collections.Counter(r.errors).items()]
        if (r.error_count or 0) > len(r.errors):
            said.append(f"{r.error_count - len(r.errors)} more errors (not kept in results.json)")
        if r.idle_after is False:
            said.append(
                f"not at rest {REST_BOUND_S} s after the load (tasks in progress by its /stats, its tree still "
                "computing, or clients' connections still open): its readings 'after' are of a server at work"
            )
        if r.siege_availability is None:
            said.append("siege availability blank: no transaction of siege's ended in any phase, answered or failed")
        if said:
            lines.append(f"* ``{r.server}``: " + "; ".join(said))
    return "\n".join(["Errors and blanks, as the soak recorded them:", "", *lines]) if lines else ""


def soak_side_by_side(servers, seconds, stop):
    """Each of `servers` soaked for `seconds` beside the others (until `stop` is set), its progress printed each
    minute, then stopped: each one's result."""
    soaks = [Soak(server, seconds, stop) for server in servers]
    threads = [threading.Thread(target=soak.run, daemon=True) for soak in soaks]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(60)
            if thread.is_alive():
                break
        print(
            f"  {(time.monotonic() - started) / 60:.1f} min: "
            + ", ".join(
                f"{s.server.number}: {s.checked} checked, {s.samples[-1][1] if s.samples else '?'} MB" for s in soaks
            ),
            flush=True,
        )
    for soak in soaks:
        soak.clean_stop = soak.process.stop()
    return [soak.result() for soak in soaks]


def save(out, saved):
    """results.json in a new folder under `out`, the one place the soak writes it (harness/records/file.py): the
    folder, and the record saved."""
    folder = out / ("soak-" + datetime.datetime.now().strftime("%Y-%m-%d_%H%M%S"))
    folder.mkdir(parents=True)
    results = record_of(saved, SoakResults, "the soak's results")
    write(folder / "results.json", results)
    return folder, results


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="how long each server is soaked (default 10)")
    parser.add_argument("--servers", type=server_list, default=list(SERVERS), help="as run_all.py's (default all)")
    parser.add_argument("--out", type=Path, default=ROOT / "results", help="where results go (default results/)")
    parser.add_argument(
        "--group", type=int, default=GROUP, help=f"servers soaked at once, one group after another (default {GROUP})"
    )
    options = parser.parse_args(argv)
    minutes, out = options.minutes, options.out
    if not 0.1 <= minutes <= 120:
        parser.error("--minutes must be from 0.1 to 120")
    if options.group < 1:
        parser.error("--group must be at least 1")
    servers = runnable(options.servers, "soak")
    stop = threading.Event()
    on_stop_signals(first=lambda signum: stop.set(), status=1, grace_s=60)
    env = environment({})
    groups = [servers[at : at + options.group] for at in range(0, len(servers), options.group)]
    results = []
    for number, group in enumerate(groups, 1):
        if stop.is_set():
            break
        print(
            f"Soaking {len(group)} servers side by side for {minutes:g} min (group {number} of {len(groups)})...",
            flush=True,
        )
        results += soak_side_by_side(group, minutes * 60, stop)
    folder, saved = save(out, {"environment": env, "minutes": minutes, "runs": results})
    print(f"\n{table(saved.runs)}\n\n{notes(saved.runs)}\n\nResults in {folder}/")
    bad = [r.server for r in saved.runs if r.wrong or r.bad_wrong or not r.clean_stop]
    return 1 if bad or stop.is_set() else 0


if __name__ == "__main__":
    raise SystemExit(main())
