"""The numbered servers as a declarative list, and how to start, query and stop one of them as a subprocess."""

import ctypes
import functools
import http.client
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from processes import descendants, kill_all, port_is_free, tree

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# The hosts of harness/hosts.py: network namespaces made by the suite, with addresses of the benchmarking range
# 198.18.0.0/15 (RFC 2544) routed nowhere else. The load drivers load these or loopback, nothing else.
HOSTS_NETWORK = ipaddress.ip_network("198.18.0.0/24")
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
    takes_max_pending: bool = False  # has the option --max-pending N
    pool_option: str = None  # the option that sizes its pool: --workers (threads or processes), --threads (Dask's)
    # What answers HTTP: "tornado", "http.server" (the standard library's, one thread), "uvicorn" (FastAPI on it).
    http_stack: str = "tornado"
    jobs: str = None  # where POST /jobs keeps background jobs: "memory" (lost when it stops), "redis"; None: no jobs
    needs_python: tuple = (3, 11)  # the oldest Python it runs on; a newer one than the suite's comes from .venv313
    needs_programs: tuple = ()  # programs it starts, from the machine's packages (make tools installs them)
    # On a free-threaded Python (the GIL removed; .venv313t, make venv313t): the same script as its twin with the
    # GIL, the interpreter the only difference.
    free_threaded: bool = False

    @property
    def python(self):
        """The interpreter to start it with: this one if new enough, else .venv313's (make venv313), or .venv313t's
        for a free-threaded row (make venv313t); None if none."""
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
    def own_processes(self):
        """Whether tasks run in other processes than the server's (answers carry a worker's pid)."""
        return self.runs_in in ("processes", "cluster", "queue", "copies")

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
        return " ".join((self.name, *self.options)) + (" (free-threaded)" if self.free_threaded else "")

    def with_options(self, *options):
        return replace(self, options=self.options + options)


SERVERS = [
    Server("1_sync", "1_sync.py", 8000, http_stack="http.server"),
    Server("2_async", "2_async.py", 8001),
    Server("2_async --cooperative", "2_async.py", 8001, ("--cooperative",), runs_in="loop"),
    Server("2_async --processes", "2_async.py", 8001, ("--processes",), runs_in="copies"),
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
        takes_max_pending=True,
        pool_option="--workers",
        http_stack="uvicorn",
        jobs="memory",
    ),
    Server(
        "8_fastapi --endpoint async", "8_fastapi.py", 8007, ("--endpoint", "async"), http_stack="uvicorn", jobs="memory"
    ),
    Server(
        "8_fastapi --endpoint process",
        "8_fastapi.py",
        8007,
        ("--endpoint", "process"),
        runs_in="processes",
        takes_max_pending=True,
        pool_option="--workers",
        http_stack="uvicorn",
        jobs="memory",
    ),
    Server(
        "8_fastapi --processes",
        "8_fastapi.py",
        8007,
        ("--processes",),
        runs_in="copies",
        pool_option="--workers",
        http_stack="uvicorn",
    ),
    # Servers 3 and 4 again, unchanged, on a free-threaded Python: threads against processes without a GIL.
    Server(
        "3_async_threadexecutor",
        "3_async_threadexecutor.py",
        8002,
        runs_in="threads",
        takes_max_pending=True,
        pool_option="--workers",
        jobs="memory",
        free_threaded=True,
    ),
    Server(
        "4_async_processexecutor",
        "4_async_processexecutor.py",
        8003,
        runs_in="processes",
        takes_max_pending=True,
        pool_option="--workers",
        jobs="memory",
        free_threaded=True,
    ),
]
GIL_ROWS = [server for server in SERVERS if not server.free_threaded]  # the tests where a twin behaves the same
BACKEND = Server("backend", "backend.py", 8100)  # the slow service of the http task kind


@functools.cache
def python_version(python):
    """(major, minor, micro) of the interpreter at that path."""
    found = subprocess.run(
        [python, "-c", "import sys; print(*sys.version_info[:3])"], capture_output=True, text=True, timeout=30
    ).stdout.split()
    return tuple(map(int, found)) if found else (0, 0, 0)


@functools.cache
def is_free_threaded(python):
    """Whether the interpreter at that path is a free-threaded build (Py_GIL_DISABLED)."""
    found = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_config_var('Py_GIL_DISABLED'))"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    return found == "1"


def by_name(label):
    """The row of that label: "3_async_threadexecutor", "3_async_threadexecutor (free-threaded)"."""
    return next(server for server in SERVERS if server.label == label)


