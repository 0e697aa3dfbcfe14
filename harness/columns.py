"""The columns of the results tables, per load mode, and the legends that say what they mean: data only (the
load modes in harness/run/modes.py name theirs; harness/report/tables.py draws the tables). A column reads a run's
fields (harness/records/suite.py: Run); a figure the run has not is None, a "–" in its cell."""

from operator import attrgetter


def _get(path):
    """A run's field, or a field of it: "health_ms.p99"."""
    return attrgetter(path)


def _ms(name):
    """A run's figure in seconds, read in milliseconds."""
    return lambda run: getattr(run, name) * 1000 if getattr(run, name) else None


def _pct(name):
    """A run's share (0 to 1), read in percent."""
    return lambda run: getattr(run, name) * 100 if getattr(run, name) is not None else None


def _latency(point, figure="latency_ms"):
    """A percentile (p50, p99_9, max) of a run's `figure`: the open loop's latencies in ms, the background
    submitter's 202s ("accept_ms"), its jobs' submit-to-done seconds ("submit_to_done_s"); "> X" where it is only
    known as a bound (it fell among failures, or jobs not done: censored)."""

    def get(run):
        found = getattr(run, figure)
        above = None if point == "max" else getattr(found, f"{point}_above")  # max has no bound: None then
        return f"> {above:.0f}" if above is not None else getattr(found, point)

    return get


def steps_text(run):
    """The rates a search tried: ✓ within the SLO, ✗ not; ! the step's send lag made it invalid."""
    return " ".join(
        f"{step.rate:g}{'✓' if step.passed else '✗'}{'!' if step.valid is False else ''}"
        for step in run.steps
        if not step.confirming
    )


def confirmed_text(run):
    step = next((step for step in run.steps if step.confirming), None)
    if step is None:
        return None
    return f"{'✓' if step.passed else '✗'}{'!' if step.valid is False else ''} {step.ok or 0} answers"


POOLED = "pooled"  # a latency percentile: with --repeat, of the rounds' histograms merged (report.median_run)

# (header, how to read it from a run, digits, with --repeat: True its median and range, POOLED, False the median)
CLOSED_COLUMNS = [
    ("Avail. %", _get("availability"), 2, False),
    ("Trans/s", _get("transaction_rate"), 2, True),
    ("Steady/s", _get("steady_tasks_per_s"), 2, True),
    ("Mean s", _get("response_time_s"), 2, False),
    ("p50 ms", _latency("p50"), 0, POOLED),
    ("p99 ms", _latency("p99"), 0, POOLED),
    ("Health p50 ms", _get("health_ms.p50"), 1, False),
    ("Health p99 ms", _get("health_ms.p99"), 1, True),
    ("Unavail. %", _get("health_ms.unavailable_pct"), 1, False),
    ("Peak PSS MB", _get("peak_pss_mb"), 0, False),
    ("CPU s", _get("cpu_s"), 1, False),
    ("T1 now ms", _ms("task_s"), 1, False),
    ("In task %", _pct("in_task_share"), 1, True),
    ("Task CPU ms", _get("task_cpu_ms"), 1, False),
    ("Cost × alone", _get("cost_x"), 2, False),
    ("Others cores", _get("others_cores"), 2, False),
    ("Steal %", _get("steal_pct"), 1, False),
    ("Efficiency", _get("efficiency"), 2, True),
]
OPEN_COLUMNS = [
    ("Answered/s", _get("transaction_rate"), 2, False),
    ("Failed", _get("failed"), 0, True),
    ("p50 ms", _latency("p50"), 0, POOLED),
    ("p90 ms", _latency("p90"), 0, POOLED),
    ("p99 ms", _latency("p99"), 0, POOLED),
    ("p99.9 ms", _latency("p99_9"), 0, POOLED),
    ("max ms", _latency("max"), 0, POOLED),
    ("Send lag p99 ms", _get("send_lag_ms.p99"), 1, False),
    ("Health p99 ms", _get("health_ms.p99"), 1, True),
    ("Unavail. %", _get("health_ms.unavailable_pct"), 1, False),
    ("Peak PSS MB", _get("peak_pss_mb"), 0, False),
    ("CPU s", _get("cpu_s"), 1, False),
    ("T1 now ms", _ms("task_s"), 1, False),
    ("In task %", _pct("in_task_share"), 1, False),
]


CAPACITY_COLUMNS = [
    ("Capacity req/s", _get("capacity_per_s"), 1, True),
    ("÷ CPUs / T1", _get("ratio"), 2, True),
    ("T1 during ms", _ms("t1_during_s"), 0, False),
    ("Confirmed", confirmed_text, None, False),
    ("p99 ms there", _get("at_capacity.p99_ms"), 0, False),
    ("Health p99 ms there", _get("at_capacity.health_p99_ms"), 1, False),
    ("Rates tried (round 1)", steps_text, None, False),
]


