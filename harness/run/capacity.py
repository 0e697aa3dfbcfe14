"""A strategy's capacity, as a bracket: the highest open-loop rate confirmed to hold within a latency target, and the
lowest rate that did not hold, found by search.

A step (one open-loop run at a rate) passes only in steady state and within the target: its p99 within the SLO, no
request failed, and its backlog did not grow (steady()). And it lasts at least MIN_STEP_SLOS times the SLO: with
arrivals a share e above what the server completes, the backlog grows by about e × rate requests a second, e seconds
of work a second, so after t seconds the last requests wait e × t more; they pass the SLO s once t > s / e. Steps of
10 × s let an overload of 10 % show in the p99 by the step's end; the backlog test sees one of MAX_OVERLOAD (5 %)
whatever the p99. The rate found is then run again, longer (confirm()): a rate that does not hold there is not
published, and a lower one is confirmed instead, a bounded number of times."""

import dataclasses

import numpy

import tasks
from harness import limits
from harness.cli import MAX_RATE
from harness.run.drive import open_run, settle

CONFIRM_S = 60  # the longest confirming run; --confirm's default of 300 requests makes its p99 the 4th highest
MIN_STEP_SLOS = 10  # a step lasts at least 10 × the SLO: an overload of 10 % then passes the SLO by its end
MAX_OVERLOAD = 0.05  # the backlog may grow by at most this share of the arrivals: 5 % over capacity fails a step
MIN_GROWTH = 1.0  # requests: a growth of the mean in-flight count this small is noise at any rate
PRECISION = 0.08  # the search stops when the highest rate passed is within 8 % of the lowest failed
MAX_CONFIRMATIONS = 2  # confirming runs a search may spend: the rate found, and one lower if it did not hold


def step_seconds(duration_s, slo_ms):
    """How long each step of a search runs: the duration asked for, at least MIN_STEP_SLOS × the SLO."""
    return max(duration_s, MIN_STEP_SLOS * slo_ms / 1000)


def steady(in_flight_halves, rate, seconds):
    """Whether a step's backlog held: the mean count of requests in flight (sent, not yet answered: queued anywhere
    or being served) over the schedule's second half at most max(MIN_GROWTH, MAX_OVERLOAD × rate × seconds / 2)
    above the first half's. An overload of share e adds about e × rate requests a second, so the second half's
    mean is e × rate × seconds / 2 above the first's: the test fails overloads above MAX_OVERLOAD (5 %) at any
    rate. A mean over half a step, not a count at two instants, so that one burst of answers does not decide it;
    the first half starts empty, which makes a stable server just below capacity look a little worse, not better.
    None if unknown (a half without sends: the driver stopped or failed)."""
    if not in_flight_halves:
        return None
    first, second = in_flight_halves
    return second - first <= max(MIN_GROWTH, MAX_OVERLOAD * rate * seconds / 2)


def search(passes, start, highest, precision=PRECISION, max_steps=12):
    """(the highest rate for which `passes(rate)` held, the lowest for which it did not), assuming it holds below
    some threshold and fails above.

    Up from `start` by doubling until a rate fails (or `highest` passes), then bisection between the highest rate
    that passed and the lowest that failed, until they are within `precision` of each other; each call of
    `passes` is one measured run, so there are at most `max_steps`: enough to come within `precision` of a
    threshold from a quarter of `start` to 16 times it. 0.0 passed if no rate tried passed; None failed if none
    failed."""
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
    return passed, failed


def confirm(holds, found, failed, passed_rates, precision=PRECISION, tries=MAX_CONFIRMATIONS):
    """The bracket after confirming: (the highest rate confirmed or None, the lowest rate that failed).

    `found` is run once more, longer (holds(rate): whether it passed). A rate that does not hold is the lowest
    failed, never a capacity; the next tried is the higher of the highest rate below it that passed a step of the
    search (`passed_rates`) and a step of `precision` down, at most `tries` confirmations in all."""
    rate = found
    for _ in range(tries):
        if not rate:
            break
        if holds(rate):
            return rate, failed
        failed = rate if failed is None else min(failed, rate)
        rate = max([r for r in passed_rates if r < rate] + [round_rate(rate * (1 - precision))])
    return None, failed


