"""Tasks counted in steady state, and siege's count beside the server's.

siege's rate divides its answers by its whole time, edges included: its ramp, and its end, where up to one request
per user is still in flight. A server that queues requests inside itself (2_async runs them one by one on its
loop) finishes those after siege has stopped counting, so its rate reads low, and the shorter the run the lower.
Here the server's own totals (GET /stats: serving/totals.py) are read inside siege's time, from and until WINDOW's
shares of it: the tasks between the first read and the last ÷ the seconds between them is the rate with the edges
left out.
"""

import http.client
import threading
import time

from harness.network import request

WINDOW = (0.15, 0.90)  # the shares of siege's time read in: its ramp and its end left out
# siege ends its -t when its clock's whole seconds run out, between 1 s and 0 s before its time (5.0 to 5.97 s for
# 6 s in the saved results): its last second is not inside the window.
SIEGE_CLOCK_S = 1.0
INTERVAL_S = 0.5  # a read sent every so often through the window, whether or not the earlier ones were answered
MIN_TIMEOUT_S = 0.5
# What the two counts of a whole run may differ by beyond the requests in flight at siege's end (see count_check).
SLACK = 2


class SteadyCount:
    """GET /stats inside a closed-loop run's window, timed from siege's start (begin()); stop() gives the rate:
    of the reads answered inside the window, the tasks between the first and the last ÷ the seconds between.

    A read is sent every INTERVAL_S, each on a connection and in a thread of its own, as the health probe's: a
    server busy with a blocking task answers late, or not in time (1_sync's backlog holds 5 connections: a read
    that finds it full waits for its SYN to be sent again, 1 s, then 3 s later), and one of several gets through.
    Each read is timed by when its answer arrived, not by the middle of its request: the server reads its totals
    as it handles the request and answers at once, so the arrival is when the count was true; the wait of a busy
    server (a whole task, or a backlog of them) comes before the count is read, not around it, and a midpoint
    would date the count up to half of that wait too early."""

    def __init__(self, port, seconds, window=WINDOW, interval=INTERVAL_S):
        self.port, self.interval = port, interval
        self.from_s = window[0] * seconds
        self.until_s = min(window[1] * seconds, seconds - SIEGE_CLOCK_S)
        self.readings = []  # (when its answer arrived: time.monotonic(), the seconds it waited, the tasks counted)
        self.errors = set()
        self.threads = []
        self.scheduler = None
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def begin(self, started):
        """Start the reads, timed from `started` (time.monotonic() as siege started)."""
        self.first, self.last = started + self.from_s, started + self.until_s
        self.scheduler = threading.Thread(target=self.send_reads, daemon=True)
        self.scheduler.start()

    def send_reads(self):
        for i in range(int((self.last - self.first) / self.interval) + 1):
            if self.stopping.wait(max(0.0, self.first + i * self.interval - time.monotonic())):
                break
            thread = threading.Thread(target=self.read, daemon=True)
            thread.start()
            self.threads.append(thread)

    def read(self):
        """One read of the totals, kept if it is answered by the window's end."""
        sent = time.monotonic()
        try:
            status, _, body = request(self.port, "/stats", timeout=max(MIN_TIMEOUT_S, self.last - sent))
        except (OSError, http.client.HTTPException, ValueError) as failure:
            error = type(failure).__name__
        else:
            arrived = time.monotonic()
            if status != 200 or not isinstance(body, dict) or "tasks" not in body:
                error = f"status {status} without totals"
            elif arrived > self.last:
                error = "answered after the window"
            else:
                error = None
        with self.lock:
            if error:
                self.errors.add(error)
            else:
                self.readings.append((arrived, arrived - sent, body["tasks"]))

    def stop(self):
        """The steady rate and how it was read; the rate None, and steady_error why, if the reads were not enough:
        fewer than two answered inside the window, or those spanning less than half of it."""
        ended = time.monotonic()
        self.stopping.set()
        if self.scheduler is None:
            return {"steady_tasks_per_s": None, "steady_error": "siege did not start"}
        self.scheduler.join()
        for thread in self.threads:
            thread.join()  # each read ends within its timeout, at most the window
        # Only answers before siege ended: one that ended early (a crash) leaves its end out of the window too.
        kept = sorted(reading for reading in self.readings if reading[0] <= ended)
        span = kept[-1][0] - kept[0][0] if kept else 0.0
        if len(kept) < 2 or span < (self.last - self.first) / 2:
            said = f" (others: {', '.join(sorted(self.errors))})" if self.errors else ""
            return {
                "steady_tasks_per_s": None,
                "steady_error": f"{len(kept)} of {len(self.threads)} reads of GET /stats answered inside the "
                f"window, spanning {span:.1f} s of its {self.last - self.first:.1f} s{said}",
            }
        (arrived0, waited0, tasks0), (arrived1, waited1, tasks1) = kept[0], kept[-1]
        return {
            "steady_tasks_per_s": round((tasks1 - tasks0) / (arrived1 - arrived0), 2),
            "steady_tasks": tasks1 - tasks0,
            "steady_s": round(arrived1 - arrived0, 2),
            "stats_wait_s": [round(waited0, 3), round(waited1, 3)],
        }


def count_check(server_tasks, siege_ok, users, siege_failed=0):
    """The server's tasks over a whole run against siege's answers 200: count_gap = the first less the second, and
    counts_disagree where |gap| > users + siege_failed + SLACK.

    The server counts a task before it answers, and its closing totals are read after siege has ended: each user
    has at most one request in flight when siege stops, whose task may be run (queued inside the server, run
    later) and counted with no answer siege counts: up to `users` more. A request siege counted failed (reset,
    timed out, a 5xx) may have run its task too. SLACK: the opening totals are read once the server's CPU is idle
    after the warm-up, which a task that waits (sleep) does not show: one or two of the warm-up's may end inside
    the count. Past that, something is counted wrong: the warm-up's leftovers (a busy start), a server that answers
    200 without counting, or siege counting what it should not."""
    gap = server_tasks - siege_ok
    return {"count_gap": gap, "counts_disagree": abs(gap) > users + siege_failed + SLACK}
