"""The work a request asks for, in kinds that differ in what the strategies can do with them.

Standard-library imports only: pool workers, Dask workers and subinterpreters import this module and nothing else.
``python tasks.py`` times each kind on this machine (the http kind needs backend.py running).

- ``cpu``: count the primes below n by trial division, in pure Python: holds the GIL the whole time.
- ``hash``: n rounds of SHA-256 over a 64 KiB block, chained: C code that releases the GIL (hashlib does so for
  data of 2 KiB and more), so threads run it on every core.
- ``sleep``: wait n ms in ``time.sleep``: a call through a synchronous client (database, SMTP, a remote API).
- ``http``: a real HTTP request to a backend that answers after n ms (backend.py).
- ``MODULE:FUNCTION``: your own function, called with n; it must return something JSON can encode.
"""

import asyncio
import hashlib
import importlib
import inspect
import json
import os
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass

SLICE = 2_000  # cpu: the cooperative variant yields to the IOLoop after each slice of this many numbers
HASH_SLICE = 20  # hash: ... after this many rounds (about 1 ms)
BLOCK = bytes(range(256)) * 256  # 64 KiB: far above the 2 KiB from which hashlib releases the GIL
DEFAULT_BACKEND = "http://127.0.0.1:8100"


def is_prime(k):
    if k < 2:
        return False
    if k % 2 == 0:
        return k == 2
    d = 3
    while d * d <= k:
        if k % d == 0:
            return False
        d += 2
    return True


def count_primes(lo, hi):
    """The number of primes p with lo <= p < hi."""
    return sum(1 for k in range(lo, hi) if is_prime(k))


def hash_rounds(digest, rounds):
    """`rounds` rounds of digest = SHA-256(digest + BLOCK), the block passed on its own so that it is not copied
    while the GIL is held."""
    for _ in range(rounds):
        h = hashlib.sha256(digest)
        h.update(BLOCK)
        digest = h.digest()
    return digest


def slices(n, size):
    """[0, n) cut into (lo, hi) slices of `size`."""
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def fetch(backend, n):
    with urllib.request.urlopen(f"{backend}/?ms={n}", timeout=n / 1000 + 30) as response:
        return json.loads(response.read())["ms"]


async def fetch_async(backend, n):
    from tornado.httpclient import AsyncHTTPClient  # imported here: a task in a worker needs no Tornado

    AsyncHTTPClient.configure(None, max_clients=10_000)  # Tornado's default of 10 would queue the 11th request
    response = await AsyncHTTPClient().fetch(f"{backend}/?ms={n}", request_timeout=n / 1000 + 30)
    return json.loads(response.body)["ms"]


@dataclass(frozen=True)
class Kind:
    name: str
    default_n: int
    max_n: int
    waits: bool  # True: it waits rather than computes, so its limit is users / T1, not CPUs / T1


KINDS = {
    "cpu": Kind("cpu", 140_000, 2_000_000, False),
    "hash": Kind("hash", 2_000, 100_000, False),
    "sleep": Kind("sleep", 100, 5_000, True),
    "http": Kind("http", 100, 5_000, True),
}


class TaskError(ValueError):
    """A --task that cannot run: the message names the problem in one line."""


@dataclass(frozen=True)
class Task:
    """What a request runs: a kind, or a user's MODULE:FUNCTION. Small and picklable, so that it crosses to
    worker processes and Dask workers with each request; they resolve the user's function themselves."""

    kind: str = "cpu"
    backend: str = DEFAULT_BACKEND

    @property
    def user_function(self):
        return ":" in self.kind

    def spec(self):
        if not self.user_function:
            return KINDS[self.kind]
        function = load(self.kind)
        return Kind(
            self.kind,
            getattr(sys.modules[function.__module__], "DEFAULT_N", 100),
            getattr(sys.modules[function.__module__], "MAX_N", 2_000_000),
            False,
        )


_loaded = {}


def load(spec):
    """The user's function of 'MODULE:FUNCTION', imported from the current folder or PYTHONPATH."""
    if spec not in _loaded:
        module_name, _, name = spec.partition(":")
        if not module_name or not name:
            raise TaskError(f"--task {spec!r}: expected a kind ({', '.join(KINDS)}) or MODULE:FUNCTION")
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # noqa: BLE001 - any failure to import is the user's to fix: say which
            raise TaskError(f"--task {spec}: cannot import {module_name}: {type(error).__name__}: {error}") from None
        function = getattr(module, name, None)
        if function is None:
            raise TaskError(f"--task {spec}: module {module_name} has no {name}")
        if not callable(function):
            raise TaskError(f"--task {spec}: {module_name}.{name} is not callable")
        _loaded[spec] = function
    return _loaded[spec]


