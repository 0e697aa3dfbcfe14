"""What siege cannot see: how responsive the server stays, and what its process tree costs in memory and CPU."""
import threading
import time

import numpy
import psutil

import common

from .servers import request

SLOW_S = 1.0  # a health answer slower than this counts as a failure of responsiveness


def percentiles(values, points=(50, 90, 99)):
    """{'p50': ..., 'p90': ..., 'max': ...} of `values` (linear interpolation); None for each if there are none."""
    keys = [f"p{point}" for point in points] + ["max"]
    if len(values) == 0:
        return dict.fromkeys(keys)
    found = numpy.percentile(values, points).tolist() + [max(values)]
    return {key: round(value, 3) for key, value in zip(keys, found, strict=True)}


def efficiency(transaction_rate, cpus, task_s):
    """The share of the physical limit reached: `cpus` cores each finishing one task every `task_s` seconds."""
    return round(transaction_rate / (cpus / task_s), 3)


class Background(threading.Thread):
    """A measuring loop in a thread of its own, run until stop() and bounded in count and time regardless."""

    def __init__(self, interval, max_seconds):
        super().__init__(daemon=True)
        self.interval, self.max_seconds = interval, max_seconds
        self._stopping = threading.Event()

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        for _ in range(int(self.max_seconds / self.interval) + 1):
            started = time.monotonic()
            if self._stopping.is_set() or started > deadline:
                break
            self.step()
            self._stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self):
        self._stopping.set()
        self.join()
        return self.result()


class HealthProbe(Background):
    """GET /health on a fixed schedule, every `interval` seconds, whether or not earlier probes were answered (a
    probe that waited for the previous answer would count a 10 s stall as one sample). Each probe runs in a thread
    of its own; its latency is taken from the time it was *meant* to be sent, so that a late send counts too.

    unavailable_pct is time-weighted: the share of the run's probes (each stands for `interval` seconds) that got
    no 200 within SLOW_S. A refused or reset connection fails at once; a probe still unanswered after `timeout`
    fails then. p50/p99 are of the answered probes' latencies."""

    MAX_IN_FLIGHT = 400  # 40 s of unanswered probes: past that, a probe is counted failed without being sent

    def __init__(self, port, max_seconds, interval=0.1, timeout=10):
        super().__init__(interval, max_seconds)
        self.port, self.timeout = port, timeout
        self.outcomes = []  # (intended send time, seconds until a 200 from then, or None; error)
        self.threads = []
        self.lock = threading.Lock()

    def run(self):
        self.started = time.perf_counter()
        for i in range(int(self.max_seconds / self.interval) + 1):
            intended = self.started + i * self.interval
            if self._stopping.wait(max(0.0, intended - time.perf_counter())):
                break
            self.threads = [t for t in self.threads if t.is_alive()]
            if len(self.threads) >= self.MAX_IN_FLIGHT:
                self.record(intended, None, "too many probes unanswered")
                continue
            thread = threading.Thread(target=self.probe, args=(intended,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def probe(self, intended):
        try:
            status = request(self.port, "/health", timeout=self.timeout)[0]
            error = None if status == 200 else f"status {status}"
        except Exception as failure:  # noqa: BLE001 - any failure is a failed probe, counted, never a dead thread
            error = type(failure).__name__
        self.record(intended, None if error else time.perf_counter() - intended, error)

    def record(self, intended, seconds, error):
        with self.lock:
            self.outcomes.append((intended, seconds, error))

    def stop(self):
        self._stopping.set()
        self.join()
        for thread in self.threads:
            thread.join(self.timeout + 1)  # every probe sent ends, answered or failed, within its timeout
        return self.result()

    def result(self):
        with self.lock:
            outcomes = sorted(self.outcomes)
        answered = [seconds * 1000 for _, seconds, _ in outcomes if seconds is not None]
        summary = percentiles(answered, (50, 99))
        unavailable = sum(1 for _, seconds, _ in outcomes if seconds is None or seconds > SLOW_S)
        summary.update(
            planned=int(round((outcomes[-1][0] - self.started) / self.interval)) + 1 if outcomes else 0,
            count=len(outcomes), failed=sum(1 for _, seconds, _ in outcomes if seconds is None),
            slow_or_failed=unavailable,
            unavailable_pct=round(100 * unavailable / len(outcomes), 1) if outcomes else None,
            errors=sorted({error for _, _, error in outcomes if error}),
        )
        return summary


def tree_pids(root_pid):
    return [root_pid, *common.descendants(root_pid)]


def tree_cpu_seconds(root_pid):
    """CPU seconds used so far by a process tree, from the kernel: each live process's own time plus the time of
    its children that have ended and been waited for. A worker that starts and ends between two readings is
    counted too (in its parent's children's time)."""
    total = 0.0
    for pid in tree_pids(root_pid):
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue  # gone between the listing and the reading: its time is now its parent's
        total += times.user + times.system + times.children_user + times.children_system
    return total


class TreeSampler(Background):
    """Sample a server's process tree every `interval` s (walking the tree only, not the machine): peak total PSS
    (proportional set size: a page shared by forked workers is split between them, not counted in each) and peak
    process count; and the CPU seconds the tree used from start() to stop(), read from the kernel."""

    def __init__(self, server_process, max_seconds, interval=0.5):
        super().__init__(interval, max_seconds)
        self.root = server_process.process.pid
        self.peak_pss = self.peak_rss = 0
        self.peak_count = 0

    def start(self):
        self.cpu_at_start, self.started = tree_cpu_seconds(self.root), time.monotonic()
        super().start()

    def step(self):
        pss = rss = count = 0
        for pid in tree_pids(self.root):
            try:
                memory = psutil.Process(pid).memory_full_info()
            except psutil.Error:
                continue
            pss, rss, count = pss + memory.pss, rss + memory.rss, count + 1
        self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
        self.peak_count = max(self.peak_count, count)

    def stop(self):
        super().stop()
        self.step()
        return self.result()

    def result(self):
        cpu_s, wall_s = tree_cpu_seconds(self.root) - self.cpu_at_start, time.monotonic() - self.started
        return {
            "peak_pss_mb": round(self.peak_pss / 2**20, 1),
            "peak_rss_sum_mb": round(self.peak_rss / 2**20, 1),  # shared pages once per process: an upper bound
            "cpu_s": round(cpu_s, 2), "cores_busy": round(cpu_s / wall_s, 2),  # average cores used by the tree
            "processes": self.peak_count,
        }


def wait_until_idle(server_process, timeout=60, threshold=0.1, interval=0.5):
    """Wait until the server's tree uses less than `threshold` of one core (queued work left by a client that
    went away must not steal CPU from the next measurement). Returns the seconds waited, or None on timeout."""
    started = time.monotonic()
    root = server_process.process.pid
    while time.monotonic() - started < timeout:
        before = tree_cpu_seconds(root)
        time.sleep(interval)
        if (tree_cpu_seconds(root) - before) / interval < threshold:
            return round(time.monotonic() - started, 2)
    return None
