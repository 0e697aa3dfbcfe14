"""Every results block of the README and docs/, as data: the command that measures it, where its results go, how
they read (harness/report/blocks.py runs and places them; harness/report/sections.py says what each shows)."""

import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace

from harness.records.blocks import ClusterResults, SoakResults, TextResults, TimesResults
from harness.records.file import load
from harness.records.suite import SuiteResults
from harness.report.comparison import server_of
from harness.servers import ROOT

DOCS = ROOT / "docs"
SAVED = DOCS / "results"
PY = sys.executable
GIL_TWIN = "{gil_twin}"  # the free-threaded build's twin with the GIL, found (or built, once) when it is needed
FIND_GIL_TWIN = ["tools/free_threaded_python.sh", "--gil"]


@dataclass(frozen=True)
class Earlier:
    """A block's commands before they changed, for the saved results they made until make report runs the new
    ones: the stamp says how those results were measured, not how they would be now."""

    commit: str  # the commit the saved results name (its first 12 hex digits)
    command: str  # as shown_command() read then
    why_short: str


@dataclass(frozen=True)
class Part:
    """A block shown from a part of another block's results, measured there in its rounds: it runs nothing of its
    own (the default run is the task-kind matrix's cpu table, which is measured anyway)."""

    source: str  # the block whose saved results it shows
    task: str  # the task kind whose table it shows
    rows: Callable = None  # which strategies, from their harness/servers.py Server: every one if None
    said_rows: str = ""  # those rows, as the stamp says them
    suite_python_only: bool = False  # only the rows on the suite's Python
    free_threaded_too: bool = False  # with suite_python_only: and the free-threaded rows (not the yardsticks)

    def of(self, saved):
        """The part of a SuiteResults: the task's runs (of the rows) and the task's T1 only."""
        env = saved.environment
        runs = [
            run
            for run in saved.runs
            if run.task == self.task
            and (self.rows is None or ((server := server_of(run)) is not None and self.rows(server)))
            and (
                not self.suite_python_only
                or run.python in (None, env.python)
                or (self.free_threaded_too and run.free_threaded)
            )
        ]
        tasks = {kind: found for kind, found in env.tasks.items() if kind == self.task}
        if not any(run.free_threaded for run in runs):  # the environment line names no build its rows did not use
            env = replace(env, free_threaded_python=None, free_threaded_build=None)
        return replace(saved, environment=replace(env, tasks=tasks), runs=runs)

    def said(self):
        """What part of the source it is, as a stamp says it."""
        return f"its task {self.task} table" + (f", {self.said_rows} only" if self.said_rows else "")


def fastapi_beside_tornado(server):
    """FastAPI's rows, and Tornado's that run the task inline, in a thread pool or in a process pool."""
    return server.framework == "fastapi" or (
        server.http_stack == "tornado" and server.runs_in in ("server", "threads", "processes")
    )


def wsgi_beside_prefork(server):
    """The Flask rows (gunicorn's workers, Granian's), and Tornado's pre-fork copies and process pool: the shared
    socket against SO_REUSEPORT at the same number of processes, and the pool a server without a GIL may replace."""
    return server.framework == "flask" or (server.http_stack == "tornado" and server.runs_in in ("copies", "processes"))


@dataclass(frozen=True)
class Block:
    name: str  # its README section, and its folder under docs/results/
    commands: tuple  # argv lists, run from the project's root; "{out}" is a folder for its results
    expected_min: float  # for the time left
    why_short: str = ""  # what was shortened against the command's defaults, and why the ranking holds
    kind: str = "suite"  # how its results read: suite (run_all.py), soak, cluster, text (the commands' output)
    earlier: tuple = ()  # Earlier: saved results measured by the block's commands before they changed
    part: Part = None  # shown from another block's results (no commands of its own)

    def earlier_at(self, commit):
        """The Earlier that measured saved results at `commit`, or None: they were measured as the block says."""
        return next((found for found in self.earlier if commit.startswith(found.commit)), None)

    def shown_command(self):
        """The commands as a reader would type them from the project's root (without the sitting's --out)."""

        def shown(command):
            parts = [
                part
                for index, part in enumerate(command)
                if part != "{out}"
                and not (part == "--out" and index + 1 < len(command) and command[index + 1] == "{out}")
            ]
            text = shlex.join(part.replace(PY, ".venv/bin/python").replace(str(ROOT) + "/", "") for part in parts)
            return text.replace(shlex.quote(GIL_TWIN), '"$(' + " ".join(FIND_GIL_TWIN) + ')"')

        return " && ".join(map(shown, self.commands))


