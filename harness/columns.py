"""The columns of the results tables, per load mode, and the legends that say what they mean: data only (the
load modes in harness/run/modes.py name theirs; harness/report/tables.py draws the tables). A column reads a run's
fields (harness/records/suite.py: Run); a figure the run has not is None, a "–" in its cell."""

from operator import attrgetter

from harness.instruments.measure import MIN_PROBES, rank


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


OLD_TIMEOUT_S = 10  # the health probe's timeout in runs that did not record theirs (Health.timeout_s None)


def health_percentile(health, point=99, digits=1):
    """What is known of a health probe's percentile `point` (a run's Health, or the ProbeFloor), as a table cell:
    the figure in ms (a number) where it is one; else text: "≥ T" where it falls among the probes not answered
    within the timeout T ms; for the p99, "M (max of N)" where N probes are too few for one (under MIN_PROBES:
    the nearest rank is one of the highest two); "≥ P" for an older run whose failures do not hold the rank but
    whose percentile P counted only the answered (a lower bound). None without probes.

    Older runs (timeout_s None) probed with a 10 s timeout and counted as unavailable an answer slower than
    SLOW_S too: their "failed" probes had no answer within 10 s, so where those hold the rank the percentile is
    at least 10 000 ms; where they do not, the answered probes hold it, exactly if none failed."""
    if not health.count:
        return None
    timeout_ms = (health.timeout_s or OLD_TIMEOUT_S) * 1000
    failed = health.failed or 0
    if rank(point, health.count) > health.count - failed:
        return f"≥ {timeout_ms:.0f}"
    if point == 99 and health.count < MIN_PROBES:
        if health.max is None and not failed:  # rounds merged, one of them without its max: not known
            return None
        return f"{f'≥ {timeout_ms:.0f}' if failed else f'{health.max:.{digits}f}'} (max of {health.count:.0f})"
    value = getattr(health, f"p{point}")
    return f"≥ {value:.{digits}f}" if failed and health.timeout_s is None else value


def health_p99_text(health, digits=1, unit=""):
    """A health p99 as text, for every table and sentence that prints one (health_percentile): "–" if unknown;
    `unit` after the figure ("9 ms (max of 56)")."""
    found = health_percentile(health, 99, digits)
    if found is None:
        return "–"
    if not isinstance(found, str):
        return f"{found:.{digits}f}{unit}"
    figure, _, count = found.partition(" (")
    return figure + unit + (f" ({count}" if count else "")


def _health(point):
    return lambda run: health_percentile(run.health_ms, point)


def _health_p99_there(run):
    """The capacity's health p99, of the confirming run that held (none held: None); in older runs, of the
    answered probes only (their number not recorded)."""
    if not any(step.confirming and step.passed for step in run.steps):
        return None
    there = run.at_capacity
    return health_percentile(there.health) if there.health.count else there.health_p99_ms


def steps_text(run):
    """The rates a search tried: ✓ passed, ✗ failed; ↗ failed on its backlog alone (its p99 was within the SLO);
    ! the step's send lag made it invalid."""

    def mark(step):
        within = not step.stopped_early and not step.failed and step.p99_ms is not None and step.p99_ms <= run.slo_ms
        return "↗" if within and step.steady is False else "✓" if step.passed else "✗"

    return " ".join(
        f"{step.rate:g}{mark(step)}{'!' if step.valid is False else ''}" for step in run.steps if not step.confirming
    )


def confirmed_text(run):
    """Each confirming run: its rate, ✓ or ✗ (↗: its backlog grew), its answers of those planned."""
    return (
        ", ".join(
            f"{step.rate:g}{'✓' if step.passed else '✗'}{'!' if step.valid is False else ''} "
            f"{step.ok or 0} of {step.planned or 0}"
            for step in run.steps
            if step.confirming
        )
        or None
    )


def capacity(run):
    """The highest rate confirmed (Run.capacity_bracket), "not confirmed" if the search ran but none held; a *
    after it if its steps were judged on p99 alone (saved before the backlog test)."""
    confirmed, _ = run.capacity_bracket()
    if confirmed is None:
        return "not confirmed" if run.steps else None
    # A step that stopped early failed on its p99 before a backlog could be read: it has none, in any results.
    if any(step.steady is None and not step.stopped_early for step in run.steps):
        return f"{confirmed:.1f}*"
    return confirmed  # a figure: with --repeat, the rounds' median and range


def failed_at(run):
    return run.capacity_bracket()[1]


def capacity_ratio(run):
    """The confirmed capacity ÷ CPUs / T1 during the search."""
    confirmed, _ = run.capacity_bracket()
    return confirmed / run.limit_per_s if confirmed and run.limit_per_s else None


def _at_capacity(name):
    """A figure of the confirming run that held (the capacity's), None if none held."""

    def get(run):
        held = [step for step in run.steps if step.confirming and step.passed]
        return getattr(held[-1], name) if held else None

    return get


POOLED = "pooled"  # with --repeat, of the rounds merged: latencies' histograms, health probes (report.median_run)

