"""The suite's results as typed records: what run_all.py saves in results.json (the environment, and every run of
a server under a load), read by the tables, the charts and the findings.

The runs are built as dicts while they run (harness/run/bench.py, drive.py, the load drivers) and become records
at the boundary, when they are saved or loaded (harness/records/file.py). A field a run lacks for a reason has its
typed default here, once: None for a figure not measured (a run that did not come up, a mode without it), an
empty Health or Percentiles for a mode without a health probe or latencies, so that a reader reads
`run.health_ms.p99` and gets None rather than an error.
"""

from dataclasses import dataclass, field
from typing import ClassVar

from harness.records.base import Record, json_key


@dataclass(frozen=True, kw_only=True)
class TaskKind(Record):
    """One task kind of the suite, timed alone at its start (harness/run/bench.py: time_kind)."""

    n: int
    t1_s: float  # one task alone, at the suite's start
    waits: bool  # whether the work waits (limit: users / T1) or computes (CPUs / T1)
    t1_cpu_s: float = None  # its CPU time alone: what a run's Cost × alone divides by (not in older runs)
    t1_s_end: float = None  # T1 again at the suite's end (absent if the suite was interrupted)


@dataclass(frozen=True, kw_only=True)
class ProbeFloor(Record):
    """The health probe's reference: its p50/p99 against an idle server while every core is busy, counted as in a
    run (Health's fields of the same names; count, failed and timeout_s are not in older runs)."""

    p50: float = None
    p99: float = None
    seconds: float = 0  # how long it probed (not in the oldest runs)
    window_s: float = None  # the windows of window_p99_range; absent in runs without the tree sampler beside it
    window_p99_range: list = None  # [lowest, highest] p99 of the windows (a window's failures counted in it)
    max: float = None
    count: int = None
    failed: int = None
    timeout_s: float = None


@dataclass(frozen=True, kw_only=True)
class Environment(Record):
    """The machine, the versions and the commit of a run (harness/instruments/provenance.py)."""

    NESTED: ClassVar[dict] = {"tasks": {str: TaskKind}, "probe_floor_ms": ProbeFloor}

    cpu: str
    cpu_count: int
    os: str
    python: str
    commit: str  # 40 hex digits, "-dirty" after it if the tree had changes
    started: str  # ISO 8601, to the second
    cpu_affinity: int = None
    cpu_quota: float = None  # the cgroup's CPU quota; None without one
    ram_gb: float = None
    tornado: str = None
    siege: str = None
    tasks: dict = field(default_factory=dict)  # {kind: TaskKind}; {} for the blocks that time no task
    seed: int = None  # the Poisson schedule's seed, when the suite was given one
    order_seed: int = None  # the seed of the rounds' shuffled order (not in older runs)
    probe_floor_ms: ProbeFloor = None  # the suite's only; None if its server did not come up
    free_threaded_python: str = None  # the version of the free-threaded twin rows' interpreter, if there is one
    free_threaded_build: list = None  # how tools/free_threaded_python.sh built it: its build-info lines
    fastapi: str = None
    uvicorn: str = None
    uvicorn_extras: str = None
    flask: str = None  # 9_flask.py's, and its servers' (gevent: gunicorn's gevent workers)
    gunicorn: str = None
    gevent: str = None
    granian: str = None
    postgresql: str = None  # the db kind's server, and the engine and driver that query it
    sqlalchemy: str = None
    psycopg: str = None


@dataclass(frozen=True, kw_only=True)
class Percentiles(Record):
    """A latency summary (ms, or s where the field says): nearest-rank percentiles and the max. Where a percentile
    falls among failures or unfinished jobs it is None, and `pN_above` the bound it is known to exceed (censored);
    max is then None. An empty summary: nothing answered, or a mode that has none."""

    p50: float = None
    p90: float = None
    p99: float = None
    p99_9: float = field(default=None, metadata=json_key("p99.9"))
    max: float = None
    p50_above: float = None
    p90_above: float = None
    p99_above: float = None
    p99_9_above: float = field(default=None, metadata=json_key("p99.9_above"))


