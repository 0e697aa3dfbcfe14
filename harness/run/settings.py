"""The suite's settings for the run path, one name a quantity: what run_all.py's command line decided, frozen.
run_all.py builds them once (settings_from) and hands them to harness/run/ (bench.py, drive.py, capacity.py,
the modes' lambdas); a setting changed for one run is a copy (dataclasses.replace)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    duration_s: float  # seconds of each measured run (a capacity search's step; background: of submitting)
    warmup_s: float  # seconds of siege warming each server up before it is measured
    deadline_s: float = 60  # background: how long the jobs are followed after the last submission
    arrivals: str = "constant"  # open loop: "constant" (every 1/rate s) or "poisson"
    seed: int = None  # the Poisson schedules' seed (None: constant arrivals)
    slo_ms: float = 1000  # the capacity search's latency target (p99); the open loop's drain is 3 times it
    confirm: int = 300  # capacity: the rate found run once more for at least this many requests (0: not)
    n: int = None  # the task size asked for in verification (None: each kind's default)
    port_offset: int = 0  # added to every server's port
