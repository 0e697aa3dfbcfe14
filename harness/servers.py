"""The numbered servers as a declarative list: each row's traits, and the interpreter it runs on."""

import math
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from harness.interpreters import is_free_threaded, python_version

ROOT = Path(__file__).resolve().parent.parent
FREE_THREADED_PYTHON = ROOT / ".venv313t" / "bin" / "python"  # make venv313t


@dataclass(frozen=True)
class Server:
    name: str  # the strategy it answers with: the script's name, plus its variant's option
    script: str
    port: int
    args: tuple = ()
    options: tuple = ()  # settings that do not change the strategy, such as --max-pending
    # Where the task runs: "server" (the server's only thread: nothing else is served meanwhile), "loop" (slices
    # on the IOLoop), "threads", "interpreters" (threads, each with a subinterpreter and a GIL of its own),
    # "processes" (worker processes of its own), "cluster" (Dask's workers), "queue" (Celery's workers, fed through
    # Redis), "copies" (pre-fork: N copies of the server on one port, each running its tasks inline, or, for
    # 8_fastapi, in its own threads).
    runs_in: str = "server"
    # How a user of its framework writes it, where the suite's option does not say ("a def endpoint", ...), and
    # what its pool_option's value N is in that framework's terms ("anyio's thread limit raised to {n}"): the short
    # answer's words.
    written_as: str = ""
    pool_is: str = ""
    takes_max_pending: bool = False  # has the option --max-pending N
    pool_option: str = None  # the option that sizes its pool: --workers (threads or processes), --threads (Dask's)
    # Whether pool_option sizes each of its worker processes, one a CPU (Dask's --threads: threads per worker),
    # rather than the one pool; sized_for() turns N tasks at once into its value either way.
    pool_per_worker: bool = False
    # What answers HTTP: "tornado", "http.server" (the standard library's, one thread), "uvicorn", "gunicorn",
    # "granian"; and the framework the app is written in: the answer's rows for one framework's users.
    http_stack: str = "tornado"
    framework: str = "tornado"
    # What a reader adds to their stack for it (STACK below), where runs_in does not say: nothing for a WSGI
    # server's own workers and threads, which are settings of the server they run anyway.
    adds: str = None
    # The row whose HTTP answers this one's are (the same app and HTTP server; another worker model or
    # interpreter): the tests of the HTTP interface run on that one only.
    answers_as: str = None
    # Whether each of its processes runs one task at a time (None: as runs_in says: the server's only thread, a
    # pool's worker process, a Celery worker, a subinterpreter; not threads, a loop, Dask's threads): one connection
    # is then all a process asks its pool of database connections for.
    one_task_a_process: bool = None
    jobs: str = None  # where POST /jobs keeps background jobs: "memory" (lost when it stops), "redis"; None: no jobs
    needs_python: tuple = (3, 11)  # the oldest Python it runs on; a newer one than the suite's comes from .venv313
    needs_programs: tuple = ()  # programs it starts, from the machine's packages (make tools installs them)
    # On a free-threaded Python (the GIL removed; .venv313t, make venv313t): the same script as its twin with the
    # GIL, the interpreter the only difference.
    free_threaded: bool = False
    # A yardstick's: runs on the interpreter of the row of this label (the process pool beside server 7 on
    # .venv313), so that every row's ratio is against a process pool on its own Python. Not a strategy to test.
    python_of: str = None

    @property
    def python(self):
        """The interpreter to start it with: this one if new enough, else .venv313's (make venv313), or .venv313t's
        for a free-threaded row (make venv313t); None if none."""
        if self.python_of:
            return by_name(self.python_of).python
        if self.free_threaded:
            found = str(FREE_THREADED_PYTHON)
            return found if FREE_THREADED_PYTHON.exists() and is_free_threaded(found) else None
        if sys.version_info >= self.needs_python:
            return sys.executable
        newer = ROOT / ".venv313" / "bin" / "python"
        return str(newer) if newer.exists() and python_version(str(newer)) >= self.needs_python else None

    @property
    def missing(self):
        """Why it cannot run here, in a few words; None if it can."""
        wanted = ".".join(map(str, self.needs_python))
        if not self.python and self.free_threaded:
            return "needs a free-threaded Python: none found (make venv313t, or PYTHON_FT=/path)"
        if not self.python:
            return f"needs Python {wanted}+: none found (make venv313, or PYTHON313=/path)"
        absent = [program for program in self.needs_programs if not shutil.which(program)]
        return f"needs {', '.join(absent)}: not found (make tools)" if absent else None

    @property
    def tasks_share_a_pool(self):
        """Whether several tasks at once share one process's connection pool (threads, a loop, greenlets)."""
        if self.one_task_a_process is not None:
            return not self.one_task_a_process
        return self.runs_in not in ("server", "processes", "queue", "interpreters")

    @property
    def own_processes(self):
        """Whether tasks run in other processes than the server's (answers carry a worker's pid): Granian's
        workers are processes too, except on a free-threaded Python."""
        granian_worker = self.http_stack == "granian" and not self.free_threaded
        return self.runs_in in ("processes", "cluster", "queue", "copies") or granian_worker

    @property
    def drops_work_of_clients_gone(self):
        """Whether a task not yet started for a client that has gone is dropped: Tornado's on_connection_close
        cancels it; uvicorn does not cancel the endpoint, so FastAPI runs it to the end, unanswered."""
        return self.http_stack == "tornado"

    @property
    def number(self):
        """What --servers calls it: "3", or "3t" for its free-threaded twin."""
        return self.name.split("_")[0] + ("t" if self.free_threaded else "")

    @property
    def label(self):
        """What results, tables and tests call it: unique among the rows."""
        interpreter = (
            " (free-threaded)" if self.free_threaded else f" (beside {self.python_of})" if self.python_of else ""
        )
        return " ".join((self.name, *self.options)) + interpreter

    def with_options(self, *options):
        return replace(self, options=self.options + options)

    def with_connections_for(self, at_once):
        """The row with the db kind's connections sized for `at_once` tasks (--db-pool) where tasks at once share
        one process's pool; itself otherwise (one task a process asks its pool for one connection)."""
        return self.with_options("--db-pool", str(at_once)) if self.tasks_share_a_pool else self

    def sized_for(self, at_once, cpus):
        """The row with its pool sized to run `at_once` tasks at once on `cpus` CPUs: pool_option with at_once, or,
        when the option sizes each worker process (one a CPU), with at_once / cpus rounded up. Itself if it has no
        pool to size."""
        if self.pool_option is None:
            return self
        return self.with_options(self.pool_option, str(math.ceil(at_once / cpus) if self.pool_per_worker else at_once))


