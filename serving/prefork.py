"""Pre-fork: N copies of one server on one port (2_async.py --processes), and the process that keeps them running."""

import asyncio
import os
import signal
import sys
import tempfile

from processes import die_with_parent

from . import lifecycle, totals


async def run_copies(strategy, args, settings):
    """Pre-fork, as Tornado's deployment guide describes: args.processes copies of this very server, each
    listening on the port with SO_REUSEPORT, so that the kernel hands each new connection to one of them (by a
    hash of its addresses: busy or not). This process serves nothing: it starts the copies and replaces one that
    a signal ended (a crash, the OOM killer, a kill); a copy that exits with an error status of its own (port
    busy, a task that cannot load) ends it all with that status. Its stop stops the copies (lifecycle.exit_now)."""
    lifecycle.check_port(strategy, args)  # a busy port is one line from here, not N from the copies
    command = [sys.executable, *sys.argv, "--copy-of", str(os.getpid())]
    os.environ[totals.SHARED_ENV] = tempfile.mkdtemp(prefix="totals-")  # every copy's GET /stats, in one folder

    async def keep_one_running():
        while True:
            copy = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL)
            status = await copy.wait()
            if status > 0:
                raise SystemExit(status)
            print(
                f"{strategy}: copy {copy.pid} ended by {signal.Signals(-status).name if status else 'exit 0'}: "
                f"starting another",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(0.2)  # no busy loop if copies keep dying

    lifecycle.announce(strategy, args, f"{args.processes} copies, {settings}")
    await asyncio.gather(*(keep_one_running() for _ in range(args.processes)))


def exit_with_parent(parent):
    """In a copy: no copy outlives its supervisor."""
    die_with_parent()
    if os.getppid() != parent:  # it ended before the line above
        raise SystemExit(0)
