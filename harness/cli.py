"""Command-line pieces the harness's programs share: the servers, task kinds and levels they are given, and which of
the servers can run here."""

import argparse
import sys
from dataclasses import dataclass

import tasks
from harness.interpreters import lacks
from harness.servers import SERVERS
from serving.cli import OneLineParser  # the servers' convention: a mistake is one line, status 2

__all__ = [
    "MAX_RATE",
    "MAX_SHARE",
    "OneLineParser",
    "Share",
    "can_run",
    "kind_list",
    "positive_ints",
    "rates",
    "runnable",
    "server_list",
    "task_list",
]

MAX_RATE = 500  # the open-loop driver keeps its schedule (send lag p99 under 5 ms) up to a few hundred per second
MAX_SHARE = 4  # a share of the limit beyond 4x is no longer a rate the servers are tried at, only a flood


@dataclass(frozen=True)
class Share:
    """A rate given as a share of the task kind's limit, CPUs / T1 (T1 timed at the suite's start): "0.5x". The
    suite turns it into requests or jobs per second once it has timed T1 (run_all.py: plan)."""

    of_limit: float

    def __str__(self):
        return f"{self.of_limit:g}x"


def server_list(text):
    chosen = []
    for token in text.split(","):
        token = token.strip()
        # "3" or "3_async_threadexecutor": the row with the GIL; "3t" or its label: the free-threaded twin
        matches = [s for s in SERVERS if token in (s.number, s.label) or (token == s.name and not s.free_threaded)]
        if not matches:
            names = ", ".join(dict.fromkeys(s.number for s in SERVERS))
            raise argparse.ArgumentTypeError(f"unknown server {token!r} (choose from {names}, or a full name)")
        chosen += [s for s in matches if s not in chosen]
    return chosen


def number_list(text, convert, what, valid, bounds):
    """Comma-separated numbers, each converted and checked; argparse's error naming what is wrong."""
    try:
        values = [convert(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of {what}") from None
    if not all(map(valid, values)):
        raise argparse.ArgumentTypeError(f"{text!r}: {bounds}")
    return values


def positive_ints(text):
    return number_list(text, int, "whole numbers", lambda value: value >= 1, "every value must be at least 1")


def rates(text):
    """--rate's levels, comma-separated: per second (5, 12.5), or a share of the limit (0.5x), each checked."""
    found = []
    for value in text.split(","):
        share = value.strip().lower().endswith("x")
        try:
            number = float(value.strip()[:-1] if share else value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of numbers (per second) or shares of the limit (0.5x)"
            ) from None
        if share and not 0 < number <= MAX_SHARE:
            raise argparse.ArgumentTypeError(
                f"{value!r}: a share of the limit must be above 0 and at most {MAX_SHARE}x"
            )
        if not share and not 0 < number <= MAX_RATE:
            raise argparse.ArgumentTypeError(f"{text!r}: every rate must be above 0 and at most {MAX_RATE}")
        found.append(Share(number) if share else number)
    return found


def kind_list(text):
    kinds = [kind.strip() for kind in text.split(",")]
    unknown = [kind for kind in kinds if kind not in tasks.KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown task kind {unknown[0]!r} (choose from {', '.join(tasks.KINDS)}; "
            "your own function goes with --task MODULE:FUNCTION)"
        )
    return list(dict.fromkeys(kinds))


def runnable(servers, program):
    """The servers that can run here; each one that cannot is named on stderr, with the reason."""
    for server in servers:
        if server.missing:
            print(f"{program}: {server.name} left out: {server.missing}", file=sys.stderr)
    return [server for server in servers if not server.missing]


def can_run(servers, task, program):
    """The servers whose Python has what the task imports (the db kind's driver); each left out is named on stderr."""
    needs = task.spec().needs_modules
    lacking = {server.label: lacks(server.python, needs) for server in servers} if needs else {}
    for label, absent in lacking.items():
        if absent:
            print(
                f"{program}: left out of the {task.kind} task: {label}: its Python lacks {', '.join(absent)}",
                file=sys.stderr,
            )
    return [server for server in servers if not lacking.get(server.label)]


def task_list(kinds, user_task, n, servers, backend, program, database=None):
    """The tasks to run (tasks.Task: the kinds, then the user's MODULE:FUNCTION, each asking `backend` if it is the
    http kind, `database` if it is the db kind) and the servers that can run them;
    ValueError (one line) if the user's function or n cannot run."""
    chosen = [
        tasks.Task(kind, backend, database if kind == "db" else None)
        for kind in kinds or ([] if user_task else ["cpu"])
    ]
    if user_task:
        chosen.append(tasks.Task(user_task, backend))
        try:
            tasks.check(chosen[-1])
        except tasks.TaskError as error:
            raise ValueError(str(error)) from None
        for server in [s for s in servers if s.runs_in == "loop"]:  # they await the task: an async def only
            print(f"{program}: {server.label} left out: it can only run an async def", file=sys.stderr)
        servers = [s for s in servers if s.runs_in != "loop"]
    for task in chosen:
        kind = task.spec()
        if n is not None and not 1 <= n <= kind.max_n:
            raise ValueError(f"--n must be from 1 to {kind.max_n} for the {kind.name} task")
    return chosen, servers
