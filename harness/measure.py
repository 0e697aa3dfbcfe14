"""What siege cannot see: how responsive the server stays, and what its process tree costs in memory and CPU."""
import threading
import time

import numpy
import psutil

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
    """GET /health every `interval` seconds, one at a time, and time each answer. A probe that fails (no
    connection, no answer within `timeout`, not a 200) counts as `timeout`: its user got nothing for that long."""

    def __init__(self, port, max_seconds, interval=0.1, timeout=10):
        super().__init__(interval, max_seconds)
        self.port, self.timeout = port, timeout
        self.latencies_ms = []

    def step(self):
        started = time.perf_counter()
        try:
            ok = request(self.port, "/health", timeout=self.timeout)[0] == 200
        except OSError:
            ok = False
        self.latencies_ms.append((time.perf_counter() - started) * 1000 if ok else None)

    def result(self):
        summary = percentiles([self.timeout * 1000 if ms is None else ms for ms in self.latencies_ms], (50, 99))
        summary["count"] = len(self.latencies_ms)
        summary["failed"] = self.latencies_ms.count(None)
        summary["slow_or_failed"] = sum(1 for ms in self.latencies_ms if ms is None or ms > SLOW_S * 1000)
        return summary


def cpu_seconds(proc):
    times = proc.cpu_times()
    return times.user + times.system


class TreeSampler(Background):
    """Sample a process tree every `interval` s: peak total RSS, peak process count, and the CPU seconds the
    tree used while sampled (per process: last reading minus first, so that work done before does not count)."""

    def __init__(self, server_process, max_seconds, interval=0.5):
        super().__init__(interval, max_seconds)
        self.server_process = server_process
        self.peak_rss = 0
        self.peak_count = 0
        self.first_cpu, self.last_cpu = {}, {}

    def step(self):
        rss = 0
        processes = self.server_process.processes()
        for proc in processes:
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    used = cpu_seconds(proc)
            except psutil.Error:
                continue
            self.first_cpu.setdefault(proc.pid, used)
            self.last_cpu[proc.pid] = used
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_count = max(self.peak_count, len(processes))

    def stop(self):
        super().stop()
        self.step()  # a last reading, so that the CPU seconds cover the whole run
        return self.result()

    def result(self):
        return {
            "peak_rss_mb": round(self.peak_rss / 2**20, 1),
            "cpu_s": round(sum(self.last_cpu[pid] - self.first_cpu[pid] for pid in self.last_cpu), 2),
            "processes": self.peak_count,
        }


def cpu_snapshot(processes):
    """The CPU seconds each of `processes` has used so far (those already gone are left out)."""
    snapshot = {}
    for proc in processes:
        try:
            snapshot[proc] = cpu_seconds(proc)
        except psutil.Error:
            pass
    return snapshot


def cpu_since(snapshot):
    """The CPU seconds the processes of `snapshot` have used since it was taken."""
    used = 0.0
    for proc, before in snapshot.items():
        try:
            used += cpu_seconds(proc) - before
        except psutil.Error:
            pass  # gone since: what it used after the snapshot is lost with it
    return used


def wait_until_idle(server_process, timeout=60, threshold=0.1, interval=0.5):
    """Wait until the server's tree uses less than `threshold` of one core (queued work left by a client that
    went away must not steal CPU from the next measurement). Returns the seconds waited, or None on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        snapshot = cpu_snapshot(server_process.processes())
        time.sleep(interval)
        if cpu_since(snapshot) / interval < threshold:
            return round(time.monotonic() - started, 2)
    return None