def request(port, path="/", method="GET", timeout=30, host=HOST):
    """One HTTP request on a new connection: (status, headers (case-insensitive: uvicorn sends them in lower case),
    body parsed as JSON or None if empty). `host`: another address than loopback (harness/hosts.py's)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        data = response.read()
        return response.status, response.headers, json.loads(data) if data else None
    finally:
        connection.close()


@functools.cache
def adopt_orphans():
    """Make this process a child subreaper (Linux's PR_SET_CHILD_SUBREAPER): a process below it whose parent ends
    becomes its child, not init's, so that the workers a killed server leaves behind are still found in its tree,
    and killed by pid. Once, when the first server is started. The price: an orphan of anything else this process
    started (a test's own Dask or Celery processes) also becomes its child, and stays a zombie until this process
    ends, unless processes() finds it among a server's; none of them runs or holds a port."""
    ctypes.CDLL(None).prctl(36, 1)  # 36: PR_SET_CHILD_SUBREAPER


def reap(proc):
    """Wait for an orphan that was re-parented here and has ended, so that no zombie stays."""
    try:
        if proc.ppid() == os.getpid():
            os.waitpid(proc.pid, os.WNOHANG)
    except (OSError, psutil.Error):
        pass


def _alive(proc):
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class ServerProcess:
    """A server started as a subprocess in a session of its own (a terminal's Ctrl-C is for its parent to act on).

    Its output goes to a log file, not a pipe, so that a chatty server can never block on a full pipe.
    """

    server: Server
    port: int
    extra_args: tuple = ()
    process: subprocess.Popen = None
    log: object = None
    tree: dict = field(default_factory=dict)  # pid -> psutil.Process of every process seen in its tree
    # The TMPDIR of the server and of all it starts: made at start; at stop, what the server left there is named in
    # left_behind (a clean stop leaves nothing), then removed, even after a SIGKILL that left the server no chance.
    tmpdir: str = None
    left_behind: list = field(default_factory=list)

    def start(self):
        adopt_orphans()
        self.log = tempfile.TemporaryFile("w+")
        if self.tmpdir:  # started again (after a kill): what the last one left goes
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = tempfile.mkdtemp(prefix="server-")
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "TMPDIR": self.tmpdir},
        )
        return self

    def command(self):
        return [
            self.server.python or sys.executable,
            self.server.script,
            "--port",
            str(self.port),
            *self.server.args,
            *self.server.options,
            *self.extra_args,
        ]

    def wait_healthy(self, timeout=30):
        """Wait until GET /health answers 200 (real requests, each with a timeout). False if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if request(self.port, "/health", timeout=2)[0] == 200:
                    self.processes()
                    return True
            except (OSError, http.client.HTTPException, ValueError):
                pass  # not listening yet, or not answering HTTP yet
            time.sleep(0.05)
        return False

    def processes(self):
        """The server's live processes now: its tree, and the workers it left orphaned (after the server itself is
        gone, or a process between them). adopt_orphans() has made those children of this process: they are found
        among its descendants by their process group (the server's pid: it leads a session of its own) or as a
        process seen in the server's tree before; one that has ended is reaped here. Walks trees only, not every
        process of the machine. Every process ever seen is remembered, to check that all are gone."""
        server = self.process.pid
        own = set(tree(server)) if self.process.returncode is None else set()  # once waited for, its pid is free
        found = {}
        for pid in sorted(own | set(descendants())):
            try:
                proc = psutil.Process(pid)
                if pid in own or proc == self.tree.get(pid) or os.getpgid(pid) == server:
                    found[pid] = proc
            except (OSError, psutil.Error):
                pass  # gone meanwhile
        alive = []
        for pid, proc in found.items():
            if _alive(proc):
                alive.append(proc)
            elif pid != server:  # the server itself is subprocess.Popen's to wait for
                reap(proc)
        self.tree.update((p.pid, p) for p in alive)
        return alive

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def send(self, signum, group=False):
        """Send a signal to the server, or to its whole process group as a terminal's Ctrl-C does."""
        self.processes()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signum) if group else self.process.send_signal(signum)

    def leftovers(self, timeout=5):
        """Processes of the tree still alive `timeout` seconds from now (waiting for them to go)."""
        deadline = time.monotonic() + timeout
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self.processes()
        remaining = [p for p in self.tree.values() if _alive(p)]
        _, alive = psutil.wait_procs(remaining, timeout=max(0.0, deadline - time.monotonic()))
        return alive

    def stop(self, signum=signal.SIGTERM, timeout=5):
        """Stop the server with `signum`; True if its whole tree was gone within `timeout` s, the port is free and
        (if it was still running) it left no temporary file.

        Whatever is still alive then is killed, by pid, and its temporary directory removed, so that nothing is
        ever left behind.
        """
        if self.process is None:
            return True
        stopped_here = self.process.poll() is None  # else it ended before (killed, say): what it left is not a fault
        self.send(signum)
        alive = self.leftovers(timeout)
        kill_all(alive)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.tmpdir and os.path.isdir(self.tmpdir):
            self.left_behind = sorted(os.listdir(self.tmpdir))
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return not alive and port_is_free(self.port) and not (stopped_here and self.left_behind)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self.log.close()
