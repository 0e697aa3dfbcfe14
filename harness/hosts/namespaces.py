"""Hosts on this one machine: Linux network namespaces, each with an address of the benchmarking range 198.18.0.0/15
(RFC 2544) on a veth pair to a bridge, so that a server, its broker or scheduler and its workers each run on a
host of their own and a host can be cut off (its link down) or killed (every process in it SIGKILLed).

Root only. Everything made is named with this run's prefix, "tbh<pid>-": the namespaces (the bridge and the
host ends of the links live inside them, so nothing is added to the machine's own network), and it is all removed
on the way out, by those names; a run that was SIGKILLed cannot, so the next one first removes what a run that is
no longer alive left under "tbh".

    .venv/bin/python -m harness.hosts.namespaces up      # build them, print the hosts and addresses, wait for Ctrl-C
"""

import ctypes
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

import psutil

from harness.instruments.measure import cpu_seconds, tree_cpu_seconds
from harness.network import HOSTS_NETWORK as NETWORK
from processes import kill_all, tree

PREFIX = "tbh"
HOSTS = ("client", "web", "broker", "worker1", "worker2")
CLONE_NEWNET = 0x40000000


def is_root():
    return os.geteuid() == 0


def ip(*args, check=True):
    """One `ip` command (iproute2); its stdout. A failure raises, saying the command and what ip said."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def namespaces():
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def pids_in(namespace):
    return [int(pid) for pid in ip("netns", "pids", namespace, check=False).split()]


def kill_pids(pids):
    """SIGKILL each of `pids` still alive, and wait for them a moment (processes.kill_all)."""
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    kill_all(found)


def kill_all_in(namespace, rounds=5):
    """SIGKILL every process in the namespace, by pid, until none is left (one that forked as the others were being
    killed, a Celery worker replacing a child, is found in the next round)."""
    for _ in range(rounds):
        pids = pids_in(namespace)
        if not pids:
            return
        kill_pids(pids)


def remove(namespace):
    """Every process in the namespace SIGKILLed by pid, then the namespace (and the links in it) deleted."""
    kill_all_in(namespace)
    ip("netns", "delete", namespace, check=False)


def remove_leftovers():
    """What runs no longer alive left (SIGKILLed): namespaces named tbh<pid>- whose pid is not running."""
    removed = []
    for namespace in namespaces():
        found = re.fullmatch(rf"{PREFIX}(\d+)-.*", namespace)
        if found and not psutil.pid_exists(int(found.group(1))):
            remove(namespace)
            removed.append(namespace)
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), f"{PREFIX}*-*")):  # their TMPDIRs
        found = re.fullmatch(rf"{PREFIX}(\d+)-.*", os.path.basename(folder))
        if found and not psutil.pid_exists(int(found.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
    return removed


class Hosts:
    """The hosts `names` (default: client, web, broker, two workers) on one bridge; as a context manager, built
    on entry and removed on exit, whatever happened."""

    def __init__(self, names=HOSTS):
        self.prefix = f"{PREFIX}{os.getpid()}-"
        self.names = list(names)
        self.switch = self.prefix + "switch"
        self.addresses = {name: str(NETWORK[index + 1]) for index, name in enumerate(self.names)}
        self.started = []  # subprocess.Popen of every program started on a host
        self.tmpdir = None  # their TMPDIR: what a killed program leaves there goes with the hosts

    def namespace(self, name):
        return self.prefix + name

    def port(self, name):
        """The switch's end of the host's link (a name of at most 15 characters)."""
        return f"to-{name}"[:15]

    def up(self):
        remove_leftovers()
        self.tmpdir = tempfile.mkdtemp(prefix=self.prefix)
        try:
            ip("netns", "add", self.switch)
            ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            ip("-n", self.switch, "link", "set", "br0", "up")
            for name in self.names:
                namespace = self.namespace(name)
                ip("netns", "add", namespace)
                ip("-n", namespace, "link", "set", "lo", "up")
                # The switch's end is named after the host; the host's end is its eth0.
                ip(
                    "-n",
                    self.switch,
                    "link",
                    "add",
                    self.port(name),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    namespace,
                )
                ip("-n", self.switch, "link", "set", self.port(name), "master", "br0", "up")
                ip("-n", namespace, "addr", "add", f"{self.addresses[name]}/{NETWORK.prefixlen}", "dev", "eth0")
                ip("-n", namespace, "link", "set", "eth0", "up")
        except BaseException:
            self.down()
            raise
        return self

    def down(self):
        """Every program started here stopped by pid, then every namespace removed (its processes SIGKILLed)."""
        kill_pids([process.pid for process in self.started if process.poll() is None])
        for process in self.started:
            process.wait()
        for name in self.names:
            remove(self.namespace(name))
        remove(self.switch)
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()

    def start(self, name, command, env=None, **popen):
        """`command` run on host `name` (in its namespace), in a session of its own, its TMPDIR the hosts' own."""
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace(name), *command],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            env={**(os.environ if env is None else env), "TMPDIR": self.tmpdir},
            **popen,
        )
        self.started.append(process)
        return process

    def runner(self, name):
        """What runs a command on host `name`: the prefix of its command line."""
        return ("ip", "netns", "exec", self.namespace(name))

    def cpu_seconds(self, name):
        """The CPU seconds of every process now on host `name`, with those of its children that ended."""
        return cpu_seconds(pids_in(self.namespace(name)))

    def cut(self, name):
        """Cut the host off: its link down at the switch (its processes go on, unreachable)."""
        ip("-n", self.switch, "link", "set", self.port(name), "down")

    def restore(self, name):
        ip("-n", self.switch, "link", "set", self.port(name), "up")

    def kill(self, name):
        """Kill the host: every process in it SIGKILLed, as a machine that loses its power."""
        kill_all_in(self.namespace(name))

    def client(self, threads=8, name="client"):
        """A thread pool whose threads live on host `name` (setns: a network namespace is a thread's), so that
        what they connect to is seen from that host."""
        return ThreadPoolExecutor(threads, initializer=enter, initargs=(f"/run/netns/{self.namespace(name)}",))


