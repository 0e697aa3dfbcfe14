"""What siege cannot see: how responsive the server stays, and what its process tree costs in memory and CPU."""

import os
import threading
import time
from dataclasses import dataclass

import psutil

import processes
from harness.network import HOST, request

# A health answer slower than this counts as a failure of responsiveness: the probe's timeout, so that a probe
# "unavailable" and one "counted as slower than any answer" are the same event.
SLOW_S = 1.0


def percentiles(values, points=(50, 90, 99), failed=0):
    """{'p50': ..., 'p90': ..., 'max': ...} of raw `values`; None for each if there are none. Rounded to 3 decimals.
    With `failed` that got no answer, each counted as slower than any value: as histogram_summary's.

    The suite's one percentile definition, for raw values and histograms alike (the open-loop driver's HDR
    histograms, the background jobs, siege's transactions, the health probe, the pools, Celery's waits): the value
    at p is the recorded value of rank rank(p, count), nearest rank rounded, no interpolation, as HdrHistogram's
    get_value_at_percentile. No numpy: harness.experiments.pools imports this under .venv313, which has none."""
    ordered = sorted(values)
    return censored(points, len(ordered), failed, lambda at: ordered[at - 1], ordered[-1] if ordered else None)


def rank(point, count):
    """The rank (from 1) of the value at percentile `point` of `count` values: int(point % of count + 0.5), at
    least 1 (HdrHistogram's get_target_count_at_percentile)."""
    return max(1, int(point * count / 100 + 0.5))


def censored(points, answered, failed, value_of_rank, largest):
    """The percentiles `points` and the max of `answered` values and `failed` ones counted as slower than any of
    them (the suite's one way of counting a failure in a percentile): {pN: value_of_rank(rank among the answered),
    ..., max: largest}, rounded to 3 decimals. A percentile whose rank falls among the failures is {pN: None,
    pN_above: largest}, and max is then None; all None if nothing was answered."""
    keys = [f"p{point:g}" for point in points] + ["max"]
    if answered == 0:
        return dict.fromkeys(keys)
    found = {}
    for point in points:
        at = rank(point, answered + failed)
        if at <= answered:
            found[f"p{point:g}"] = round(value_of_rank(at), 3)
        else:
            found.update({f"p{point:g}": None, f"p{point:g}_above": round(largest, 3)})
    return {**found, "max": None if failed else round(largest, 3)}


class Periodic(threading.Thread):
    """step() every `interval` seconds in a thread of its own, until stop(), bounded in count and time regardless
    (the health probe, the tree sampler, the background jobs' backlog sampler)."""

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


MIN_PROBES = 100  # a p99 of fewer values is not one (nearest rank: of 60, the second highest)
MIN_INTERVAL_S = 0.05  # the densest schedule: 20 probes/s, each a new connection and a thread of the harness


def probe_interval(seconds):
    """The health probe's interval for a run of `seconds`: every 100 ms, denser for a short run so that it sends
    MIN_PROBES within 80 % of the seconds (siege stops on whole seconds, the probe with it: a 6 s run sent 93 of
    100 at every 60 ms; now every 50 ms), no denser than MIN_INTERVAL_S (shorter runs: their column says "max of
    N"). Denser rather than only labelled: the short blocks are the ones the answer reads, and a p99 of 60
    probes is their second highest. The probe's own load, 20 answers of /health a second, is 1 to 2 % of a core
    (0.5 ms of CPU a probe on 1_sync, 1.1 ms on 2_async, measured on a busy machine): small beside a row's 2
    cores."""
    return max(MIN_INTERVAL_S, min(0.1, 0.8 * seconds / MIN_PROBES))