RUN_ALL = [PY, "run_all.py", "--out", "{out}"]
BLOCKS = [
    Block("answer", (), 0, kind="answer"),  # the short answer, from the kinds' results: nothing to run
    Block("times", (), 0, kind="times"),  # make test's time (--record-test) and make report's (the blocks' own)
    Block("stall", ((PY, "-m", "harness.experiments.stall"),), 0.5, kind="text"),
    Block(
        "pools",
        (
            (str(ROOT / ".venv313/bin/python"), "-m", "harness.experiments.pools"),
            (str(ROOT / ".venv313t/bin/python"), "-m", "harness.experiments.pools"),
        ),
        0.3,
        kind="text",
    ),
    Block(
        "gil-cost",
        (
            (
                PY,
                "-m",
                "harness.experiments.gil_cost",
                "--free-threaded",
                str(ROOT / ".venv313t/bin/python"),
                "--gil",
                GIL_TWIN,
            ),
        ),
        1,
        kind="text",
    ),
    Block("celery-waits", ((PY, "-m", "harness.experiments.celery_waits"),), 1.5, kind="text"),
    Block("db-faults", ((PY, "-m", "harness.experiments.db_faults"),), 6, kind="text"),
    Block("results", (), 0, part=Part("kinds", "cpu")),
    Block(
        "kinds",
        (RUN_ALL + ["--tasks", "cpu,hash,sleep,http,db", "--duration", "6", "--repeat", "4"],),
        62,
        "6 s a row instead of 60, counted in steady state; up to 4 rounds in a shuffled order: every strategy in "
        "two, in two more those whose place or the answer's row is not settled yet",
        earlier=(
            Earlier(
                "c9259563030d",
                ".venv/bin/python run_all.py --tasks cpu,hash,sleep,http --duration 6 --repeat 4",
                "6 s a row instead of 60, counted in steady state; up to 4 rounds in a shuffled order: every strategy "
                "in two, in two more those whose place or the answer's row is not settled yet; without the db kind",
            ),
            Earlier(
                "6a7dff635a00",
                ".venv/bin/python run_all.py --tasks cpu,hash,sleep,http --duration 6",
                "6 s a row instead of 60, one round: about 150 tasks a row for computing work, 1 400 for waiting work",
            ),
        ),
    ),
    Block(
        "original",
        (RUN_ALL + ["--tasks", "sleep", "--n", "280", "--duration", "10", "--servers", "1,2,3,4,5,6"],),
        3,
        "10 s a row; servers 1 to 6",
    ),
    Block(
        "sweep",
        (RUN_ALL + ["--concurrency", "254", "--duration", "10"],),
        5,
        "254 users only (25 users: the default run above), 10 s a row",
    ),
    Block(
        "capacity",
        (RUN_ALL + ["--find-capacity", "--duration", "8", "--servers", "1,2,3,4,5,6,7,8_fastapi"],),
        12,
        # --duration 8 kept, so that the stamp of results saved before the step rule names what they ran
        "steps shorter than 15 s: the search lengthens --duration 8 to 10 × the 1 s target, 10 s, the shortest "
        "that fails an overload of 10 % by its p99 (5 % fails by its growing backlog; results saved before "
        "these rules: 8 s steps); of FastAPI, the def endpoint only; no free-threaded row",
    ),
    Block(
        "production",
        (
            RUN_ALL + ["--mode", "background", "--rate", "0.4x", "--duration", "15", "--deadline", "20"],
            RUN_ALL
            + ["--mode", "background", "--rate", "500", "--duration", "2", "--deadline", "10", "--servers", "4"],
        ),
        6,
        "0.4 × the limit CPUs / T1 for 15 s, a rate every server keeps up with (server 3 with the GIL and FastAPI's "
        "async def endpoint compute on one core: at most half the limit on 2 CPUs), so that the jobs finish and "
        "their Done p50/p99 are figures; then the overload point: the original's 500 jobs/s, for 2 s, on the "
        "process pool only",
        earlier=(
            Earlier(
                "6a7dff635a00",
                ".venv/bin/python run_all.py --mode background --rate 500 --deadline 30",
                "500 jobs/s only (the original's load)",
            ),
        ),
    ),
    Block(
        "fastapi",
        (),
        0,
        part=Part(
            "kinds",
            "cpu",
            fastapi_beside_tornado,
            "FastAPI's rows and Tornado's inline, thread-pool and process-pool ones on the suite's Python",
            suite_python_only=True,
        ),
    ),
    Block(
        "wsgi",
        (),
        0,
        part=Part(
            "kinds",
            "cpu",
            wsgi_beside_prefork,
            "the Flask rows and Tornado's pre-fork and process-pool ones, on the suite's Python and free-threaded",
            suite_python_only=True,
            free_threaded_too=True,
        ),
    ),
    Block(
        "wsgi-sleep",
        (),
        0,
        part=Part(
            "kinds",
            "sleep",
            wsgi_beside_prefork,
            "the Flask rows and Tornado's pre-fork and process-pool ones, on the suite's Python and free-threaded",
            suite_python_only=True,
            free_threaded_too=True,
        ),
    ),
    Block(
        "fastapi-sleep",
        (
            RUN_ALL
            + [
                "--servers",
                "3_async_threadexecutor,8_fastapi,8_fastapi --endpoint async,8_fastapi --endpoint cooperative",
                "--tasks",
                "sleep",
                "--concurrency",
                "254",
                "--duration",
                "10",
            ],
        ),
        2.5,
        "10 s a row",
        earlier=(
            Earlier(
                "c9259563030d",
                ".venv/bin/python run_all.py --servers '3_async_threadexecutor,8_fastapi,8_fastapi --endpoint async' "
                "--tasks sleep --concurrency 254 --duration 10",
                "10 s a row",
            ),
        ),
    ),
    Block(
        "soak",
        ((PY, "-m", "harness.experiments.soak", "--minutes", "3", "--out", "{out}"),),
        11,
        "3 minutes instead of 10: the slopes are less sure",
        kind="soak",
    ),
    Block("cluster", ((PY, "-m", "harness.hosts.cluster", "--out", "{out}"),), 11, kind="cluster"),
]
NAMED = {block.name: block for block in BLOCKS}
# The record each kind of block saves (harness/records/suite.py, harness/records/blocks.py); the short answer reads
# the task-kind matrix's.
RECORDS = {
    "suite": SuiteResults,
    "answer": SuiteResults,
    "soak": SoakResults,
    "cluster": ClusterResults,
    "text": TextResults,
    "times": TimesResults,
}


def saved_of(block):
    """The block's saved results (the kinds' for the short answer; its part of another's for a Part), or None if
    it has none yet."""
    if block.part:
        found = saved_of(NAMED[block.part.source])
        return block.part.of(found) if found else None
    path = SAVED / ("kinds" if block.kind == "answer" else block.name) / "results.json"
    return load(path, RECORDS[block.kind]) if path.exists() else None
