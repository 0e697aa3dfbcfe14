"""The measured part of a run under each load, with the instruments beside it: siege's closed loop, the open-loop
driver, the background jobs; and how a server is let settle between two runs. harness/run/modes.py says which load
mode runs which."""

import http.client
from contextlib import contextmanager
from dataclasses import dataclass

from harness import limits
from harness.instruments import measure, steady
from harness.load import jobs, openloop, siege
from harness.network import HOST, request


@dataclass
class Measuring:
    """What the measured part of one run works with."""

    run: dict  # the run recorded so far (its T1 now in "task_s")
    process: object  # the server's ServerProcess, started, verified and warmed up
    port: int
    path: str  # "/?n=N": the task of the size timed
    task: object  # the tasks.Task
    level: float  # the load mode's level: users, requests/s, the SLO in ms or jobs/s
    settings: object  # the suite's settings (harness/run/settings.py: duration_s, deadline_s, arrivals, seed, slo_ms)
    env: dict  # the environment, with each task kind's T1
    progress: object  # progress(phase): a line on how the run is going


@contextmanager
def instruments(process, port, seconds, readings, t1_cpu_s=None):
    """The health probe, the tree sampler and the tasks' own accounting beside a measured run; their figures go
    into `readings`."""
    probe = measure.HealthProbe(port, max_seconds=seconds + 60, interval=measure.probe_interval(seconds))
    sampler = measure.TreeSampler(process, max_seconds=seconds + 60)
    accounting = measure.TaskAccounting(port, t1_cpu_s)
    accounting.start()
    probe.start()
    sampler.start()
    try:
        yield
    finally:
        readings.update(sampler.stop())  # the CPU of the measured run, not of the wind-down while late probes end
        readings.update(accounting.stop())
        # What the rest of the machine took meanwhile: siege or the driver, the harness, anything else.
        # Both in CPU seconds over the accounting's time, which holds the sampler's: the same span for both.
        readings["others_cores"] = round((readings["machine_busy_s"] - readings["cpu_s"]) / readings["accounted_s"], 2)
        readings["health_ms"] = probe.stop()


def closed_loop(m):
    """siege's `level` users for the duration: its figures, the efficiency against the limit, the instruments'."""
    m.progress(f"measuring for {m.settings.duration_s} s")
    readings = {}
    # The task's CPU time alone on the row's own Python (bench_one times it there when it is not the suite's; if
    # that failed, no cost is reported rather than one against another interpreter).
    t1_cpu_s = m.run["t1_cpu_s"] if "t1_cpu_s" in m.run else m.env["tasks"][m.task.kind].get("t1_cpu_s")
    # The server's totals read twice inside siege's time: the tasks/s with siege's edges left out.
    steady_count = steady.SteadyCount(m.port, m.settings.duration_s)
    with instruments(m.process, m.port, m.settings.duration_s, readings, t1_cpu_s):
        stdout, stderr, elapsed = siege.run(
            m.port,
            m.level,
            m.settings.duration_s,
            verbose=True,
            path=m.path,
            tick=lambda left: m.progress(
                f"measuring, {left} s left" if left else "siege is collecting its last answers"
            ),
            on_start=steady_count.begin,
        )
        readings.update(steady_count.stop())
    limit = limits.limit(m.env, m.task.kind, m.level, t1_s=m.run["task_s"])  # T1 now, as the efficiency's
    found = {**siege.figures(stdout, stderr, elapsed), **readings, "task_s": m.run["task_s"]}
    if found["measured"] and "tasks_counted" in found:  # the server's count of the whole run beside siege's
        answered = found["transactions"] - found["non_200"]
        found.update(steady.count_check(found["tasks_counted"], answered, m.level, found["failed"]))
    return {
        **found,
        "limit_per_s": round(limit.per_s, 2),
        "efficiency": limits.run_efficiency(found, m.env, m.task.kind, m.level),
    }


def open_loop(m):
    """The open-loop driver at `level` requests/s for the duration."""
    m.progress(f"measuring for {m.settings.duration_s} s")
    return open_run(m.process, m.port, m.path, m.level, m.settings, m.progress)


def open_run(process, port, path, rate, settings, progress, slo_ms=None):
    """One open-loop run at `rate` with the instruments beside it, for the settings' duration_s, arrivals and seed
    (the drain: 30 s, or 3 times their slo_ms): the driver's figures and theirs. `slo_ms`: stop early (capacity)."""
    readings = {}
    with instruments(process, port, settings.duration_s, readings):
        result = openloop.run(
            f"http://{HOST}:{port}{path}",
            rate,
            settings.duration_s,
            settings.arrivals,
            seed=settings.seed,
            drain_s=max(30, 3 * settings.slo_ms / 1000),
            slo_ms=slo_ms,
            tick=lambda line: progress(f"at {rate:g}/s: {line}"),
        )
    result.update(readings, measured=result.get("sent", 0) > 0)
    return result


def background(m):
    """POST /jobs at `level` jobs/s for the duration, then the jobs followed until none is queued or running, or
    the deadline, and each read once (harness/load/jobs.py)."""
    m.progress(f"measuring for {m.settings.duration_s} s")
    readings = {}
    with instruments(m.process, m.port, m.settings.duration_s + m.settings.deadline_s, readings):
        result = jobs.run(
            f"http://{HOST}:{m.port}/jobs{m.path[1:]}",
            m.level,
            m.settings.duration_s,
            m.settings.deadline_s,
            tick=lambda line: m.progress(f"at {m.level:g} jobs/s: {line}"),
        )
    return {**result, **readings, "deadline_s": m.settings.deadline_s, "measured": result.get("accepted", 0) > 0}


def settle(process, port):
    """Let the server finish what an earlier run left queued before the next run: its CPU back to idle, then one
    tiny task, which a pool or a queue runs after everything queued before it. The seconds waited for idle, or
    None if the server was still busy after a minute (the next run is then marked)."""
    waited = measure.wait_until_idle(process)
    try:
        request(port, "/?n=1", timeout=60)
    except (OSError, http.client.HTTPException, ValueError):
        pass  # a server that cannot answer shows it in the next run
    return waited
