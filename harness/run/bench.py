"""One server under one load, from start to stop; and what the suite measures once besides: each task's time
alone (T1) and the health probe's reference on this machine."""

import dataclasses
import http.client
import json
import subprocess
import sys
import time

import processes
import tasks
from harness.instruments import measure, verify
from harness.interpreters import NoAnswer, ask, python_version
from harness.load import siege
from harness.network import request
from harness.run.drive import Measuring
from harness.run.modes import MODES
from harness.server_process import ServerProcess
from harness.servers import BACKEND

RUN_OVERHEAD_S = 5  # start, verify, idle wait and stop: used for the time-left estimate only


def time_kind(task, n):
    """T1 of the task alone, here (the median of 11 runs of the cpu kind, 5 of the others), and whether it waits
    (its process uses under half a core while it runs)."""
    cpu, wall = time.process_time(), time.perf_counter()
    t1 = tasks.time_task(task, n, runs=11 if task.kind == "cpu" else 5)
    waits = (
        task.spec().waits
        if not task.user_function
        else (time.process_time() - cpu) < 0.5 * (time.perf_counter() - wall)
    )
    t1_cpu = tasks.time_task(task, n, runs=3, clock=time.thread_time)  # its CPU alone: what a run's cost_x divides by
    return {"n": n, "t1_s": round(t1, 5), "waits": waits, "t1_cpu_s": round(t1_cpu, 5)}


def cpu_alone(python, task, n):
    """The task's CPU time alone (the median of 3) on another interpreter, in a process of its own there."""
    code = (
        "import json, sys, time, tasks; print(tasks.time_task(tasks.Task(**json.loads(sys.argv[1])), "
        "int(sys.argv[2]), runs=3, clock=time.thread_time))"
    )
    try:
        return round(float(ask(python, code, json.dumps(dataclasses.asdict(task)), n, timeout=120)), 5)
    except (NoAnswer, ValueError):
        return None


def task_options(task):
    """The server options that give it the task: the kind, and what it calls."""
    return (
        ("--task", task.kind, "--backend", task.backend)
        + (("--database", task.database) if task.database else ())
        + (("--db-pool", str(task.db_pool)) if task.db_pool else ())
    )


def progress(index, todo, settings):
    """progress(phase) for the run todo[index] (round, task, server, load) of a suite (its harness/run/settings.py
    Settings): a line with the run, the phase, and the suite's time left, estimated."""
    _, task, server, load = todo[index]
    name, level = load.mode, load.level
    per_run = settings.warmup_s + MODES[name].expected_s(settings) + RUN_OVERHEAD_S
    started = time.monotonic()

    def line(phase):
        left = max(0, (len(todo) - index) * per_run - (time.monotonic() - started))
        print(
            f"[{index + 1}/{len(todo)}] {task.kind}: {server.label} @ {MODES[name].level_text(level)}: {phase} "
            f"(suite: ~{left // 60:.0f} min {left % 60:02.0f} s left)",
            flush=True,
        )

    return line