@dataclass(frozen=True, kw_only=True)
class Health(Record):
    """The health probe beside a run (harness/instruments/measure.py: HealthProbe); empty for the capacity search,
    whose steps record their own. Rendered by harness/columns.py: health_p99_text.

    Since timeout_s: p50/p99/max of every probe, a failure (no 200 within timeout_s, which is SLOW_S) counted
    as slower than any answer ("pN_above": the largest answer, where the percentile fell among the failures).
    Older runs (no timeout_s): of the answered probes only; "failed" had no 200 within 10 s, and unavailable_pct
    counted those and the answers slower than SLOW_S (slow_or_failed)."""

    p50: float = None  # ms
    p99: float = None
    max: float = None
    p50_above: float = None
    p99_above: float = None
    planned: int = None
    count: int = None  # probes sent
    failed: int = None
    slow_or_failed: int = None
    unavailable_pct: float = None  # the share of the run in which a probe got no answer within SLOW_S
    errors: list = None
    timeout_s: float = None  # None: an older run's probe (10 s, its p99 of the answered only)
    interval_s: float = None  # None: an older run's, every 0.1 s


@dataclass(frozen=True, kw_only=True)
class Step(Record):
    """One open-loop run of a capacity search (harness/run/capacity.py)."""

    NESTED: ClassVar[dict] = {"health": Health}

    rate: float
    passed: bool
    p99_ms: float = None
    stopped_early: bool = None
    failed: int = None
    send_lag_p99_ms: float = None
    valid: bool = None
    health_p99_ms: float = None  # older runs': of the answered probes only (health.p99 now)
    health: Health = field(default_factory=Health)  # not in older runs
    planned: int = None
    sent: int = None
    ok: int = None
    confirming: bool = False  # the rate found, run once more for longer (not in older runs)
    started_busy: bool = False  # the server was not idle before it (not in older runs)
    seconds: float = None  # how long it sent (not in older runs: the run's duration_s, or a confirming run's)
    in_flight_halves: list = None  # requests in flight, the mean over each half (not in older runs: unknown)
    steady: bool = None  # its backlog held (capacity.steady); None: not known, older runs judged by p99 alone
    error: str = None


@dataclass(frozen=True, kw_only=True)
class AtCapacity(Record):
    NESTED: ClassVar[dict] = {"health": Health}

    p99_ms: float = None  # of the last step at the capacity that passed
    health_p99_ms: float = None  # older runs': of the answered probes only, how many not recorded
    health: Health = field(default_factory=Health)  # not in older runs