class Loopback:
    """The same programs as on Hosts, every one on this machine's 127.0.0.1: what the network path between hosts
    adds is the difference. Ports must then be free ones; nothing to cut or kill."""

    def __init__(self, names=HOSTS):
        self.names = list(names)
        self.addresses = dict.fromkeys(self.names, "127.0.0.1")
        self.started = {name: [] for name in self.names}

    def __enter__(self):
        self.tmpdir = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-loopback-")
        return self

    def __exit__(self, *exc):
        """Every program started here, with whatever it started, SIGKILLed: their trees, and the sessions they
        lead (an orphan a program left behind is still in its session)."""
        started = [process for processes in self.started.values() for process in processes]
        kill_pids([pid for process in started for pid in tree(process.pid)])
        for process in started:
            if process.returncode is None:  # not reaped yet, so its pid (the session's id) is still its own
                try:
                    os.killpg(process.pid, signal.SIGKILL)  # each leads a session of its own: start_new_session
                except (ProcessLookupError, PermissionError):
                    pass
            process.wait()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def start(self, name, command, env=None, **popen):
        process = subprocess.Popen(
            command,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            env={**(os.environ if env is None else env), "TMPDIR": self.tmpdir},
            **popen,
        )
        self.started[name].append(process)
        return process

    def runner(self, name):
        return ()

    def cpu_seconds(self, name):
        return sum(tree_cpu_seconds(process.pid) for process in self.started[name] if process.poll() is None)

    def client(self, threads=8, name="client"):
        return ThreadPoolExecutor(threads)


def enter(path):
    """This thread into the network namespace at `path` (setns(2): it changes the calling thread only)."""
    with open(path) as namespace:
        if ctypes.CDLL(None, use_errno=True).setns(namespace.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["up"]:
        sys.exit("usage: python -m harness.hosts.namespaces up")
    if not is_root():
        sys.exit("harness.hosts.namespaces: error: network namespaces need root (run as root, or with sudo)")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with Hosts() as hosts:
        for name, address in hosts.addresses.items():
            print(f"{name:8} {address:12} ip netns exec {hosts.namespace(name)} ...", flush=True)
        while not stop.wait(1):
            pass
    print("removed", flush=True)


if __name__ == "__main__":
    main()