BACKGROUND_COLUMNS = [
    ("Accepted %", _pct("accepted_share"), 1, True),
    ("202 p50 ms", _latency("p50", "accept_ms"), 1, False),
    ("202 p99 ms", _latency("p99", "accept_ms"), 1, True),
    ("Done %", _pct("done_share"), 1, True),
    ("Completed/s", _get("completion_rate"), 2, True),
    ("Done p50 s", _latency("p50", "submit_to_done_s"), 1, False),
    ("Done p99 s", _latency("p99", "submit_to_done_s"), 1, False),
    ("Max backlog", _get("max_backlog"), 0, False),
    ("Refused", _get("refused"), 0, False),
    ("Unfinished", _get("unfinished"), 0, False),
    ("Failed", _get("failed"), 0, False),
    ("Lost", _get("lost"), 0, True),
    ("Unreachable", _get("unreachable"), 0, False),
    ("Health p99 ms", _get("health_ms.p99"), 1, True),
    ("Unavail. %", _get("health_ms.unavailable_pct"), 1, False),
]

# What the columns mean, under the tables: each mode names the parts its tables need; a part shared by several
# modes in one block is printed once.
HEALTH = (
    "Health: ``GET /health`` sent every 100 ms whatever the answers, latency from the time it was meant to be "
    "sent (p50/p99 of those answered); Unavail. %: the share of the run in which a probe got no answer within "
    "1 s. Peak PSS: the whole process tree, a page shared by several processes counted once. CPU s: the CPU "
    "seconds of the server's whole tree during the run. T1 now: one task alone, timed just before the run. "
    "In task %: the CPU seconds the tasks themselves took, as each process that ran one measured it "
    "(``GET /stats``; a thread's own time, so waiting for the GIL is not counted) ÷ (CPUs × the run's "
    "seconds)."
)
LEGEND = (
    "Closed loop (siege): Avail. %: siege's answers 200 ÷ its requests; Trans/s, Mean s, p50/p99: answers 200 "
    "only. Task CPU ms: the mean of one task's CPU time; Cost × alone: that ÷ the same task's CPU time alone, "
    "on the row's Python. Others cores: the cores busy on the machine (``/proc/stat``) less the server "
    "tree's: siege, the harness, anything else. Steal %: the share of the machine's CPU time its hypervisor "
    "gave to others. Efficiency: for work that computes, In task % as a share (what the strategy kept the "
    "cores doing); for work that waits, Trans/s ÷ (users / T1 now). Steady/s: the tasks the server counted "
    "(``GET /stats``) between its first and last answer inside siege's time less its edges (from 15 % of it "
    "to 90 %, or its last second) ÷ the seconds between them; Trans/s counts the edges too, where a server "
    "that queues requests inside it finishes up to one per user that siege no longer counts. –: not known "
    "(results saved before it, or too few answers of a busy server inside that window): Trans/s stands. "
    "(counts disagree: +N): the server counted N tasks more (−N: fewer) over the run than siege's answers "
    "200, more than the users in flight, siege's failed requests and 2 allow."
)
OPEN_LEGEND = (
    "Open loop: requests sent on schedule whatever the answers, each on a new connection, latency from the "
    "time it was due. Answered/s: answers 200 ÷ the run's seconds; Failed: refused, reset, non-200 or "
    "never answered. p50 to max: of every request sent, a failure counted as slower than any answer "
    '("> X": the percentile falls among the failures, X the slowest answer; max is then unknown). Send '
    "lag: how late the driver wrote each request; a run with a p99 over 5 ms or a max over 50 ms is "
    "marked invalid."
)
CAPACITY_LEGEND = (
    "Capacity: the highest open-loop rate of the search whose p99 was within the SLO with no failure; "
    "÷ CPUs / T1: that ÷ (CPUs ÷ T1 during), T1 during the median of T1 timed before the search and "
    "after each step. Rates tried: ✓ passed, ✗ failed (most stop early), ! invalid by send lag "
    "(reported, not excluded: a late send only adds latency). Confirmed: the rate found run once more "
    "for at least --confirm requests (default 300: its p99 is then the 4th highest value, not an "
    "outlier's; at most 60 s, so fewer below 5 requests/s), with its answers counted (✗: it did not hold, "
    "the capacity is below the figure). p99 ms there and "
    "Health p99 ms there: of the last run at the capacity that passed."
)
BACKGROUND_LEGEND = (
    "Background: ``POST /jobs`` at the rate in the title for the run's duration (the open-loop "
    "schedule; Accepted %: 202s ÷ the jobs planned; 202 latency from the time each was due; "
    "Refused: POSTs not answered 202), then the jobs followed (``GET /jobs`` every 0.5 s) until "
    "none was queued or running, or the deadline, and each read once. Done %: of the accepted. "
    "Completed/s: jobs done ÷ the time from the first submission to the last done. Done p50/p99: "
    "from submission to the server's done_at, of every accepted job (rank int(p % × accepted + "
    '0.5)); "> S": the percentile falls among jobs not done at the last look, the least of which '
    "had waited S s. Max backlog: queued + running. At the last look: Unfinished, still queued or "
    "running (lost when an in-memory server stops); Failed, the task raised; Lost, an accepted job "
    "the live server no longer knew (404); Unreachable, no answer from the server."
)
