"""Where one run's programs run, and how they are started and asked: an engine's broker or scheduler, two workers
and the web server (harness/hosts/engines.py) each on a host of its own (harness/hosts/namespaces.py's Hosts), or
the same commands on 127.0.0.1 (Loopback: free ports, nothing to cut or kill).

On entry the hosts are built; on exit every program on them is stopped and the hosts removed, whatever happened.
"""

import os
import time

from harness.hosts.namespaces import Hosts, Loopback
from harness.network import request
from harness.servers import ROOT
from processes import free_port

PLACEMENTS = {"hosts": Hosts, "loopback": Loopback}
WORKERS = ("worker1", "worker2")
ROLES = {"web": ("web",), "broker": ("broker",), "workers": WORKERS}  # each role's hosts, for their CPU seconds


def two_free_ports():
    while True:
        ports = free_port(), free_port()
        if ports[0] != ports[1]:
            return ports


class Placement:
    """One engine's programs on `hosts` (default: hosts of their own), their output appended to the folder's log,
    each job's n marked in its file of marks; `settings`, environment variables of every program (an engine's
    timeouts)."""

    def __init__(self, engine, folder, hosts=None, settings=None):
        self.engine, self.folder = engine, folder
        self.hosts = Hosts() if hosts is None else hosts
        self.ports = (
            {"broker": engine.broker_port, "web": engine.port}
            if isinstance(self.hosts, Hosts)
            else dict(zip(("broker", "web"), two_free_ports(), strict=True))
        )  # on loopback: free ones
        self.marks = os.path.join(folder, "marks")
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join((folder, str(ROOT))),
            "CLUSTER_MARKS": self.marks,
            "PYTHONWARNINGS": "ignore:You're running the worker with superuser",
            **dict(settings or ()),
        }
        self.log = None

    def __enter__(self):
        self.log = open(os.path.join(self.folder, "log"), "a")
        try:
            self.hosts.__enter__()
        except BaseException:
            self.log.close()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.hosts.__exit__(*exc)
        finally:
            self.log.close()

    def start(self, what, name):
        """Start the broker, a worker or the web server (`what`) on host `name`: its Popen."""
        port = self.ports["broker"]
        if what == "broker":
            command, cwd = self.engine.broker(self.hosts, self.folder, port), self.folder
        elif what == "worker":
            command, cwd = self.engine.worker(self.hosts, name, port), self.folder
        else:
            command, cwd = self.engine.web(self.hosts, self.ports["web"], port), ROOT
        return self.hosts.start(name, command, cwd=cwd, env=self.env, stdout=self.log, stderr=self.log)

    def start_all(self):
        self.start("broker", "broker")
        for name in WORKERS:
            self.start("worker", name)
        self.start("web", "web")

    def url(self, path):
        return f"http://{self.hosts.addresses['web']}:{self.ports['web']}{path}"

    def outcome(self, path, method="GET", timeout=10):
        """The web server's answer to one request, from the calling thread's host: (status or the error's name,
        body)."""
        try:
            status, _, body = request(self.ports["web"], path, method, timeout, host=self.hosts.addresses["web"])
            return status, body
        except TimeoutError:
            return "timeout", None
        except OSError as error:
            return type(error).__name__, None

    def ready(self, client, path, timeout=90):
        """Whether two requests at once for `path`, sent from `client`'s threads, were answered by two workers
        before `timeout`: both have joined."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answers = [client.submit(self.outcome, path) for _ in range(2)]
            if len({(body or {}).get("pid") for _, body in (a.result() for a in answers)} - {None}) == 2:
                return True
            time.sleep(0.5)
        return False