def round_rate(rate):
    """Three significant figures: a rate a person can read and type (12.3, 0.456, 1230)."""
    return float(f"{rate:.3g}")


def find_capacity(m):
    """The capacity search of one run (a drive.Measuring whose level is the SLO in ms): each step an open-loop
    run of step_seconds() that stops early once its p99 can no longer be within the SLO; starting at half of
    CPUs / T1, doubling until a rate fails, then bisecting; then confirm(). Its figures, to merge into the run."""
    slo_ms = m.level
    step_s = step_seconds(m.settings.duration_s, slo_ms)
    steps, t1_samples = [], [m.run["task_s"]]
    idle = [m.run.get("idle_wait_s", 0)]  # whether the server was idle before each step (None: still busy)

    def passes(rate, seconds=step_s, confirming=False):
        m.progress(f"capacity search, {'confirming' if confirming else 'trying'} {rate:g} requests/s")
        settings = dataclasses.replace(m.settings, duration_s=seconds)
        step = open_run(m.process, m.port, m.path, rate, settings, m.progress, slo_ms=slo_ms)
        p99 = step.get("latency_ms", {}).get("p99")
        halves = step.get("in_flight_halves")
        held = steady(halves, rate, seconds)
        # Not step["valid"]: latency counts from the due time, so a driver that sent late only adds to it; a send
        # lag of a few ms cannot pass a rate that fails a target of a second (it is reported with the step).
        passed = bool(
            step["measured"]
            and not step.get("failed")
            and p99 is not None
            and not step.get("stopped_early")
            and p99 <= slo_ms
            and held
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
                "seconds": seconds,
                "in_flight_halves": halves,
                "steady": held,
                **({"error": step["error"]} if "error" in step else {}),
            }
        )
        idle.append(settle(m.process, m.port))
        # The machine's speed drifts within minutes: T1 is sampled after every step, and the capacity compared
        # with CPUs / the median of those samples, the speed of the minutes the search ran in.
        t1_samples.append(tasks.time_task(m.task, m.env["tasks"][m.task.kind]["n"], runs=3))
        return passed

    start = round_rate(limits.limit(m.env, m.task.kind, t1_s=m.run["task_s"]).per_s / 2)
    found, failed = search(passes, start=start, highest=MAX_RATE)
    capacity = None
    if m.settings.confirm:
        # A step of 15 s at a dozen requests/s has ~180 samples: its p99 is the 3rd highest value, near an
        # outlier's. The rate found is run once more for at least --confirm requests (their time capped at
        # CONFIRM_S), and never shorter than a step.
        def holds(rate):
            return passes(rate, max(step_s, min(CONFIRM_S, m.settings.confirm / rate)), confirming=True)

        passed_rates = [step["rate"] for step in steps if step["passed"]]
        capacity, failed = confirm(holds, found, failed, passed_rates)
    t1 = float(numpy.median(t1_samples))
    limit_per_s = limits.limit(m.env, m.task.kind, t1_s=t1).per_s
    at = next((step for step in steps if step["confirming"] and step["passed"]), {})
    return dict(
        measured=bool(steps),
        duration_s=step_s,
        capacity_per_s=capacity,
        failed_per_s=failed,
        confirmed=bool(capacity) if m.settings.confirm and found else None,
        limit_per_s=round(limit_per_s, 2),
        ratio=limits.efficiency(capacity, limit_per_s) if capacity else None,
        steps=steps,
        t1_during_s=round(t1, 5),
        t1_samples_s=[round(sample, 5) for sample in t1_samples],
        at_capacity={"p99_ms": at.get("p99_ms"), "health": at.get("health", {})},
    )
