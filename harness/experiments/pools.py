"""What each pool costs by itself, without HTTP: start-up, memory per worker, the round trip of a tiny task, and
whether two pure-Python tasks run in parallel. Thread, process (forkserver, as server 4) and, on Python 3.13+,
subinterpreter pools (as server 7), each with two workers, one after the other in this process. MB/worker: a
process pool's worker by its own PSS; for threads and subinterpreters, which live in this process, what it grew
by ÷ the workers. MB besides: what else the pool added (a process pool's forkserver and resource tracker).

    .venv313/bin/python -m harness.experiments.pools  # or: make pools (Python 3.11 leaves the interpreter pool out)

No Tornado and no numpy (the standard library, psutil and the suite's own modules), so that it runs under .venv313
too.
"""

import multiprocessing
import os
import platform
import sys
import sysconfig
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import psutil

import tasks
from harness.cli import OneLineParser
from harness.instruments.measure import percentiles, tree_figures
from serving.pools import interpreter_pool

WORKERS = 2
TINY_N, TINY_CALLS = 10, 2000
CPU_N = 140_000


def tree_pss_mb():
    """PSS of this process and its children: each page shared by several counted once."""
    return tree_figures(os.getpid()).pss / 2**20


def pools():
    """Each pool this Python has; on a free-threaded build threads and processes (its subinterpreters are not the
    question here: .venv313 measures them)."""
    free = " (free-threaded)" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
    yield f"threads{free}", lambda: ThreadPoolExecutor(WORKERS)
    yield f"processes{free}", lambda: ProcessPoolExecutor(WORKERS, multiprocessing.get_context("forkserver"))
    if sys.version_info >= (3, 13) and not free:
        pool = interpreter_pool()
        yield "subinterpreters", lambda: pool(WORKERS)


def worker_pids(pool):
    """The pids of the pool's workers: WORKERS tasks that wait at once, one on each worker."""
    waiting = [pool.submit(tasks.run, tasks.Task("sleep", ""), 200) for _ in range(WORKERS)]
    return {future.result()["pid"] for future in waiting}


def measure(make):
    cpu = tasks.Task("cpu", "")
    before = tree_pss_mb()
    started = time.perf_counter()
    pool = make()
    for future in [pool.submit(tasks.prepare, cpu) for _ in range(WORKERS)]:
        future.result()
    start_s = time.perf_counter() - started
    grown_mb = tree_pss_mb() - before
    workers = worker_pids(pool) - {os.getpid()}
    # A process pool's workers by their own PSS: what the tree grew by also holds the forkserver and the resource
    # tracker, started with the pool but not per worker. Threads and subinterpreters live in this process.
    own_mb = sum(psutil.Process(pid).memory_full_info().pss for pid in workers) / 2**20 if workers else grown_mb
    per_worker_mb, other_mb = own_mb / WORKERS, grown_mb - own_mb
    round_trips = []
    for _ in range(TINY_CALLS):
        started = time.perf_counter()
        pool.submit(tasks.run, cpu, TINY_N).result()
        round_trips.append(time.perf_counter() - started)
    ones, twos = [], []
    for _ in range(5):  # interleaved, the best of each: a noisy neighbour only ever slows a measurement down
        ones.append(timed(lambda: pool.submit(tasks.run, cpu, CPU_N).result()))
        twos.append(timed(lambda: [f.result() for f in [pool.submit(tasks.run, cpu, CPU_N) for _ in range(2)]]))
    pool.shutdown()
    tiny_us = percentiles([seconds * 1e6 for seconds in round_trips], (50, 99))
    return {
        "start_ms": start_s * 1000,
        "mb_per_worker": per_worker_mb,
        "other_mb": other_mb,
        "tiny_p50_us": tiny_us["p50"],
        "tiny_p99_us": tiny_us["p99"],
        "two_over_one": min(twos) / min(ones),
    }


def timed(call):
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main(argv=None):
    OneLineParser(description=__doc__.splitlines()[0]).parse_args(argv)
    print(
        f"Python {platform.python_version()}, {WORKERS} workers each; tiny task: cpu n={TINY_N}, {TINY_CALLS} "
        f"round trips one at a time; two cpu n={CPU_N} tasks together ÷ one alone (best of 5)"
    )
    header = (
        f"{'pool':28} {'start ms':>9} {'MB/worker':>10} {'MB besides':>11} {'tiny p50 µs':>12} "
        f"{'tiny p99 µs':>12} {'two ÷ one':>10}"
    )
    print(header)
    for name, make in pools():
        r = measure(make)
        print(
            f"{name:28} {r['start_ms']:9.0f} {r['mb_per_worker']:10.1f} {r['other_mb']:11.1f} {r['tiny_p50_us']:12.0f} "
            f"{r['tiny_p99_us']:12.0f} {r['two_over_one']:10.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
