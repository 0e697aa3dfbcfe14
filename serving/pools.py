"""Pools that run the task elsewhere than on the IOLoop: their workers started before serving, the process pool that
replaces itself when a worker dies, and the pool of subinterpreters, wherever this Python has it."""

import asyncio
import logging
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import processes
import tasks
from processes import script_name

from .contract import Unavailable


async def start_workers(executor, args, timeout_s=60, remake=None):
    """Start every worker of a pool, and import the task there, before serving: no request pays for it, and a
    task that cannot run in those workers (a module that refuses subinterpreters, say) is a one-line error at
    start-up (exit status 2), not a 500 on every request. With `remake`, a pool one of whose threads could not
    start is made again, twice at most: on Python 3.13, subinterpreters created in several threads at once fail
    now and then ("Failed to import encodings module": CPython issues 128381 and 131485). The pool started."""
    loop = asyncio.get_running_loop()
    pool_log = logging.getLogger("concurrent.futures")  # a failed worker's traceback: the one line below says it
    for attempt in range(3 if remake else 1):
        pool_log.disabled = True
        started = []
        try:
            # A thread whose start failed breaks the pool at once: the next submit then raises here, not in a future.
            started += [loop.run_in_executor(executor, tasks.prepare, args.task) for _ in range(args.workers)]
            await asyncio.wait_for(asyncio.gather(*started), timeout_s)
            return executor
        except Exception as error:  # noqa: BLE001 - whatever it is, it is reported in one line
            for future in started:  # the others failed alike, or are dropped with the pool: nothing left unread
                if not future.cancel() and not future.cancelled():
                    future.exception()
            if remake and type(error).__name__ == "BrokenThreadPool" and attempt < 2:
                executor.shutdown(wait=False, cancel_futures=True)
                executor = remake()
                continue
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print(f"{script_name()}: cannot start its workers: {reason}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        finally:
            pool_log.disabled = False


def interpreter_pool():
    """concurrent.futures.InterpreterPoolExecutor (Python 3.14), or on 3.13 the same from the PEP 734 backport."""
    try:
        from concurrent.futures import InterpreterPoolExecutor
    except ImportError:
        try:
            from interpreters_backport.concurrent.futures import InterpreterPoolExecutor
        except ImportError:
            print(
                f"{script_name()}: needs Python 3.14, or 3.13 with interpreters-pep-734 (this is "
                f"{sys.version.split()[0]}): run it with .venv313/bin/python (make venv313)",
                file=sys.stderr,
                flush=True,
            )
            raise SystemExit(2) from None
    return InterpreterPoolExecutor


class ProcessPool:
    """A ProcessPoolExecutor of `workers` processes that outlives the death of one (killed, out of memory): the pool
    then fails all it holds and takes nothing more, so the first task to see it starts a new pool, and tries once
    more there; a task that fails twice so is Unavailable (a 503)."""

    def __init__(self, workers):
        self.workers = workers
        self.executor = self.start()

    def start(self):
        # forkserver: workers are forked from a clean process started at the first pool's start, before the
        # listening socket exists and not from the running loop, so none inherits the port or the loop's state.
        # Only module-level functions with plain arguments cross to them.
        return ProcessPoolExecutor(self.workers, multiprocessing.get_context("forkserver"), processes.ignore_sigint)

    def kill(self, executor):
        """Kill what a broken pool still holds. It terminates its workers itself, but not one that a submit() was
        starting as it broke (CPython 3.11 adds it after): left idle, one per replaced pool (seen in the soak)."""
        with executor._shutdown_lock:  # no worker is being started now (private API; 3.14 has kill_workers())
            workers = list(executor._processes.values())
        for worker in workers:
            worker.kill()

    async def run(self, function, *args, retry=True):
        used = self.executor
        try:
            return await asyncio.get_running_loop().run_in_executor(used, function, *args)
        except BrokenProcessPool:
            if self.executor is used:  # the first task to see it starts a new pool
                self.kill(used)
                self.executor = self.start()
            if retry:
                return await self.run(function, *args, retry=False)
            raise Unavailable("a worker process died while running this task") from None
