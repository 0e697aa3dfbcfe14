"""The work a request asks for, in kinds that differ in what the strategies can do with them.

Standard-library imports only: pool workers, Dask workers and subinterpreters import this module and nothing else.
``python tasks.py`` times each kind on this machine (the http kind needs backend.py running).

- ``cpu``: count the primes below n by trial division, in pure Python: holds the GIL the whole time.
- ``hash``: n rounds of SHA-256 over a 64 KiB block, chained: C code that releases the GIL (hashlib does so for
  data of 2 KiB and more), so threads run it on every core.
- ``sleep``: wait n ms in ``time.sleep``: a call through a synchronous client (database, SMTP, a remote API).
- ``http``: a real HTTP request to a backend that answers after n ms (backend.py).
- ``db``: a query that waits n ms in PostgreSQL (``pg_sleep``) and returns n, through SQLAlchemy's engine and its
  connection pool (one a process), on psycopg 3: sync, or awaited where the strategy awaits (``--cooperative``).
- ``MODULE:FUNCTION``: your own function, called with n; it must return something JSON can encode.
"""

import asyncio
import hashlib
import importlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
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


# The db kind's query: waits n ms in the database server, then answers n (the check that it ran).
QUERY = "SELECT CAST(:n AS integer) FROM pg_sleep(:seconds)"
_engines, _engines_lock = {}, threading.Lock()


DEFAULT_CONNECTIONS = 5 + 10  # SQLAlchemy's QueuePool: 5 kept, 10 more on overflow, then a wait


def engine_options(pool):
    """SQLAlchemy's pool settings: its default (5 connections, 10 more on overflow, a wait of up to 30 s for one)
    if pool is None, else exactly `pool` connections."""
    return {} if pool is None else {"pool_size": pool, "max_overflow": 0}


def driver_url(url):
    """SQLAlchemy's URL for a postgresql:// one: through psycopg 3."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def engine(url, pool, loop=None):
    """This process's engine for the database at `url` (postgresql://...), made the first time it is asked for:
    its pool is shared by every thread of the process, as an app's is; an async engine (`loop`: the running loop)
    by every coroutine of that loop, whose connections it alone can use."""
    key = (url, pool, loop)
    with _engines_lock:
        if key not in _engines:
            import sqlalchemy  # imported here: only the db kind needs it
            from sqlalchemy.ext.asyncio import create_async_engine

            make = sqlalchemy.create_engine if loop is None else create_async_engine
            _engines[key] = make(driver_url(url), **engine_options(pool))
        return _engines[key]


def close_connections():
    """Close the connections this process's sync engines hold (the harness's own, once it has timed a task)."""
    with _engines_lock:
        for key in [key for key in _engines if key[2] is None]:
            _engines.pop(key).dispose()


def shown_url(url):
    """The URL without its password, as messages show it; a malformed one too (it is what they are about)."""
    user, at, rest = url.rpartition("@")
    scheme, slashes, login = user.partition("://")
    if not at or not slashes or ":" not in login:
        return url
    return f"{scheme}://{login.split(':', 1)[0]}:***@{rest}"


def query(url, pool, n):
    """The db kind, blocking: a connection from the process's pool (waiting for one if all are taken), the query."""
    import sqlalchemy

    with engine(url, pool).connect() as connection:
        return connection.execute(sqlalchemy.text(QUERY), {"n": n, "seconds": n / 1000}).scalar_one()


async def query_async(url, pool, n):
    """The db kind, awaited: the same query through the async engine of the running loop."""
    import sqlalchemy

    async with engine(url, pool, asyncio.get_running_loop()).connect() as connection:
        return (await connection.execute(sqlalchemy.text(QUERY), {"n": n, "seconds": n / 1000})).scalar_one()


@dataclass(frozen=True)
class Kind:
    name: str
    default_n: int
    max_n: int
    waits: bool  # True: it waits rather than computes, so its limit is users / T1, not CPUs / T1
    needs_modules: tuple = ()  # what it imports beyond the standard library (a row whose Python lacks them cannot)


KINDS = {
    "cpu": Kind("cpu", 140_000, 2_000_000, False),
    "hash": Kind("hash", 2_000, 100_000, False),
    "sleep": Kind("sleep", 100, 5_000, True),
    "http": Kind("http", 100, 5_000, True),
    "db": Kind("db", 100, 5_000, True, ("psycopg", "sqlalchemy")),
}


class TaskError(ValueError):
    """A --task that cannot run: the message names the problem in one line."""