def bench_one(task, server, load, settings, env, progress, round_=0):
    """One server under one load (harness/run/modes.py's Load: its mode's name, its level) with the suite's
    settings (harness/run/settings.py): start it and wait for /health, verify its answers, warm up, time T1 again,
    the mode's measured part, stop it. The run is returned whatever happens."""
    port = server.port + settings.port_offset
    mode, level = MODES[load.mode], load.level
    run = {
        "server": server.label,
        "strategy": server.name,
        "task": task.kind,
        "port": port,
        "mode": mode.name,
        mode.level_key: level,
        "duration_s": settings.duration_s,
        "round": round_,
        "verified": False,
        "measured": False,
        "clean_shutdown": None,
        "python": ".".join(map(str, python_version(server.python))) + ("t" if server.free_threaded else ""),
        "free_threaded": server.free_threaded,
        **mode.recorded(settings),
        **({"rate_share": load.share} if load.share else {}),
    }
    extra = task_options(task)
    process = ServerProcess(server, port, extra).start()
    try:
        progress("starting")
        if not process.wait_healthy(timeout=60):
            lines = process.output().strip().splitlines()
            run["error"] = "did not come up" + (f": {lines[-1]}" if lines else "")
            return run
        # Whether it runs with a GIL, after its imports: a free-threaded build re-enables it for an extension that
        # does not declare it can run without, with only a warning; the row says so.
        try:
            run["gil_enabled"] = (request(port, "/health")[2] or {}).get("gil_enabled")
        except (OSError, http.client.HTTPException, ValueError):
            run["gil_enabled"] = None  # it answered a moment ago: verification says what is wrong
        progress("verifying")
        problems = verify.problems(port, server.name, task, n=settings.n)
        if problems:
            run["error"] = "failed verification: " + "; ".join(problems)
            return run
        run["verified"] = True
        progress(f"warming up for {settings.warmup_s} s")
        path = f"/?n={env['tasks'][task.kind]['n']}"
        siege.run(port, mode.warm_users(level, env["cpu_count"]), settings.warmup_s, path=path)
        # None: still busy after a minute; the run is measured anyway, and marked (the table's row says so).
        run["idle_wait_s"] = measure.wait_until_idle(process)
        run["started_busy"] = run["idle_wait_s"] is None
        # T1 again, now, as a record of drift: this machine's speed varies by tens of percent within minutes.
        run["task_s"] = round(tasks.time_task(task, env["tasks"][task.kind]["n"], runs=5), 5)
        if server.python and server.python != sys.executable:  # a task's cost is against its CPU alone there
            run["t1_cpu_s"] = cpu_alone(server.python, task, env["tasks"][task.kind]["n"])
        run.update(mode.measure(Measuring(run, process, port, path, task, level, settings, env, progress)))
        return run
    finally:
        progress("stopping")
        run["clean_shutdown"] = process.stop()
        if not run["clean_shutdown"]:
            print(
                f"  ! {server.label} left processes or temporary files behind, or its port busy (all were removed)",
                flush=True,
            )


def probe_floor(seconds, window_s=10):
    """The health probe's p50/p99 against an idle server (backend.py) while a plain busy loop runs on every core,
    for as long as a run, on a run's schedule and with the tree sampler running beside it as in a run: a reference
    for the health columns, counted as theirs are (failures too), with the range of the p99 of each `window_s`.
    Not a bound: a loop that never sleeps contends for a core harder than a server under load, which waits for
    its answers now and then."""
    server = ServerProcess(BACKEND, processes.free_port()).start()
    loops = []
    try:
        if not server.wait_healthy(30):
            return None
        busy = f"import time\nend = time.monotonic() + {seconds + 5}\nwhile time.monotonic() < end: pass"
        loops = [subprocess.Popen([sys.executable, "-c", busy]) for _ in range(processes.cpu_count())]
        time.sleep(0.5)
        probe = measure.HealthProbe(server.port, seconds + 30, interval=measure.probe_interval(seconds))
        sampler = measure.TreeSampler(server, max_seconds=seconds + 30)
        probe.start()
        sampler.start()
        time.sleep(seconds)
        sampler.stop()
        health = probe.stop()
        windows = {}  # each window's probes: seconds, or None for a failure
        for intended, answered, _ in probe.outcomes:
            windows.setdefault(int((intended - probe.started) // window_s), []).append(answered)
        p99s = []
        for found in windows.values():
            if len(found) >= 50:
                answered = [seconds * 1000 for seconds in found if seconds is not None]
                p99 = measure.percentiles(answered, (99,), len(found) - len(answered))["p99"]
                p99s.append(p99 if p99 is not None else probe.timeout * 1000)  # among failures: at least that
        return {
            **{key: health[key] for key in ("p50", "p99", "max", "count", "failed", "timeout_s")},
            "seconds": seconds,
            "window_s": window_s,
            "window_p99_range": [min(p99s), max(p99s)] if p99s else None,
        }
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
        server.stop()
