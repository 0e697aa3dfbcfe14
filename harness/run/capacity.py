"""A strategy's capacity: the highest open-loop rate it sustains within a latency target, found by search."""

import dataclasses

import numpy

import tasks
from harness import limits
from harness.cli import MAX_RATE
from harness.run.drive import open_run, settle

CONFIRM_S = 60  # the longest confirming run; --confirm's default of 300 requests makes its p99 the 4th highest


def search(passes, start, highest, precision=0.05, max_steps=12):
    """The highest rate for which `passes(rate)` holds, assuming it holds below some threshold and fails above.

    Up from `start` by doubling until a rate fails (or `highest` passes), then bisection between the highest rate
    that passed and the lowest that failed, until they are within `precision` of each other; each call of
    `passes` is one measured run, so there are at most `max_steps`: enough to come within `precision` of a
    threshold from a quarter of `start` to 16 times it. Returns 0.0 if no rate tried passed."""
    passed, failed, rate = 0.0, None, start
    for _ in range(max_steps):
        if passes(rate):
            passed = rate
        else:
            failed = rate
        if failed is None:  # still going up
            if rate >= highest:
                break
            rate = min(2 * rate, highest)
        else:
            if failed - passed <= precision * failed:
                break
            rate = round_rate((passed + failed) / 2)
            if rate in (passed, failed):  # as close as three figures go
                break
    return passed


def round_rate(rate):
    """Three significant figures: a rate a person can read and type (12.3, 0.456, 1230)."""
    return float(f"{rate:.3g}")


def find_capacity(m):
    """The capacity search of one run (a drive.Measuring whose level is the SLO in ms): each step an open-loop
    run that stops early once its p99 can no longer be within the SLO; starting at half of CPUs / T1, doubling
    until a rate fails, then bisecting. Its figures, to merge into the run."""
    slo_ms, kind = m.level, m.env["tasks"][m.task.kind]
    steps, t1_samples = [], [m.run["task_s"]]
    idle = [m.run.get("idle_wait_s", 0)]  # whether the server was idle before each step (None: still busy)

    def passes(rate, settings=m.settings, confirming=False):
        m.progress(f"capacity search, {'confirming' if confirming else 'trying'} {rate:g} requests/s")
        step = open_run(m.process, m.port, m.path, rate, settings, m.progress, slo_ms=slo_ms)
        p99 = step.get("latency_ms", {}).get("p99")
        # Not step["valid"]: latency counts from the due time, so a driver that sent late only adds to it; a send
        # lag of a few ms cannot pass a rate that fails a target of a second (it is reported with the step).
        passed = (
            step["measured"]
            and not step.get("failed")
            and p99 is not None
            and not step.get("stopped_early")
            and p99 <= slo_ms
        )
        steps.append(
            {
                "rate": rate,
                "passed": passed,
                "p99_ms": p99,
                "stopped_early": step.get("stopped_early"),
                "failed": step.get("failed"),
                "send_lag_p99_ms": step.get("send_lag_ms", {}).get("p99"),
                "valid": step.get("valid"),
                "health": step.get("health_ms", {}),
                "planned": step.get("planned"),
                "sent": step.get("sent"),
                "ok": step.get("ok"),
                "confirming": confirming,
                "started_busy": idle[-1] is None,
                **({"error": step["error"]} if "error" in step else {}),
            }
        )
        idle.append(settle(m.process, m.port))
        # The machine's speed drifts within minutes: T1 is sampled after every step, and the capacity compared
        # with CPUs / the median of those samples, the speed of the minutes the search ran in.
        t1_samples.append(tasks.time_task(m.task, kind["n"], runs=3))
        return passed

    start = round_rate(limits.limit(m.env, m.task.kind, t1_s=m.run["task_s"]).per_s / 2)
    found = search(passes, start=start, highest=MAX_RATE)
    confirmed = None
    if found and m.settings.confirm:
        # A step of 15 s at a dozen requests/s has ~180 samples: its p99 is the 3rd highest value, near an
        # outlier's. The rate found is run once more for at least --confirm requests (their time capped at
        # CONFIRM_S), and never shorter than a step.
        seconds = max(m.settings.duration_s, min(CONFIRM_S, m.settings.confirm / found))
        confirmed = passes(found, dataclasses.replace(m.settings, duration_s=seconds), confirming=True)
    t1 = float(numpy.median(t1_samples))
    limit_per_s = limits.limit(m.env, m.task.kind, t1_s=t1).per_s
    at = next((step for step in reversed(steps) if step["rate"] == found and step["passed"]), {})
    return dict(
        measured=bool(steps),
        capacity_per_s=found,
        confirmed=confirmed,
        limit_per_s=round(limit_per_s, 2),
        ratio=limits.efficiency(found, limit_per_s),
        steps=steps,
        t1_during_s=round(t1, 5),
        t1_samples_s=[round(sample, 5) for sample in t1_samples],
        at_capacity={"p99_ms": at.get("p99_ms"), "health": at.get("health", {})},
    )
