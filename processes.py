"""Processes, signals, ports and CPUs: what the servers, backend.py and the harness share about the machine they
run on. No web framework here: a Celery worker, the load drivers and the harness import it as well as the servers.
"""

import ctypes
import logging
import os
import random
import select
import signal
import socket
import sys
import threading
import time

import psutil


def cpu_quota(cgroup="/sys/fs/cgroup"):
    """The CPUs a cgroup CPU quota allows (e.g. 1.5), or None without a quota (cgroup v2 cpu.max, or v1)."""

    def read(name):
        with open(os.path.join(cgroup, name)) as file:
            return file.read().split()

    for reading in (lambda: read("cpu.max"), lambda: read("cpu/cpu.cfs_quota_us") + read("cpu/cpu.cfs_period_us")):
        try:
            quota, period = reading()
        except (OSError, ValueError):
            continue
        return None if quota in ("max", "-1") else int(quota) / int(period)
    return None


def cpu_count():
    """The CPUs this process can use: those it may run on, or fewer if a cgroup quota says so."""
    quota = cpu_quota()
    return max(1, min(len(os.sched_getaffinity(0)), int(quota) if quota else 10**6))


def bind_error(port, host="127.0.0.1"):
    """Why the port cannot be bound now (the OSError), or None if it can. SO_REUSEADDR, as the servers bind: a
    connection in TIME_WAIT is no obstacle."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error
        return None


def port_is_free(port):
    return bind_error(port) is None


_handed_out = {}  # the ports handed out, oldest first (a dict keeps its order)
_handed_out_lock = threading.Lock()


def free_port():
    """A loopback port that is free now, below the kernel's ephemeral range: one from that range could be taken
    between this check and the bind by an outgoing connection, or by a Dask process that listens on port 0. Not one
    this process handed out lately: threads starting servers side by side would otherwise race to bind the same."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
        ephemeral = int(ports.read().split()[0])
    low = max(1024, ephemeral - 12_000)
    with _handed_out_lock:
        for _ in range(1000):
            port = random.randint(low, ephemeral - 1)
            if port not in _handed_out and port_is_free(port):
                if len(_handed_out) >= (ephemeral - low) // 2:  # the oldest half were bound (or given up) long ago
                    del _handed_out[next(iter(_handed_out))]
                _handed_out[port] = None
                return port
    raise OSError("no free port found")


def die_with_parent(signum=signal.SIGTERM, parent=None):
    """In a child: the kernel sends it `signum` when the thread that started it ends, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG), so that it cannot outlive the server. Also a preexec_fn for subprocess.Popen. With `parent`
    (its pid): a child whose parent ended before this call exits at once."""
    ctypes.CDLL(None).prctl(1, signum)  # 1: PR_SET_PDEATHSIG
    if parent is not None and os.getppid() != parent:
        os._exit(0)


def script_name():
    return os.path.basename(sys.argv[0]).removesuffix(".py")


