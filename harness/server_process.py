"""How to start, query and stop one of the servers as a subprocess, its whole process tree accounted for."""

import ctypes
import functools
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import psutil

from harness.network import request
from harness.servers import ROOT, Server
from processes import descendants, kill_all, port_is_free, tree


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
