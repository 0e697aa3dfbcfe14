"""The limit a run is compared with: the most tasks per second any strategy can finish on this machine."""

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    per_s: float  # tasks per second
    by: str  # what bounds it: "2 CPUs" or "25 users"
    t1: str = "T1"  # which T1: "T1" (the suite's start), "T1 now" (the runs' own)

    @property
    def text(self):
        return f"limit {self.by} / {self.t1} = {self.per_s:.1f} tasks/s"


def of_kind(cpu_count, t1_s, waits, users=None, t1_now_s=None):
    """CPUs / T1 for work that computes, users / T1 for work that waits (each of the closed loop's users has one
    request in flight); CPUs / T1 when there are no users to count. T1 is the task's time alone at the start of
    the suite, or `t1_now_s` if given (a capacity search's median of T1 measured during it)."""
    t1 = t1_s if t1_now_s is None else t1_now_s
    which = "T1" if t1_now_s is None else "T1 now"
    if waits and users:
        return Limit(users / t1, f"{users} users", which)
    return Limit(cpu_count / t1, f"{cpu_count} CPUs", which)


def limit(env, task, users=None, t1_s=None):
    """The limit of a task kind while the suite runs, from its environment as it builds it (a dict): of_kind."""
    kind = env["tasks"][task]
    return of_kind(env["cpu_count"], kind["t1_s"], kind["waits"], users, t1_s)


def limit_now(env, task, runs, users=None):
    """The limit of a table or a chart of `runs` (harness.records.suite records): against T1 in the same minutes as they
    ran (the median of the runs' own T1 now: timed before each run, or a capacity search's median during it), so
    that the title, the chart's line and each row's efficiency use one definition. The start's T1 where no run
    has one."""
    kind = env.tasks[task]
    samples = [t1 for t1 in (run.t1_during_s or run.task_s for run in runs) if t1]
    now = statistics.median(samples) if samples else None
    return of_kind(env.cpu_count, kind.t1_s, kind.waits, users, t1_now_s=now)


def efficiency(rate, limit_per_s):
    """The share of the limit reached."""
    return round(rate / limit_per_s, 3)


def run_efficiency(run, env, task, users):
    """A closed-loop run's efficiency, while the suite runs (the run and its environment as it builds them). For
    work that computes: the share of the cores spent inside tasks (the tasks' own CPU seconds, from the server's
    accounting in the same minutes, ÷ (CPUs × the run's seconds)), which the machine's drift does not move as a T1
    timed at another moment does; a task's extra cost in a strategy shows in its Cost × alone, not here. For work
    that waits: tasks/s ÷ (users / T1 timed just before the run)."""
    if not env["tasks"][task]["waits"] and run.get("in_task_share") is not None:
        return run["in_task_share"]
    return efficiency(run["transaction_rate"], limit(env, task, users, t1_s=run.get("task_s")).per_s)