def ignore_sigint():
    """Pool worker initializer: Ctrl-C reaches the whole process group, and only the server should act on it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def read(path):
    with open(path) as file:  # closed now, not when collected: a server's other threads may be closing fds
        return file.read()


def descendants(pid=None):
    """Every process below `pid` (default: this one), read from the kernel's /proc/PID/task/*/children lists:
    the tree only, without walking every process of the machine. Falls back to psutil where the kernel has none."""
    pid = os.getpid() if pid is None else pid
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            threads = os.listdir(f"/proc/{parent}/task")
            kids = {int(k) for t in threads for k in read(f"/proc/{parent}/task/{t}/children").split()}
        except OSError:
            if parent == pid and not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
                return [p.pid for p in psutil.Process(pid).children(recursive=True)]  # no such file on this kernel
            continue  # gone meanwhile
        found += kids
        todo += kids
    return found


def tree(pid):
    """[pid, *its descendants], or [] once it is gone."""
    try:
        return [pid, *descendants(pid)]
    except psutil.NoSuchProcess:
        return []


def stop_children(timeout=1):
    """Stop every process this one started (pool workers, forkserver...), by pid: SIGTERM, then SIGKILL. A few
    rounds, for a worker that a pool was starting in another thread just then. The names of those it found."""
    names = set()
    for _ in range(3):
        children = live_descendants()
        if not children:
            break
        for child in children:
            try:
                names.add(child.name())
                child.kill() if ignores_sigterm(child.pid) else child.terminate()
            except psutil.NoSuchProcess:
                pass
        kill_all(still_running(children, timeout))
    return sorted(names)


def ignores_sigterm(pid):
    """Whether process `pid` ignores SIGTERM (multiprocessing's resource tracker does): waiting for it to end on one
    would only cost the whole timeout before SIGKILL."""
    try:
        with open(f"/proc/{pid}/status") as status:
            ignored = int(next(line.split()[1] for line in status if line.startswith("SigIgn:")), 16)
    except (OSError, StopIteration):
        return False
    return bool(ignored >> (signal.SIGTERM - 1) & 1)


def live_descendants():
    """psutil.Process of every descendant still alive (one that ends while they are listed is left out)."""
    found = []
    for pid in descendants():
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return found


def ended(proc):
    """Whether `proc` has ended: gone, or a zombie. A zombie of this process is reaped here; one of another's is left
    to it (psutil.wait_procs would wait out its whole timeout for that one: its pid still exists)."""
    try:
        proc.wait(timeout=0)
        return True
    except psutil.TimeoutExpired:
        pass
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def still_running(processes, timeout):
    """Those of `processes` that have not ended within `timeout` seconds (waiting for them to end)."""
    deadline = time.monotonic() + timeout
    running = list(processes)
    while True:
        running = [proc for proc in running if not ended(proc)]
        if not running or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    for proc in processes:  # a zombie whose parent has ended since is this process's now (a subreaper's): reaped
        if proc not in running:
            ended(proc)
    return running


def kill_all(processes):
    """SIGKILL each of `processes` (psutil.Process) by pid, and wait for them a moment."""
    for proc in processes:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    still_running(processes, timeout=1)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InterruptOnce:
    """on_stop_signals' main_thread_handler for a program that stops where it is at the first Ctrl-C or SIGTERM
    (KeyboardInterrupt, once: its finally clauses stop what it started), a second one left to on_stop_signals's
    kill by pid. `seen`: the signal, once one came."""

    def __init__(self):
        self.seen = None

    def __call__(self, signum):
        if self.seen is None:
            self.seen = signum
            raise KeyboardInterrupt


HARD_EXIT_AFTER_S = 3  # a server whose clean stop has not ended it by then is ended the hard way


def on_stop_signals(first, status, grace_s=HARD_EXIT_AFTER_S, main_thread_handler=None, last=None):
    """Make SIGINT and SIGTERM stop this process, whatever its main thread is doing. Called once, at start-up.

    Why not a handler that raises KeyboardInterrupt: a Python handler runs between two bytecodes of the main thread,
    wherever that is, and an exception raised inside a finalizer (__del__, a weakref callback) is printed and
    dropped; a handler that had also set the signals to "ignore" left a server that no signal could stop. And a
    signal delivered to another thread while the main thread sleeps in epoll_wait runs no handler until it wakes.

    So the signal's C handler writes its number to a pipe (signal.set_wakeup_fd, from any thread, at once), and a
    watcher thread reads it: on the first signal it runs `first(signum)` in a thread of its own; if a second signal
    comes, or `grace_s` seconds pass and the process still lives, it kills every descendant by pid (SIGKILL) and
    exits with `status`. Nothing waits for the main thread, and the signals are never ignored.
    `main_thread_handler(signum)`, if given, also runs in the main thread (the harness raises KeyboardInterrupt
    from it to save its results; if that exception is lost, the grace period still ends the process). `last()`, if
    given, runs just before that hard exit (a server removes its temporary directory)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)

    def in_main_thread(signum, frame):
        if main_thread_handler:
            main_thread_handler(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, in_main_thread)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    os.register_at_fork(after_in_child=forget_stop_signals)  # a forked child must not share the pipe

    def watch():
        while (signum := os.read(read_fd, 1)[0]) not in STOP_SIGNALS:
            pass  # another signal with a Python handler (SIGCHLD...): not ours
        threading.Thread(target=first, args=(signal.Signals(signum),), daemon=True).start()
        deadline = time.monotonic() + grace_s
        while (left := deadline - time.monotonic()) > 0:  # a second stop signal, or the grace period's end
            ready, _, _ = select.select([read_fd], [], [], left)
            if ready and os.read(read_fd, 1)[0] in STOP_SIGNALS:
                break  # not SIGCHLD, which gunicorn's master handles in Python: its workers ending as they stop
        try:
            logging.disable()
            kill_all(live_descendants())
            if last:
                last()
        finally:
            os._exit(status)  # whatever happened above: this thread must not die before it ends the process

    threading.Thread(target=watch, daemon=True, name="stop-signal-watcher").start()


def forget_stop_signals():
    """In a forked child: the default behaviour again (SIGTERM ends it), and no wakeup pipe shared with the parent."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