@dataclass(frozen=True, kw_only=True)
class Run(Record):
    """One server under one load: what it was, whether it was measured, and the figures of its mode."""

    NESTED: ClassVar[dict] = {
        "health_ms": Health,
        "latency_ms": Percentiles,
        "send_lag_ms": Percentiles,
        "connect_ms": Percentiles,
        "accept_ms": Percentiles,
        "submit_to_done_s": Percentiles,
        "submit_to_done_ms": Percentiles,
        "steps": [Step],
        "at_capacity": AtCapacity,
    }

    # What ran (harness/run/bench.py: bench_one)
    server: str  # the row's label: "3_async_threadexecutor --workers 25 (free-threaded)"
    strategy: str  # the script's name, the same for its sized variants and its twin
    task: str
    mode: str = "closed"  # a load mode of harness/run/modes.py (runs before there were modes: closed)
    concurrency: int = None  # the closed loop's level: siege's users
    rate: float = None  # the open loop's and the background load's level, per second
    rate_share: float = None  # that rate as a share of CPUs / T1 at the suite's start, when asked as one (0.5x)
    slo_ms: float = None  # the capacity search's level
    arrivals: str = None  # the open loop's schedule: constant or poisson
    deadline_s: float = None  # the background load's: how long its jobs are followed after the submitting
    duration_s: float = None
    round: int = 0  # which of --repeat's rounds
    port: int = None
    python: str = None  # the interpreter's version, "t" after it for a free-threaded build
    free_threaded: bool = False
    gil_enabled: bool = None  # as the server said after its imports; None if it did not say
    verified: bool = False
    measured: bool = False  # False: a row with no figures (error says why)
    clean_shutdown: bool = None  # None: not stopped yet when it was saved
    error: str = None
    note: str = None
    idle_wait_s: float = None  # how long the server took to go idle after the warm-up
    started_busy: bool = False  # it did not go idle within a minute, and was measured anyway
    task_s: float = None  # T1 now: one task alone, just before the run
    t1_cpu_s: float = None  # a task's CPU alone on the row's own interpreter, if it is not the suite's
    # The closed loop (harness/load/siege.py)
    transactions: int = None
    non_200: int = None
    failed: int = None  # requests that failed; for the background load, jobs whose task raised
    availability: float = None
    transaction_rate: float = None  # answers 200 per second
    response_time_s: float = None
    elapsed_s: float = None
    latency_ms: Percentiles = field(default_factory=Percentiles)
    latency_hist: str = None  # the latencies as an encoded HDR histogram: what --repeat merges
    siege: dict = None  # siege's own summary, its names
    siege_summary: str = None
    limit_per_s: float = None
    efficiency: float = None
    # The closed loop's tasks in steady state and siege's count beside the server's (harness/instruments/steady.py);
    # None in results saved before them
    steady_tasks_per_s: float = None  # the server's tasks between two reads inside siege's time ÷ their seconds
    steady_tasks: int = None
    steady_s: float = None
    stats_wait_s: list = None  # how long each of the two reads waited for its answer
    steady_error: str = None  # why steady_tasks_per_s is None in a run that had it measured
    count_gap: int = None  # the server's tasks over the whole run less siege's answers 200
    counts_disagree: bool = None  # |count_gap| beyond the users in flight, siege's failures and a slack
    # The instruments beside the load (harness/instruments/measure.py)
    health_ms: Health = field(default_factory=Health)
    peak_pss_mb: float = None
    peak_rss_sum_mb: float = None
    cpu_s: float = None
    cores_busy: float = None
    processes: int = None
    machine_busy_s: float = None
    machine_busy_cores: float = None
    accounted_s: float = None
    others_cores: float = None
    steal_pct: float = None
    tasks_counted: int = None
    task_cpu_s: float = None
    task_cpu_ms: float = None
    task_wall_ms: float = None
    in_task_share: float = None  # the tasks' CPU seconds ÷ (CPUs × the run's seconds); None without accounting
    cost_x: float = None
    # The open loop (harness/load/openloop.py)
    planned: int = None
    sent: int = None
    ok: int = None
    errors: dict = None  # failures by kind
    unfinished: int = None  # requests never answered; for the background load, jobs still queued or running
    stopped_early: bool = None
    in_flight_at_stop: int = None
    in_flight_halves: list = None  # the mean count in flight over the schedule's first half and its second
    drain_s: float = None
    send_lag_ms: Percentiles = field(default_factory=Percentiles)
    connect_ms: Percentiles = field(default_factory=Percentiles)
    valid: bool = None  # False: the driver's send lag made the run invalid
    seed: int = None
    scheduling: str = None
    # The capacity search (harness/run/capacity.py)
    capacity_per_s: float = None  # the highest rate confirmed (older runs: the rate found, confirmed or not)
    failed_per_s: float = None  # the lowest rate that failed a step or a confirmation (not in older runs)
    confirmed: bool = None
    ratio: float = None
    steps: list = field(default_factory=list)  # [Step]
    t1_during_s: float = None
    t1_samples_s: list = None
    at_capacity: AtCapacity = field(default_factory=AtCapacity)
    # The background load (harness/load/jobs.py)
    accepted: int = None
    accepted_share: float = None
    accept_rate: float = None  # older runs'
    refused: int = None
    accept_ms: Percentiles = field(default_factory=Percentiles)
    done: int = None
    lost: int = None
    unreachable: int = None
    done_share: float = None
    completion_rate: float = None
    submit_to_done_s: Percentiles = field(default_factory=Percentiles)
    submit_to_done_ms: Percentiles = field(default_factory=Percentiles)  # older runs', in ms
    max_backlog: int = None
    status_requests: int = None

    def capacity_bracket(self):
        """A capacity search's (highest rate confirmed or None, lowest rate failed or None), read from its steps:
        the rule for runs saved before the bracket too, whose capacity_per_s is the rate found even where its
        confirming run failed. A rate is a capacity only if a confirming run at it passed."""
        confirmed = [step.rate for step in self.steps if step.confirming and step.passed]
        failed = [step.rate for step in self.steps if not step.passed]
        return max(confirmed, default=None), min(failed, default=None)

    @property
    def throughput(self):
        """A closed-loop row's tasks/s: in steady state (steady_tasks_per_s) where it was measured, else siege's
        rate over the whole run, edges included (transaction_rate): for older results, or a read of the server's
        totals that failed (steady_error says why). Not `rate`: that field is the open loop's level."""
        return self.steady_tasks_per_s if self.steady_tasks_per_s is not None else self.transaction_rate


@dataclass(frozen=True, kw_only=True)
class SuiteResults(Record):
    """A suite's results.json: the environment and the runs; the time the block took when make report ran it."""

    NESTED: ClassVar[dict] = {"environment": Environment, "runs": [Run]}

    environment: Environment
    runs: list  # [Run], in the order they ran
    took_s: int = None  # make report's: the block's minutes, and its commands' exit statuses
    exit_statuses: list = None
