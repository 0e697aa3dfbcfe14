"""Pools that run the task elsewhere than on the IOLoop: their workers started before serving, and the pool of
subinterpreters, wherever this Python has it."""
import asyncio
import sys

import tasks
from processes import script_name


async def start_workers(executor, args, timeout_s=60):
    """Start every worker of a pool, and import the task there, before serving: no request pays for it, and a
    task that cannot run in those workers (a module that refuses subinterpreters, say) is a one-line error at
    start-up (exit status 2), not a 500 on every request."""
    loop = asyncio.get_running_loop()
    started = [loop.run_in_executor(executor, tasks.prepare, args.task) for _ in range(args.workers)]
    try:
        await asyncio.wait_for(asyncio.gather(*started), timeout_s)
    except Exception as error:  # noqa: BLE001 - whatever it is, it is reported in one line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"{script_name()}: cannot start its workers: {reason}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def interpreter_pool():
    """concurrent.futures.InterpreterPoolExecutor (Python 3.14), or on 3.13 the same from the PEP 734 backport."""
    try:
        from concurrent.futures import InterpreterPoolExecutor
    except ImportError:
        try:
            from interpreters_backport.concurrent.futures import InterpreterPoolExecutor
        except ImportError:
            print(f"{script_name()}: needs Python 3.14, or 3.13 with interpreters-pep-734 (this is "
                  f"{sys.version.split()[0]}): run it with .venv313/bin/python (make venv313)", file=sys.stderr,
                  flush=True)
            raise SystemExit(2) from None
    return InterpreterPoolExecutor