@dataclass(frozen=True)
class Task:
    """What a request runs: a kind, or a user's MODULE:FUNCTION. Small and picklable, so that it crosses to
    worker processes and Dask workers with each request; they resolve the user's function themselves."""

    kind: str = "cpu"
    backend: str = DEFAULT_BACKEND
    database: str = None  # the db kind's PostgreSQL, postgresql://USER@HOST:PORT/NAME
    db_pool: int = None  # the db kind's connections a process: None, SQLAlchemy's default pool

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


REACH = """
import sys
import sqlalchemy
engine = sqlalchemy.create_engine(sys.argv[1], poolclass=sqlalchemy.pool.NullPool, connect_args={"connect_timeout": 5})
with engine.connect() as connection:
    connection.execute(sqlalchemy.text("SELECT 1"))
"""


def reach(url):
    """Raise TaskError, in one line, if the database at `url` cannot be queried now: checked at start-up, so that a
    wrong --database is a one-line error, not a 500 on every request. In a process of its own, through the engine
    the task uses: the server imports no driver before it forks its workers (gevent's patch them after)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", REACH, driver_url(url)], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        raise TaskError(f"--database {shown_url(url)}: no answer within 30 s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        said = next((line for line in lines if "Error" in line.split(":")[0]), lines[-1] if lines else "")
        raise TaskError(f"--database {shown_url(url)}: cannot query it: {said.split(': ', 1)[-1]}")


def check_database(task):
    """Raise TaskError if the task's --database or --db-pool is malformed (whether it answers: reach())."""
    if task.database:
        said = ""
        try:
            urllib.parse.urlsplit(task.database).port  # noqa: B018 (reading it checks the host and the port)
        except ValueError as error:
            said = f" ({error})"
        if said or not task.database.startswith("postgresql://"):
            raise TaskError(f"--database {shown_url(task.database)!r}{said}: expected postgresql://USER@HOST:PORT/NAME")
    if task.db_pool is not None and task.db_pool < 1:
        raise TaskError("--db-pool must be at least 1")


def check(task, awaited_by=None):
    """Raise TaskError if `task` cannot run under this strategy; called at start-up, not at request time.
    `awaited_by`: the option by which the server awaits the task ("--cooperative"), None if it calls it."""
    if task.kind == "db" and not task.database:
        raise TaskError("--task db needs --database URL (postgresql://USER@HOST:PORT/NAME; run_all.py starts one)")
    check_database(task)
    if task.kind not in KINDS:
        function = load(task.kind)
        is_async = inspect.iscoroutinefunction(function)
        if awaited_by and not is_async:
            raise TaskError(f"--task {task.kind}: {awaited_by} awaits the task: make it an async def")
        if not awaited_by and is_async:
            raise TaskError(f"--task {task.kind} is an async def: only a server that awaits it can run it")


def module_files(task):
    """The files a worker elsewhere needs to import the task: this one, and the user's module if it is one file."""
    module = sys.modules[load(task.kind).__module__] if task.user_function else None
    return [__file__] + ([module.__file__] if module and getattr(module, "__file__", None) else [])


def prepare(task):
    """Run in a worker before the first request: import what the task needs there (a user's module, the db kind's
    driver: a subinterpreter that cannot load it says so at start-up)."""
    for module in task.spec().needs_modules:
        importlib.import_module(module)
    return os.getpid()


def connect(task):
    """Open this process's first connection to the db kind's database before the first request (its engine set up
    too); nothing for the other kinds, nor when the database does not answer: the first task says why."""
    if task.kind == "db":
        import sqlalchemy

        try:
            with engine(task.database, task.db_pool).connect():
                pass
        except sqlalchemy.exc.SQLAlchemyError:
            pass


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
    if task.kind == "db":
        return query(task.database, task.db_pool, n)
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
    elif task.kind == "db":
        result, cpu = await query_async(task.database, task.db_pool, n), None
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
    close_connections()  # the timer serves nothing: it keeps no connection of the database's open meanwhile
    return statistics.median(times)


if __name__ == "__main__":
    for kind in KINDS.values():
        if kind.name == "db":
            print(f"{kind.name:6} n={kind.default_n:<7} not timed: needs a database (run_all.py --tasks db starts one)")
            continue
        try:
            print(f"{kind.name:6} n={kind.default_n:<7} median of 5 runs: {time_task(Task(kind.name)) * 1000:6.1f} ms")
        except OSError as error:
            print(f"{kind.name:6} n={kind.default_n:<7} not timed: {error} (start backend.py first)")