class HealthProbe(Periodic):
    """GET /health on a fixed schedule, every `interval` seconds, whether or not earlier probes were answered (a
    probe that waited for the previous answer would count a 10 s stall as one sample). Each probe runs in a thread
    of its own; its latency is taken from the time it was *meant* to be sent, so that a late send counts too.
    Started from a thread in another network namespace (a host of make cluster's), its threads are there too: a
    thread starts in the namespace of the thread that started it.

    A probe fails if it gets no 200 within `timeout` (SLOW_S) of that time: refused, reset, another status, or
    late (still unanswered then, or answered after). A failed probe counts as slower than any answer in every
    percentile (measure.censored, as the open-loop driver counts its failures): a p99 that falls among them is
    None, known only as at least the timeout. unavailable_pct is time-weighted: the share of the run's probes
    (each stands for `interval` seconds) that failed."""

    MAX_IN_FLIGHT = 400  # a bound on the probe's threads: past that, a probe is counted failed without being sent

    def __init__(self, port, max_seconds, interval=0.1, timeout=SLOW_S, host=HOST):
        super().__init__(interval, max_seconds)
        self.port, self.timeout, self.host = port, timeout, host  # host: another address (a host of make cluster's)
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
        left = intended + self.timeout - time.perf_counter()  # the timeout counts from the intended send too
        try:
            status = request(self.port, "/health", timeout=max(left, 0.001), host=self.host)[0]
            error = None if status == 200 else f"status {status}"
        except Exception as failure:  # noqa: BLE001 - any failure is a failed probe, counted, never a dead thread
            error = type(failure).__name__
        seconds = time.perf_counter() - intended
        if error is None and seconds > self.timeout:  # a socket's timeout is per call: the answer came too late
            error = f"answered after {self.timeout:g} s"
        self.record(intended, None if error else seconds, error)

    def record(self, intended, seconds, error):
        with self.lock:
            self.outcomes.append((intended, seconds, error))

    def stop(self):
        self._stopping.set()
        self.join()
        for thread in self.threads:
            thread.join(self.timeout + 1)  # every probe sent ends, answered or failed, about its timeout after
        return self.result()

    def result(self):
        """p50, p99 and max of every probe (ms), a failure slower than any answer; the probes planned, sent and
        failed; the timeout and the interval, which say what a failure and a probe stand for."""
        with self.lock:
            outcomes = sorted(self.outcomes)
        answered = [seconds * 1000 for _, seconds, _ in outcomes if seconds is not None]
        failed = len(outcomes) - len(answered)
        summary = percentiles(answered, (50, 99), failed)
        summary.update(
            planned=round((outcomes[-1][0] - self.started) / self.interval) + 1 if outcomes else 0,
            count=len(outcomes),
            failed=failed,
            slow_or_failed=failed,  # the same event now (older runs': failed within 10 s, or slower than SLOW_S)
            unavailable_pct=round(100 * failed / len(outcomes), 1) if outcomes else None,
            errors=sorted({error for _, _, error in outcomes if error}),
            timeout_s=self.timeout,
            interval_s=self.interval,
        )
        return summary


@dataclass
class TreeFigures:
    pss: int = 0  # bytes, each page shared by several processes split between them: counted once in all
    rss: int = 0  # bytes, shared pages once per process: an upper bound
    fds: int = 0  # open file descriptors
    processes: int = 0


PERCENTILES = (50, 90, 99, 99.9)


def histogram_summary(histogram, failed=0):
    """{'p50': ms, 'p90': ..., 'p99': ..., 'p99.9': ..., 'max': ...} of an HDR histogram of µs (None if empty).
    With `failed` requests that got no answer, each counted as slower than any recorded: a percentile whose rank
    falls among them is {pN: None, pN_above: the largest recorded}, and max is None.

    The suite's percentile definition (measure.rank: nearest rank, rounded), at the histogram's resolution of 3
    significant figures (the highest value equivalent to the recorded one); max the same for the largest."""
    answered = histogram.get_total_count()
    return censored(
        PERCENTILES,
        answered,
        failed,
        lambda at: histogram.get_value_at_percentile(100.0 * at / answered) / 1000,  # the value of rank `at`
        histogram.get_max_value() / 1000,
    )


def short_summary(summary):
    """p50, p99 and max of a histogram_summary: what is kept of the driver's own timings."""
    return {key: summary[key] for key in ("p50", "p99", "max")}


def tree_figures(root_pid):
    """What a process tree holds now (TreeFigures), walking the tree only, not every process of the machine. A
    process that ends while it is read is left out."""
    figures = TreeFigures()
    for pid in processes.tree(root_pid):
        try:
            process = psutil.Process(pid)
            memory, fds = process.memory_full_info(), process.num_fds()
        except psutil.Error:
            continue
        figures.pss, figures.rss = figures.pss + memory.pss, figures.rss + memory.rss
        figures.fds, figures.processes = figures.fds + fds, figures.processes + 1
    return figures


def tree_cpu_seconds(root_pid):
    """CPU seconds used so far by a process tree, from the kernel: each live process's own time plus the time of
    its children that have ended and been waited for. A worker that starts and ends between two readings is
    counted too (in its parent's children's time)."""
    return cpu_seconds(processes.tree(root_pid))


