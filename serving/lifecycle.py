"""Start-up, stop signals and stopping: run_until_stopped(main) for every server, and its one-line failures.

A server stops at SIGINT or SIGTERM, whatever its main thread is doing, and takes every process it started with it
(pool workers, the forkserver, Dask's nannies, redis-server); the temporary files they wrote go too: each server
runs with a temporary directory of its own (TMPDIR), removed when it stops.
"""

import asyncio
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback

from processes import bind_error, on_stop_signals, script_name, stop_children

LOOP = {}  # the running asyncio loop of run_until_stopped(), for the thread that stops it
STOPPING, PARKED = threading.Event(), threading.Event()  # a stop signal came / the main thread stands aside
TMPDIR = {}  # this server's own temporary directory, once run_until_stopped() has made it


def fail(message, status=1):
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(status)


def announce(strategy, args, settings):
    kind = args.task.spec()
    print(
        f"{strategy}: serving http://{args.host}:{args.port}/ (task {kind.name}, n={kind.default_n} by default; "
        f"{settings})",
        flush=True,
    )


def cannot_listen(strategy, args, error):
    """The one line a server says when it cannot have its port (taken, say: `error` is the OSError), status 1."""
    fail(f"{strategy}: cannot listen on {args.host}:{args.port}: {error.strerror}")


def check_port(strategy, args):
    """Fail in one line now if the port is taken, before starting what would be stopped again at once."""
    error = bind_error(args.port, args.host)
    if error:
        cannot_listen(strategy, args, error)


def own_tmpdir():
    """A temporary directory for this process and all it starts (they inherit TMPDIR): the forkserver's pymp-*
    folder and Dask's dask-scratch-space land there, which os._exit would otherwise leave behind."""
    TMPDIR["path"] = tempfile.mkdtemp(prefix=f"{script_name()}-")
    os.environ["TMPDIR"] = tempfile.tempdir = TMPDIR["path"]


def remove_tmpdir():
    """Renamed first, then removed, again if need be: a thread still finishing a task (Granian's, on a free-threaded
    Python), or a worker killed a moment ago in the middle of writing its totals, can then no longer leave a file in
    it while it is being removed."""
    if "path" in TMPDIR:
        doomed = TMPDIR["path"] + "-removed"
        try:
            os.rename(TMPDIR["path"], doomed)
        except OSError:
            doomed = TMPDIR["path"]
        for _ in range(5):
            shutil.rmtree(doomed, ignore_errors=True)
            if not os.path.exists(doomed):
                break
            time.sleep(0.05)


def exit_now(status):
    """Stop every process this one started, by pid, and exit with `status` at once: nothing is drained, no thread
    still inside a task is waited for (its answer has nobody left to go to)."""
    logging.disable()  # what pool threads say about the workers stopped now is noise
    stop_children()
    remove_tmpdir()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def stop_server(signum):
    """The first stop signal, in a thread of its own: stop the IOLoop through the loop itself, so that nothing in
    it (a Dask nanny, a pool) starts new processes while they are stopped; if the loop is blocked inside a task,
    do not wait for it longer than a moment. Then stop the children and exit 0."""
    STOPPING.set()
    print(f"{os.path.basename(sys.argv[0])}: {signum.name}: stopping", file=sys.stderr, flush=True)
    loop = LOOP.get("loop")
    if loop is not None:
        loop.call_soon_threadsafe(loop.stop)
        PARKED.wait(0.5)
    exit_now(0)


def run_in_loop(coroutine):
    """Run `coroutine` in a new asyncio loop, the one that a stop signal stops (stop_server)."""
    LOOP["loop"] = asyncio.new_event_loop()
    return LOOP["loop"].run_until_complete(coroutine)


def run_until_stopped(main):
    """Run a server's main() (sync or async) until SIGINT or SIGTERM, then stop every process it started.

    Exit status 0 after a signal (within processes.HARD_EXIT_AFTER_S even if a child will not stop), 1 after a start-up
    error. A second signal ends it at once, its children killed."""
    on_stop_signals(stop_server, status=0, last=remove_tmpdir)  # first: a signal from now on removes the folder
    own_tmpdir()
    status = 0
    try:
        if asyncio.iscoroutinefunction(main):
            run_in_loop(main())
        else:
            main()
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else 1
    except BaseException:  # noqa: BLE001 - a crash of the server's own code: its traceback, status 1
        if not STOPPING.is_set():  # else: the loop was stopped on purpose, or a child was killed under it
            traceback.print_exc()
        status = 1
    if STOPPING.is_set():
        PARKED.set()
        threading.Event().wait()  # stop_server ends the process
    exit_now(status)
