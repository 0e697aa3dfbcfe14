"""The load modes, as one table: what a mode's level is called and how it reads, how its runs are sized, run and
reported. The suite (run_all.py, harness/run/bench.py), the tables and the charts (harness/report/tables.py and
charts.py) read it; a new load mode is one entry in MODES, with its measured part (harness/run/drive.py) and its
columns (harness/columns.py)."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from harness import columns, limits
from harness.run import capacity, drive


class Load(NamedTuple):
    """What a run is loaded with: its mode's name and level; a rate asked for as a share of the limit (--rate 0.5x)
    keeps the share beside the rate it was made (run_all.py: at_rate)."""

    mode: str
    level: object  # users, requests or jobs per second, the SLO in ms; a harness.cli.Share until it is made a rate
    share: float = None


@dataclass(frozen=True)
class Mode:
    name: str  # as recorded in a run's "mode"
    level_key: str  # the key its level is stored under in a run, and the suite's argument it comes from
    level_text: Callable  # level -> how the level reads: "25 users"
    title: Callable  # (task, level, env, runs, duration_s) -> the heading of its table
    columns: list  # its table's columns: (header, how to read it from a run, digits, whether --repeat shows a range)
    legend: tuple  # what the columns mean, under the tables: parts, each said once in a block
    in_flight: Callable  # (level, T1 in s) -> requests in flight: the pool size for work that waits
    measure: Callable  # drive.Measuring -> the figures of the measured part, merged into the run
    default_level: float = None  # when the command line gives none
    default_s: int = 60  # the measured run's seconds unless --duration (or --quick) says
    # settings (harness/run/settings.py) -> the measured part's seconds, for the time-left estimate
    expected_s: Callable = lambda settings: settings.duration_s
    warm_users: Callable = lambda level, cpus: 2 * cpus  # siege's users while the server warms up
    recorded: Callable = lambda settings: {}  # settings -> what else of them a run records
    needs_jobs: bool = False  # only for the servers that run background jobs
    charts: tuple = ()  # the charts its runs are drawn in
    option: str = ""  # the command line that chooses it, as the one-load error names it
    # given -> whether the command line asks for it (none asked: the first mode); given: the load options the
    # command line gave, by their argparse names, each with its value ({"rate": [5.0], "mode": "background"})
    chosen: Callable = lambda given: False


def _rate_said(level, env, task, runs):
    """How a rate reads in a title: as a share of the limit where it was asked as one (T1 at the suite's start
    made it a rate), and as an overload where it is above the limit the table names."""
    share = runs[0].rate_share
    limit = limits.limit_now(env, task, runs)
    said = f" ({share:g} × the limit, with T1 at the suite's start)" if share else ""
    if level > limit.per_s:
        said += f" (overload: {level / limit.per_s:.1f} × the limit)"
    return said


def _background_title(task, level, env, runs, duration):
    deadline = max((run.deadline_s or 0 for run in runs), default=0)
    return (
        f"Task {task}: background jobs submitted at {level:g}/s{_rate_said(level, env, task, runs)} for "
        f"{duration:g} s, followed for {deadline:g} s more: {limits.limit_now(env, task, runs).text}"
    )


MODES = {
    mode.name: mode
    for mode in [
        Mode(
            "closed",
            level_key="concurrency",
            level_text=lambda users: f"{users} users",
            title=lambda task, users, env, runs, duration: (
                f"Task {task}, {users} concurrent users, {duration:g} s: "
                f"{limits.limit_now(env, task, runs, users).text}"
            ),
            columns=columns.CLOSED_COLUMNS,
            legend=(columns.LEGEND, columns.HEALTH, columns.UNAVAILABLE, columns.RUN_FIGURES),
            in_flight=lambda users, t1_s: users,
            measure=drive.closed_loop,
            default_level=25,
            warm_users=lambda users, cpus: min(users, 2 * cpus),
            charts=("results.png", "matrix.png"),
            option="--concurrency (siege)",
            chosen=lambda given: "concurrency" in given,
        ),
        Mode(
            "open",
            level_key="rate",
            level_text=lambda rate: f"{rate:g} requests/s",
            title=lambda task, rate, env, runs, duration: (
                f"Task {task}, open loop at {rate:g} requests/s"
                + (f" ({runs[0].rate_share:g} × the limit, with T1 at the suite's start)" if runs[0].rate_share else "")
                + f" ({runs[0].arrivals} arrivals), {duration:g} s"
            ),
            columns=columns.OPEN_COLUMNS,
            legend=(columns.OPEN_LOOP, columns.OPEN_LEGEND, columns.HEALTH, columns.UNAVAILABLE, columns.RUN_FIGURES),
            in_flight=lambda rate, t1_s: math.ceil(2 * rate * t1_s),  # twice rate × T1 (Little's law)
            measure=drive.open_loop,
            recorded=lambda settings: {"arrivals": settings.arrivals},
            charts=("hockey.png",),
            option="--rate (open loop)",
            chosen=lambda given: "rate" in given and "mode" not in given,
        ),
        Mode(
            "capacity",
            level_key="slo_ms",
            level_text=lambda slo_ms: "capacity search",
            title=lambda task, slo_ms, env, runs, duration: (
                f"Task {task}: capacity, the highest open-loop rate confirmed with "
                f"p99 ≤ {slo_ms:g} ms, no failure and a steady backlog, {duration:g} s steps"
            ),
            columns=columns.CAPACITY_COLUMNS,
            legend=(columns.OPEN_LOOP, columns.CAPACITY_LEGEND, columns.HEALTH),
            in_flight=lambda slo_ms, t1_s: 25,
            measure=capacity.find_capacity,
            default_s=15,
            # About six steps, those that fail stopping early, and a confirming run or two: six steps' time.
            expected_s=lambda settings: 6 * capacity.step_seconds(settings.duration_s, settings.slo_ms),
            charts=("hockey.png",),
            option="--find-capacity",
            chosen=lambda given: "find_capacity" in given,
        ),
        # 500 jobs/s: the original's load; 10 s of it: a backlog to see.
        Mode(
            "background",
            level_key="rate",
            level_text=lambda rate: f"{rate:g} jobs/s",
            title=_background_title,
            columns=columns.BACKGROUND_COLUMNS,
            legend=(columns.BACKGROUND_LEGEND, columns.HEALTH, columns.UNAVAILABLE),
            in_flight=lambda rate, t1_s: 25,
            measure=drive.background,
            default_level=500,
            default_s=10,
            expected_s=lambda settings: settings.duration_s + settings.deadline_s,
            needs_jobs=True,
            option="--mode background",
            chosen=lambda given: given.get("mode") == "background",
        ),
    ]
}


def load_of(run):
    """What a run (harness.records.suite.Run) was loaded with: (its mode's name, its level), e.g. ("closed", 25)."""
    return run.mode, getattr(run, MODES[run.mode].level_key)