def cpu_seconds(pids):
    """CPU seconds used so far by the processes `pids`, each with its children that have ended (a process tree,
    or every process of a host)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue  # gone between the listing and the reading: its time is now its parent's
        total += times.user + times.system + times.children_user + times.children_system
    return total


class TreeSampler(Periodic):
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
        now = tree_figures(self.root)
        self.peak_pss, self.peak_rss = max(self.peak_pss, now.pss), max(self.peak_rss, now.rss)
        self.peak_count = max(self.peak_count, now.processes)

    def stop(self):
        super().stop()
        self.step()
        return self.result()

    def result(self):
        cpu_s, wall_s = tree_cpu_seconds(self.root) - self.cpu_at_start, time.monotonic() - self.started
        return {
            "peak_pss_mb": round(self.peak_pss / 2**20, 1),
            "peak_rss_sum_mb": round(self.peak_rss / 2**20, 1),  # shared pages once per process: an upper bound
            "cpu_s": round(cpu_s, 2),
            "cores_busy": round(cpu_s / wall_s, 2),  # average cores used by the tree
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


def client_connections(process):
    """The TCP connections of clients on the server's port still open in its tree: established, or closed by the
    client and not yet by the server (CLOSE_WAIT). The tree's own connections (to Redis, to Dask's scheduler) are
    not counted; a process that ends while it is read is left out."""
    found = 0
    for pid in processes.tree(process.process.pid):
        try:
            connections = psutil.Process(pid).net_connections("tcp")
        except psutil.Error:
            continue
        found += sum(
            1 for c in connections if c.laddr and c.laddr.port == process.port and c.status != psutil.CONN_LISTEN
        )
    return found


def machine_cpu():
    """(busy, steal, all) CPU seconds of the whole machine so far, from /proc/stat's first line (USER_HZ ticks):
    busy counts every state but idle, iowait and steal; steal is the time the hypervisor ran someone else."""
    fields = [int(value) for value in open("/proc/stat").readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / hz, steal / hz, sum(fields) / hz


class TaskAccounting:
    """What the tasks of a measured run cost, from the server's own totals (GET /stats: each task's CPU time as
    the process that ran it measured it) read at its start and its end, and what the whole machine did meanwhile.

    in_task_share: the tasks' CPU seconds ÷ (CPUs × wall seconds): the share of the cores spent inside tasks.
    task_cpu_ms: the mean CPU time of one task (task_wall_ms: its wall time; the difference is time the task's
    thread waited: for the GIL, or for a core that something else held); cost_x: that ÷ the task's CPU time alone
    (T1's, on the row's Python): what sharing the machine, a pool or a subinterpreter add to each task.
    machine_busy_cores and steal_pct: the whole machine, from /proc/stat; the server tree's share of it is
    measured by TreeSampler."""

    def __init__(self, port, t1_cpu_s=None):
        self.port, self.t1_cpu_s = port, t1_cpu_s

    def totals(self):
        try:
            status, _, body = request(self.port, "/stats", timeout=10)
        except (OSError, ValueError):
            return None
        return body if status == 200 else None

    def start(self):
        self.before, self.machine_before, self.started = self.totals(), machine_cpu(), time.monotonic()

    def stop(self):
        after, machine, wall = self.totals(), machine_cpu(), time.monotonic() - self.started
        (busy0, steal0, all0), (busy1, steal1, all1) = self.machine_before, machine
        found = {
            "machine_busy_cores": round((busy1 - busy0) / wall, 2),
            "machine_busy_s": round(busy1 - busy0, 2),
            "accounted_s": round(wall, 2),
            "steal_pct": round(100 * (steal1 - steal0) / max(all1 - all0, 1e-9), 1),
        }
        if not (self.before and after):
            return found
        tasks = after["tasks"] - self.before["tasks"]
        measured = tasks - (after["tasks_without_cpu"] - self.before["tasks_without_cpu"])
        cpu_s = after["task_cpu_s"] - self.before["task_cpu_s"]
        wall_s = after["task_s"] - self.before["task_s"]
        found.update(
            tasks_counted=tasks,
            task_cpu_s=round(cpu_s, 3),
            task_wall_ms=round(1000 * wall_s / tasks, 2) if tasks else None,
            in_task_share=round(cpu_s / (processes.cpu_count() * wall), 3) if measured else None,
            task_cpu_ms=round(1000 * cpu_s / measured, 2) if measured else None,
        )
        if measured and self.t1_cpu_s:
            found["cost_x"] = round(cpu_s / measured / self.t1_cpu_s, 3)
        return found