SERVERS = [
    Server("1_sync", "1_sync.py", 8000, http_stack="http.server", framework="http.server"),
    Server("2_async", "2_async.py", 8001),
    Server("2_async --cooperative", "2_async.py", 8001, ("--cooperative",), runs_in="loop"),
    Server("2_async --processes", "2_async.py", 8001, ("--processes",), runs_in="copies", one_task_a_process=True),
    Server(
        "3_async_threadexecutor",
        "3_async_threadexecutor.py",
        8002,
        runs_in="threads",
        takes_max_pending=True,
        pool_option="--workers",
        jobs="memory",
    ),
    Server(
        "4_async_processexecutor",
        "4_async_processexecutor.py",
        8003,
        runs_in="processes",
        takes_max_pending=True,
        pool_option="--workers",
        jobs="memory",
    ),
    Server(
        "5_async_dask",
        "5_async_dask.py",
        8004,
        runs_in="cluster",
        takes_max_pending=True,
        pool_option="--threads",
        pool_per_worker=True,
        jobs="memory",
    ),
    Server(
        "6_async_celery",
        "6_async_celery.py",
        8005,
        runs_in="queue",
        takes_max_pending=True,
        pool_option="--workers",
        jobs="redis",
        needs_programs=("redis-server",),
    ),
    Server(
        "7_async_interpreterpool",
        "7_async_interpreterpool.py",
        8006,
        runs_in="interpreters",
        takes_max_pending=True,
        pool_option="--workers",
        jobs="memory",
        needs_python=(3, 13),
    ),
    # FastAPI on uvicorn: where the task runs follows from how the endpoint is written (8_fastapi.py).
    Server(
        "8_fastapi",
        "8_fastapi.py",
        8007,
        runs_in="threads",
        written_as="a def endpoint, the default",
        pool_is="anyio's thread limit raised to {n}: total_tokens, not uvicorn's --workers",
        takes_max_pending=True,
        pool_option="--workers",
        http_stack="uvicorn",
        framework="fastapi",
        jobs="memory",
    ),
    Server(
        "8_fastapi --endpoint async",
        "8_fastapi.py",
        8007,
        ("--endpoint", "async"),
        written_as="an async def endpoint calling the work",
        http_stack="uvicorn",
        framework="fastapi",
        jobs="memory",
    ),
    Server(
        "8_fastapi --endpoint cooperative",
        "8_fastapi.py",
        8007,
        ("--endpoint", "cooperative"),
        runs_in="loop",
        written_as="an async def endpoint awaiting an async client (SQLAlchemy's async engine, an async HTTP client)",
        http_stack="uvicorn",
        framework="fastapi",
        jobs="memory",
        answers_as="8_fastapi --endpoint async",
    ),
    Server(
        "8_fastapi --endpoint process",
        "8_fastapi.py",
        8007,
        ("--endpoint", "process"),
        runs_in="processes",
        written_as="an async def endpoint awaiting a ProcessPoolExecutor",
        pool_is="{n} processes",
        takes_max_pending=True,
        pool_option="--workers",
        http_stack="uvicorn",
        framework="fastapi",
        jobs="memory",
    ),
    Server(
        "8_fastapi --processes",
        "8_fastapi.py",
        8007,
        ("--processes",),
        runs_in="copies",
        written_as="def endpoints in uvicorn's worker processes, uvicorn --workers",
        pool_is="anyio's thread limit {n} in each",
        pool_option="--workers",
        http_stack="uvicorn",
        framework="fastapi",
    ),
    Server(
        "8_fastapi --server granian",
        "8_fastapi.py",
        8007,
        ("--server", "granian"),
        runs_in="threads",
        written_as="a def endpoint on Granian",
        pool_is="anyio's thread limit raised to {n}",
        takes_max_pending=True,
        pool_option="--workers",
        http_stack="granian",
        framework="fastapi",
        jobs="memory",
    ),
    # Flask (WSGI) on gunicorn and on Granian (9_flask.py): the server's worker model is the strategy.
    Server(
        "9_flask",
        "9_flask.py",
        8008,
        runs_in="copies",
        one_task_a_process=True,  # a sync worker serves one request at a time
        written_as="gunicorn's sync workers, the default",
        pool_is="gunicorn --workers {n}",
        pool_option="--processes",
        http_stack="gunicorn",
        framework="flask",
        adds="nothing",
    ),
    Server(
        "9_flask --worker-class gthread",
        "9_flask.py",
        8008,
        ("--worker-class", "gthread"),
        runs_in="copies",
        written_as="gunicorn's gthread workers",
        pool_is="gunicorn --threads {n} in each worker",
        pool_option="--threads",
        pool_per_worker=True,
        http_stack="gunicorn",
        framework="flask",
        adds="nothing",
        answers_as="9_flask",
    ),
    Server(
        "9_flask --worker-class gevent",
        "9_flask.py",
        8008,
        ("--worker-class", "gevent"),
        runs_in="copies",
        written_as="gunicorn's gevent workers",
        http_stack="gunicorn",
        framework="flask",
        adds="nothing",
        answers_as="9_flask",
    ),
    Server(
        "9_flask --server granian",
        "9_flask.py",
        8008,
        ("--server", "granian"),
        runs_in="copies",
        written_as="Granian's WSGI workers",
        pool_is="Granian --blocking-threads {n} in each worker",
        pool_option="--threads",
        pool_per_worker=True,
        http_stack="granian",
        framework="flask",
        adds="nothing",
    ),
]