def check(task, cooperative):
    """Raise TaskError if `task` cannot run under this strategy; called at start-up, not at request time."""
    if task.kind not in KINDS:
        function = load(task.kind)
        is_async = inspect.iscoroutinefunction(function)
        if cooperative and not is_async:
            raise TaskError(f"--task {task.kind}: --cooperative awaits the task: make it an async def")
        if not cooperative and is_async:
            raise TaskError(f"--task {task.kind} is an async def: only --cooperative can await it")


def module_files(task):
    """The files a worker elsewhere needs to import the task: this one, and the user's module if it is one file."""
    module = sys.modules[load(task.kind).__module__] if task.user_function else None
    return [__file__] + ([module.__file__] if module and getattr(module, "__file__", None) else [])


def prepare(task):
    """Run in a worker before the first request: import what the task needs there (a user's module)."""
    task.spec()
    return os.getpid()


def answer(result, started, cpu_s):
    """The part of a response that the process which computed it fills in: the result, its pid, the task's wall
    time, and the CPU time of the thread that ran it (the thread's own: time spent waiting for the GIL or for an
    answer is not work, and is not counted); None where it cannot be told (an awaited function of the user's)."""
    return {
        "result": result,
        "pid": os.getpid(),
        "task_ms": round((time.perf_counter() - started) * 1000, 3),
        "task_cpu_ms": None if cpu_s is None else round(cpu_s * 1000, 3),
    }


def compute(task, n):
    """The task's result, computed here and now, blocking."""
    if task.kind == "cpu":
        return count_primes(0, n)
    if task.kind == "hash":
        return hash_rounds(b"", n).hex()
    if task.kind == "sleep":
        time.sleep(n / 1000)
        return n
    if task.kind == "http":
        return fetch(task.backend, n)
    return load(task.kind)(n)


def run(task, n):
    """Run the whole task here and now; module-level with plain arguments, so that pools and clusters can run it."""
    started, cpu = time.perf_counter(), time.thread_time()
    result = compute(task, n)
    return answer(result, started, time.thread_time() - cpu)


async def run_cooperatively(task, n):
    """The task written for the IOLoop: CPU work in slices with a yield between them, waits awaited."""
    started, cpu = time.perf_counter(), 0.0  # CPU: the slices' own, not the other requests' run between them
    if task.kind == "cpu":
        result = 0
        for lo, hi in slices(n, SLICE):
            sliced = time.thread_time()
            result += count_primes(lo, hi)
            cpu += time.thread_time() - sliced
            await asyncio.sleep(0)  # let the IOLoop serve other requests between slices
    elif task.kind == "hash":
        result = b""
        for lo, hi in slices(n, HASH_SLICE):
            sliced = time.thread_time()
            result = hash_rounds(result, hi - lo)
            cpu += time.thread_time() - sliced
            await asyncio.sleep(0)
        result = result.hex()
    elif task.kind == "sleep":
        await asyncio.sleep(n / 1000)
        result = n
    elif task.kind == "http":
        result, cpu = await fetch_async(task.backend, n), None  # the client's work is spread over the loop
    else:
        result, cpu = await load(task.kind)(n), None
    return answer(result, started, cpu)


def time_task(task=Task(), n=None, runs=5, clock=time.perf_counter):
    """The median time in seconds of one task of size n (default: the kind's), run here: wall time, or with
    clock=time.thread_time the CPU time of this thread."""
    n = n or task.spec().default_n
    times = []
    for _ in range(runs):
        started = clock()
        compute(task, n)
        times.append(clock() - started)
    return statistics.median(times)


if __name__ == "__main__":
    for kind in KINDS.values():
        try:
            print(f"{kind.name:6} n={kind.default_n:<7} median of 5 runs: {time_task(Task(kind.name)) * 1000:6.1f} ms")
        except OSError as error:
            print(f"{kind.name:6} n={kind.default_n:<7} not timed: {error} (start backend.py first)")
