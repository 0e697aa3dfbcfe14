"""A PostgreSQL of the suite's own for the db task kind: a cluster made with initdb in a temporary directory, its
server on a free loopback port, stopped and removed afterwards (the distribution's package: make tools).

PostgreSQL refuses to run as root: as root, the cluster belongs to the package's "postgres" user, and the server
runs as that user. Nothing of it is left: the server is stopped by its pid (a fast shutdown, then SIGKILL), its
directory removed.

    with Postgres() as url:  # postgresql://bench@127.0.0.1:PORT/postgres
        ...
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from processes import free_port

USER = "bench"  # the cluster's superuser, trusted on loopback: a throwaway cluster, no password
START_TIMEOUT_S = 30


def binaries():
    """The folder of initdb and postgres (Debian's /usr/lib/postgresql/N/bin, the newest), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def missing():
    """Why no cluster can be made here, in a few words; None if one can."""
    if binaries() is None:
        return "needs PostgreSQL's initdb and postgres: not found (make tools installs postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "runs as root, and there is no 'postgres' user to run PostgreSQL as"
    return None


class Postgres:
    def __init__(self, max_connections=100):
        self.max_connections = max_connections
        self.folder = self.process = self.port = None
        self.lock = threading.RLock()  # a restart in one thread, a stop in another: one after the other

    def owner(self):
        """Popen's arguments to run as the package's postgres user when this runs as root (PostgreSQL will not)."""
        if os.geteuid() != 0:
            return {}
        return {"user": "postgres", "group": "postgres", "extra_groups": []}

    def start(self):
        """initdb, then the server, waited for until it takes connections; its URL. A failure is a RuntimeError of
        one line, with nothing left (the folder removed, the server stopped)."""
        try:
            return self.started()
        except BaseException as error:
            said = self.log().strip().splitlines()
            self.stop()
            if isinstance(error, subprocess.CalledProcessError):
                lines = (error.stderr or "").strip().splitlines()
                raise RuntimeError(f"initdb failed: {lines[-1] if lines else error}") from None
            if isinstance(error, Exception) and not isinstance(error, RuntimeError):
                raise RuntimeError(f"PostgreSQL did not start: {said[-1] if said else error!r}") from None
            raise

    def started(self):
        bin_dir = binaries()  # initdb: the cluster, then the server
        self.folder = tempfile.mkdtemp(prefix="postgres-")
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        data = os.path.join(self.folder, "data")
        subprocess.run(
            [f"{bin_dir}/initdb", "-D", data, "-U", USER, "--auth=trust", "--no-sync", "-E", "UTF8"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
            **self.owner(),
        )
        self.port = free_port()
        return self.serve()

    def serve(self):
        """The server started on the cluster made (on self.port), waited for until it takes connections; its URL."""
        with open(os.path.join(self.folder, "server.log"), "a") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [
                    f"{binaries()}/postgres",
                    "-D",
                    os.path.join(self.folder, "data"),
                    "-p",
                    str(self.port),
                    "-k",
                    self.folder,  # its Unix socket here, not in /var/run/postgresql
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"max_connections={self.max_connections}",
                    "-c",
                    "fsync=off",  # a benchmark's throwaway data
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **self.owner(),
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = self.log().strip().splitlines()
                raise RuntimeError(f"PostgreSQL did not start: {said[-1] if said else 'no output'}")
            time.sleep(0.1)
        return self.url

    @property
    def url(self):
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def ready(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
        except OSError:
            return False
        done = subprocess.run(
            [f"{binaries()}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER],
            capture_output=True,
            timeout=10,
        )
        return done.returncode == 0

    def log(self):
        if not self.folder:
            return ""
        try:
            with open(os.path.join(self.folder, "server.log")) as file:
                return file.read()
        except OSError:
            return ""

    def restart(self, down_s, stopping):
        """The server shut down fast (every connection ended), kept down for `down_s` (less if the threading.Event
        `stopping` is set), and started again on the same port and data; (when the shutdown began, when it took
        connections again), in time.monotonic(). RuntimeError (one line) if it did not come back, left shut down; or
        if `stopping` was set meanwhile, not started again."""
        with self.lock:
            fault_at = time.monotonic()
            self.shut_down()
        if stopping.wait(down_s):
            raise RuntimeError("PostgreSQL was not started again: stopping")
        with self.lock:
            if self.folder is None:
                raise RuntimeError("PostgreSQL was stopped and removed meanwhile")
            try:
                self.serve()
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:  # not ready, or not started
                self.shut_down()
                said = error if isinstance(error, RuntimeError) else f"PostgreSQL did not start: {error!r}"
                raise RuntimeError(f"{said} (after its restart)") from None
        return fault_at, time.monotonic()

    def running(self):
        return self.process is not None and self.process.poll() is None

    def shut_down(self):
        """A fast shutdown by pid (SIGINT: connections ended, no wait for clients), SIGKILL after 10 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None

    def stop(self):
        """The server shut down (shut_down) and the folder removed. Safe to call twice, and beside a restart."""
        with self.lock:
            self.shut_down()
            if self.folder:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.folder = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