def free_threaded_twin(name, **changes):
    """The row of that name again, on a free-threaded Python (the GIL removed; .venv313t, make venv313t): the same
    script, the interpreter the only difference, and `changes` where that difference changes a trait."""
    return replace(next(s for s in SERVERS if s.name == name), free_threaded=True, **changes)


SERVERS += [
    # Servers 3 and 4 again, unchanged: threads against processes without a GIL.
    free_threaded_twin("3_async_threadexecutor"),
    free_threaded_twin("4_async_processexecutor"),
    # Granian's workers are threads of one process there: a thread pool server without a GIL.
    free_threaded_twin("8_fastapi --server granian", answers_as="8_fastapi --server granian"),
    free_threaded_twin(
        "9_flask --server granian",
        runs_in="threads",
        written_as="Granian's WSGI workers, threads of one process",
        answers_as="9_flask --server granian",
    ),
]
# What a reader adds to their stack for a strategy, simplest first: the order that breaks a tie between rows the
# measurements cannot tell apart (harness/rounds.py choose).
NOTHING, STDLIB_POOL, INTERPRETER, CLUSTER, BROKER = STACK = (
    "nothing",
    "a standard-library pool",
    "another interpreter or build",
    "a cluster",
    "a broker",
)
# Where the task runs -> what a reader adds for it: their web server alone, a pool of the standard library, an
# interpreter of their own (subinterpreters, before 3.14's concurrent.futures.InterpreterPoolExecutor), a cluster,
# a broker.
RUNS_IN_ADDS = {
    "server": NOTHING,
    "loop": NOTHING,
    "copies": NOTHING,
    "threads": STDLIB_POOL,
    "processes": STDLIB_POOL,
    "interpreters": INTERPRETER,
    "cluster": CLUSTER,
    "queue": BROKER,
}
PROCESS_POOL = "4_async_processexecutor"  # the yardstick: every row's tasks/s against the process pool's
# Rows that are only yardsticks, added by with_yardsticks where a comparison needs them (not in SERVERS, so the tests
# that run every strategy do not run the process pool twice on Python 3.13).
YARDSTICKS = [
    replace(next(s for s in SERVERS if s.name == PROCESS_POOL), python_of="7_async_interpreterpool"),
]
GIL_ROWS = [server for server in SERVERS if not server.free_threaded]  # the tests where a twin behaves the same
BACKEND = Server("backend", "backend.py", 8100)  # the slow service of the http task kind


def by_name(label):
    """The row of that label: "3_async_threadexecutor", "3_async_threadexecutor (free-threaded)"."""
    return next(server for server in SERVERS + YARDSTICKS if server.label == label)


def with_yardsticks(servers):
    """The servers and, where the process pool on this Python is among them, the process pool on every other
    interpreter one of them runs on: each ratio is then against the pool on the row's own Python (server 7 runs on
    .venv313's 3.13, not on the suite's Python). Without the pool, no ratio is printed, and nothing is added."""
    if not any(server.name == PROCESS_POOL and server.python == sys.executable for server in servers):
        return servers
    pools = {server.python for server in servers if server.name == PROCESS_POOL}
    added = []
    for yardstick in [s for s in SERVERS if s.name == PROCESS_POOL] + YARDSTICKS:
        python = yardstick.python
        if python and python not in pools and any(server.python == python for server in servers):
            added.append(yardstick)
            pools.add(python)
    return servers + added
