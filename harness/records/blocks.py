"""The results of make report's other blocks as typed records: the soak (harness/experiments/soak.py), the hosts'
open loop and fault table (harness/hosts/cluster.py), the blocks that keep what their commands printed, and make
test's count and time. Each is a results.json, read and written by harness/records/file.py."""

from dataclasses import dataclass, field
from typing import ClassVar

from harness.records.base import Record
from harness.records.suite import Environment


@dataclass(frozen=True, kw_only=True)
class SoakRun(Record):
    """One server soaked: answers checked, its tree's memory and open files at rest before and after, and slopes."""

    server: str
    minutes: float
    checked: int
    wrong: int
    bad_requests: int
    bad_wrong: int
    siege_availability: float = None  # None: siege counted nothing
    gave_up: int = 0
    workers_killed: int = 0
    pss_mb_at_rest: list = field(default_factory=lambda: [None, None])  # [before, after]
    pss_mb_max: float = None
    pss_floor_slope_mb_per_min: float = None
    fds_at_rest: list = field(default_factory=lambda: [None, None])
    fds_max: int = None
    fds_floor_slope_per_min: float = None
    processes_at_rest: list = field(default_factory=lambda: [None, None])
    idle_after_s: float = None  # seconds until the tree went idle after the load
    idle_after: bool = None  # False: not idle within the soak's bound (its "after" readings are of a working server)
    samples: list = field(default_factory=list)  # [seconds, PSS MB, FDs] every SAMPLE_S
    errors: list = field(default_factory=list)  # the first few
    error_count: int = None  # all of them (None: saved before it was counted)
    clean_stop: bool = None


@dataclass(frozen=True, kw_only=True)
class SoakResults(Record):
    NESTED: ClassVar[dict] = {"environment": Environment, "runs": [SoakRun]}

    environment: Environment
    minutes: float
    runs: list  # [SoakRun]
    took_s: int = None
    exit_statuses: list = None


@dataclass(frozen=True, kw_only=True)
class ClusterLoad(Record):
    """The load of the hosts' runs: the fault runs' jobs, and the open loop's rate and seconds."""

    rate: float
    run_s: float
    users: int
    fault_at_s: float
    follow_s: float
    short_s: float = None
    # Not in older results, whose open loop ran at 10 requests/s for 20 s (what those runs did, whatever the
    # constants of harness/hosts/measured.py say now).
    open_rate: float = 10
    open_s: float = 20


@dataclass(frozen=True, kw_only=True)
class OpenRun(Record):
    """An engine's open loop, on hosts or on loopback, without a fault."""

    engine: str
    placement: str
    rate: float = None
    seconds: float = None
    answered_per_s: float = None
    failed: int = None
    p50_ms: float = None
    p99_ms: float = None
    p99_above_ms: float = None  # the p99 fell among failures: it is only known to be above this
    health_p99_ms: float = None  # the suite's health probe (harness.instruments.measure.HealthProbe)
    health_p99_above_ms: float = None  # the p99 fell among the probes unanswered within 1 s: the timeout, ms
    health_failed: int = None
    health_probes: int = None
    cpu_ms_per_answer: dict = field(default_factory=dict)  # {role: CPU ms per answer}
    error: str = None


@dataclass(frozen=True, kw_only=True)
class FaultRun(Record):
    """An engine under a fault: what became of the jobs it accepted, and how soon it was back."""

    engine: str
    fault: str
    accepted: int = None
    refused: dict = field(default_factory=dict)  # {why: count}
    done: int = None
    failed: int = None
    lost: int = None
    unfinished: int = None
    ran_twice: int = None
    back_after_s: float = None  # None: not back within the run
    lowest_share: float = None
    users: dict = field(default_factory=dict)  # {what the users saw: count}
    health_p99_ms: float = None  # the suite's health probe, as OpenRun's
    health_p99_above_ms: float = None
    health_failed: int = None
    health_probes: int = None
    error: str = None  # the run could not be made: no figures
    driver_note: str = None  # the job driver's own error (it fell behind its schedule): figures, said beside


@dataclass(frozen=True, kw_only=True)
class ClusterResults(Record):
    NESTED: ClassVar[dict] = {"environment": Environment, "load": ClusterLoad, "open": [OpenRun], "runs": [FaultRun]}

    environment: Environment
    load: ClusterLoad
    open: list = field(default_factory=list)  # [OpenRun]
    runs: list = field(default_factory=list)  # [FaultRun]
    took_s: int = None
    exit_statuses: list = None


@dataclass(frozen=True, kw_only=True)
class TextResults(Record):
    """A block that keeps what its commands printed (stall, pools, gil-cost, celery-waits)."""

    NESTED: ClassVar[dict] = {"environment": Environment}

    environment: Environment
    output: str
    took_s: int = None
    exit_statuses: list = None


@dataclass(frozen=True, kw_only=True)
class TimesResults(Record):
    """make test's count and time, from a fresh clone's run of it."""

    NESTED: ClassVar[dict] = {"environment": Environment}

    environment: Environment
    passed: int
    seconds: float