# (header, how to read it from a run, digits, with --repeat: True its median and range, POOLED, False the median)
CLOSED_COLUMNS = [
    ("Avail. %", _get("availability"), 2, False),
    ("Trans/s", _get("transaction_rate"), 2, True),
    ("Steady/s", _get("steady_tasks_per_s"), 2, True),
    ("Mean s", _get("response_time_s"), 2, False),
    ("p50 ms", _latency("p50"), 0, POOLED),
    ("p99 ms", _latency("p99"), 0, POOLED),
    ("Health p50 ms", _health(50), 1, False),
    ("Health p99 ms", _health(99), 1, POOLED),
    ("Unavail. %", _get("health_ms.unavailable_pct"), 1, POOLED),
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
    ("Health p99 ms", _health(99), 1, POOLED),
    ("Unavail. %", _get("health_ms.unavailable_pct"), 1, POOLED),
    ("Peak PSS MB", _get("peak_pss_mb"), 0, False),
    ("CPU s", _get("cpu_s"), 1, False),
    ("T1 now ms", _ms("task_s"), 1, False),
    ("In task %", _pct("in_task_share"), 1, False),
]


CAPACITY_COLUMNS = [
    ("Capacity req/s", capacity, 1, True),
    ("Failed at req/s", failed_at, 1, True),
    ("÷ CPUs / T1", capacity_ratio, 2, True),
    ("T1 during ms", _ms("t1_during_s"), 0, False),
    ("Confirming runs", confirmed_text, None, False),
    ("p99 ms there", _at_capacity("p99_ms"), 0, False),
    ("Health p99 ms there", _health_p99_there, 1, False),
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
    ("Health p99 ms", _health(99), 1, POOLED),
    ("Unavail. %", _get("health_ms.unavailable_pct"), 1, POOLED),
]

# What the columns mean, under the tables: each mode names the parts its tables need; a part shared by several
# modes in one block is printed once.
HEALTH = (
    "Health: ``GET /health`` sent on a fixed schedule whatever the answers (every 100 ms; in a run shorter "
    "than 10 s often enough for 100 probes), latency from the time it was meant to be sent. A probe not "
    "answered 200 within 1 s (refused, reset, late) failed, and counts as slower than any answer: "
    '"≥ 1000" where the p99 falls among the failures; "M (max of N)": N probes, too few for a p99, M the '
    "highest. Results saved before the probe counted its failures: a probe failed after 10 s without an "
    'answer ("≥ 10000" where those hold the p99\'s rank), and p50/p99 are otherwise of the answered probes.'
)
UNAVAILABLE = "Unavail. %: the share of the run in which a probe got no answer within 1 s."
# The server's own figures over a run, in the tables that have their columns (closed and open loop).
RUN_FIGURES = (
    "Peak PSS: the whole process tree, a page shared by several processes counted once. CPU s: the CPU "
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
OPEN_LOOP = (
    "Open loop: requests sent on schedule whatever the answers, each on a new connection, latency from the "
    "time it was due."
)
OPEN_LEGEND = (
    "Answered/s: answers 200 ÷ the run's seconds; Failed: refused, reset, non-200 or "
    "never answered. p50 to max: of every request sent, a failure counted as slower than any answer "
    '("> X": the percentile falls among the failures, X the slowest answer; max is then unknown). Send '
    "lag: how late the driver wrote each request; a run with a p99 over 5 ms or a max over 50 ms is "
    "marked invalid."
)
CAPACITY_LEGEND = (
    'Capacity: a bracket. Capacity req/s: the highest rate whose confirming run held ("not confirmed": '
    "none did, and no capacity is published); Failed at req/s: the lowest rate that did not hold, a step or a "
    "confirming run: the capacity lies between the two. A run holds when its p99 is within the SLO, no request "
    "failed and its backlog did not grow: the mean count of requests in flight over the run's second half at "
    "most 5 % of half the run's arrivals (or 1 request) above the first half's, so an overload over 5 % fails "
    "(↗: failed on its backlog alone). Steps last at least 10 × the SLO: an overload e adds e × t seconds of "
    "waiting by time t, over the SLO s once t > s / e, 10 % at 10 × s. * after a capacity: results saved "
    "before the backlog test, judged on p99 alone. ÷ CPUs / T1: the capacity ÷ (CPUs ÷ T1 during), T1 "
    "during the median of T1 timed before the search and after each run. Rates tried: ✓ passed, ✗ failed "
    "(most stop early), ! invalid by send lag (reported, not excluded: a late send only adds latency). "
    "Confirming runs: the rate found run once more for at least --confirm requests (default 300: its p99 is "
    "then the 4th highest value, not an outlier's; at most 60 s, so fewer below 5 requests/s), with its "
    "answers of those planned; if it did not hold, one lower rate is confirmed instead. p99 ms there and "
    "Health p99 ms there: of the confirming run that held (in results saved before the probe counted its "
    "failures: of its answered probes, how many not recorded)."
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
