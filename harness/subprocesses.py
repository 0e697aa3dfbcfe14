"""A program run under a deadline, as the load drivers are: its output in temporary files (a chatty program can
never block on a full pipe), a callback while it runs, and ended by pid (SIGTERM, then SIGKILL) if it outstays."""

import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass
class Finished:
    stdout: str
    stderr: str
    seconds: float  # from its start until it ended (or was ended)
    status: int  # its exit status; negative: the signal that ended it


def run_bounded(command, budget_s, tick=None, every_s=1.0, cwd=None, grace_s=5.0, on_start=None):
    """Run `command` (stdin /dev/null, in a session of its own) for at most `budget_s` seconds: then SIGTERM, and
    SIGKILL if it is still there `grace_s` seconds later. While it runs, tick(new_stderr) is called every `every_s`
    seconds with the whole lines it has written to stderr since the last call; on_start(time.monotonic() of its
    start) once, as it starts. A Finished."""
    with tempfile.TemporaryFile("w+b") as out, tempfile.TemporaryFile("w+b") as err:
        process = subprocess.Popen(
            command, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
        )
        started = time.monotonic()
        if on_start:
            on_start(started)
        deadline, partial = started + budget_s, b""
        # Read through a file of its own: `err` shares its offset with the program, which writes at it.
        with open(f"/proc/self/fd/{err.fileno()}", "rb") as written:
            try:
                while process.poll() is None and (left := deadline - time.monotonic()) > 0:
                    try:
                        process.wait(timeout=min(every_s, left))
                    except subprocess.TimeoutExpired:
                        if tick:
                            lines, _, partial = (partial + written.read()).rpartition(b"\n")
                            tick((lines + b"\n").decode(errors="replace") if lines else "")
            finally:
                end(process, grace_s)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Finished(
            out.read().decode(errors="replace"), err.read().decode(errors="replace"), seconds, process.returncode
        )


def end(process, grace_s=5.0):
    """End a subprocess.Popen by its pid if it still runs: SIGTERM, then SIGKILL after `grace_s`; and wait for it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()
