"""Questions asked of another interpreter (.venv313's, the free-threaded build, its twin with the GIL): one
subprocess each, run in the project's folder so that it imports the suite's modules."""

import functools
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


class NoAnswer(Exception):
    """The interpreter could not be started, or its code failed: the message says why, in one line."""


def ask(python, code, *argv, timeout=30):
    """What `code` (with sys.argv[1:] = argv) prints on the interpreter at that path."""
    try:
        done = subprocess.run(
            [str(python), "-c", code, *map(str, argv)], cwd=PROJECT, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NoAnswer(f"{python}: {error}") from None
    if done.returncode != 0:
        raise NoAnswer(f"{python}: {(done.stderr.strip().splitlines() or [f'exit status {done.returncode}'])[-1]}")
    return done.stdout


@functools.cache
def python_version(python):
    """(major, minor, micro) of the interpreter at that path; (0, 0, 0) if it does not answer."""
    try:
        return tuple(map(int, ask(python, "import sys; print(*sys.version_info[:3])").split()))
    except (NoAnswer, ValueError):
        return (0, 0, 0)


@functools.cache
def is_free_threaded(python):
    """Whether the interpreter at that path is a free-threaded build (Py_GIL_DISABLED)."""
    try:
        return ask(python, "import sysconfig; print(sysconfig.get_config_var('Py_GIL_DISABLED'))").strip() == "1"
    except NoAnswer:
        return False


@functools.cache
def lacks(python, modules):
    """Which of `modules` (a tuple) the interpreter at that path cannot import: a tuple, empty if it has them all."""
    code = "import importlib.util, sys; print(*[m for m in sys.argv[1:] if importlib.util.find_spec(m) is None])"
    try:
        return tuple(ask(python, code, *modules).split())
    except NoAnswer:
        return tuple(modules)
