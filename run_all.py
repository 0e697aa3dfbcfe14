"""Run the benchmark suite: every server, task kind and load, verified, loaded, measured.

For each task kind, server and load: start it and wait for /health; verify its answers; warm up; then the measured
run while a health probe and a process-tree sampler run beside it; stop it and check that nothing is left. The
load is siege's closed loop (--concurrency: users), the open-loop driver (--rate: requests/s), or a search for the
highest rate within a latency target (--find-capacity). Results go to OUT/<time>/: results.json, results.rst and
the charts (results.png, matrix.png for several kinds, hockey.png for open-loop runs).
"""
import argparse
import datetime
import http.client
import json
import math
import random
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy

import common
import tasks
from harness import capacity, measure, report, verify
from harness.cli import MAX_RATE, OneLineParser, kind_list, positive_ints, positive_numbers, runnable, server_list
from harness.provenance import environment
from harness.load import jobs, openloop, siege
from harness.servers import BACKEND, HOST, ROOT, SERVERS, ServerProcess, free_port, python_version, request

WARMUP_S = 2
QUICK_DURATION_S = 5
BACKGROUND_RATE, BACKGROUND_DURATION_S = 500, 10  # jobs/s, s: the original's load, and a backlog to see
CAPACITY_DURATION_S = 15  # each step of a capacity search (a rate that fails usually stops within seconds)
FLOOR_S = 10  # how long the health probe's floor is measured
RUN_OVERHEAD_S = 5  # start, verify, idle wait and stop: used for the time-left estimate only
STOP_GRACE_S = 30  # after Ctrl-C, time to stop the server and siege and save; then (or at a second one) it is killed
INTERRUPTED = []  # the stop signal seen, if any


def interrupt_once(signum):
    """The first Ctrl-C or SIGTERM stops the suite where it is (the runs that finished are saved); a second one
    is for common.on_stop_signals, which then kills everything the suite started."""
    if not INTERRUPTED:
        INTERRUPTED.append(signum)
        raise KeyboardInterrupt


def parse_args(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=server_list, default=list(SERVERS),
                        help="comma-separated numbers or names (default: all; 2 means every 2_async row)")
    parser.add_argument("--tasks", type=kind_list, default=None,
                        help=f"task kinds, comma-separated, from {', '.join(tasks.KINDS)} (default cpu)")
    parser.add_argument("--task", metavar="MODULE:FUNCTION", help="your own function of n, importable from here")
    parser.add_argument("--n", type=int, metavar="N", help="the task size to ask for (default: each kind's default)")
    parser.add_argument("--concurrency", type=positive_ints,
                        help="siege users, comma-separated levels (default 25), e.g. 25,254,512")
    parser.add_argument("--rate", type=positive_numbers, metavar="R1,R2",
                        help="open loop instead of siege: requests per second, comma-separated, e.g. 5,10,15")
    parser.add_argument("--arrivals", choices=("constant", "poisson"), default="constant",
                        help="open loop: a request every 1/rate s (default), or Poisson arrivals of that rate")
    parser.add_argument("--seed", type=int, help="the Poisson schedules' seed (default: a new one, recorded)")
    parser.add_argument("--mode", choices=("background",), help="background: POST /jobs at --rate (default "
                        f"{BACKGROUND_RATE}/s) for --duration (default {BACKGROUND_DURATION_S} s), then follow each "
                        "job until done or --deadline; servers that run jobs only")
    parser.add_argument("--deadline", type=float, default=60, metavar="S",
                        help="background: how long to follow the jobs after the last submission (default 60 s)")
    parser.add_argument("--find-capacity", action="store_true",
                        help="search each server's highest open-loop rate with p99 within --slo-ms and no failure")
    parser.add_argument("--slo-ms", type=float, default=1000, help="the latency target of --find-capacity "
                                                                    "(p99, default 1000 ms)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="N interleaved rounds of everything; each figure reported as median and range")
    parser.add_argument("--duration", type=positive_ints, default=None,
                        help="seconds of each measured run (default 60; --quick: 5)")
    parser.add_argument("--quick", action="store_true", help="a short run of everything, for a first look")
    parser.add_argument("--out", type=Path, default=ROOT / "results", help="where results go (default results/)")
    parser.add_argument("--max-pending", type=int, metavar="N",
                        help="start the servers that have the option (3 to 7) with --max-pending N")
    parser.add_argument("--port-offset", type=int, default=0,
                        help="add this to every server's port (default 0: ports 8000...), if those are taken")
    parser.add_argument("--update-readme", nargs="?", const="results", metavar="SECTION",
                        help="replace README.rst's section SECTION (default 'results') with these results")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.rst", help=argparse.SUPPRESS)  # for tests
    args = parser.parse_args(argv)
    if args.duration and len(args.duration) > 1:
        parser.error("--duration takes one number of seconds")
    if [args.concurrency is not None, args.rate is not None and not args.mode, args.find_capacity,
            bool(args.mode)].count(True) > 1:
        parser.error("choose one load: --concurrency (siege), --rate (open loop), --find-capacity or --mode background")
    if not 0 <= args.deadline <= 3600:
        parser.error("--deadline must be from 0 to 3600 seconds")
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat must be from 1 to 20")
    if not 0 < args.slo_ms <= 60_000:
        parser.error("--slo-ms must be above 0 and at most 60000")
    if args.mode == "background":
        args.loads = [("background", rate) for rate in args.rate or [BACKGROUND_RATE]]
        without = [server.name for server in args.servers if not server.jobs]
        if without:
            print(f"run_all.py: left out of the background mode, as they run no jobs: {', '.join(without)}",
                  file=sys.stderr)
        args.servers = [server for server in args.servers if server.jobs]
    else:
        args.loads = ([("capacity", args.slo_ms)] if args.find_capacity else [("open", rate) for rate in args.rate]
                      if args.rate else [("closed", users) for users in args.concurrency or [25]])
    if args.arrivals == "poisson" and args.seed is None:
        args.seed = random.randrange(2**32)
    default_s = CAPACITY_DURATION_S if args.find_capacity else BACKGROUND_DURATION_S if args.mode else 60
    args.duration = args.duration[0] if args.duration else (QUICK_DURATION_S if args.quick else default_s)
    args.warmup = 1 if args.quick else WARMUP_S
    if args.max_pending is not None:
        if args.max_pending < 1:
            parser.error("--max-pending must be at least 1")
        args.servers = [server.with_options("--max-pending", str(args.max_pending)) if server.takes_max_pending
                        else server for server in args.servers]
    args.servers = runnable(args.servers, "run_all.py")
    if not args.servers:
        parser.error("no server left to run")
    backend = f"http://{HOST}:{BACKEND.port + args.port_offset}"  # started by main() for the http kind
    args.tasks = [tasks.Task(kind, backend) for kind in args.tasks or ([] if args.task else ["cpu"])]
    if args.task:
        args.tasks.append(tasks.Task(args.task, backend))
        try:
            tasks.check(args.tasks[-1], cooperative=False)
        except tasks.TaskError as error:
            parser.error(str(error))
        if any(s.runs_in == "loop" for s in args.servers):  # the cooperative variant needs an async def
            args.servers = [s for s in args.servers if s.runs_in != "loop"]
            print("run_all.py: 2_async --cooperative left out: it can only run an async def", file=sys.stderr)
    for task in args.tasks:
        kind = task.spec()
        if args.n is not None and not 1 <= args.n <= kind.max_n:
            parser.error(f"--n must be from 1 to {kind.max_n} for the {kind.name} task")
    if args.update_readme and f".. begin {args.update_readme}\n" not in args.readme.read_text():
        parser.error(f"{args.readme.name} has no '.. begin {args.update_readme}' marker")
    return args


def time_kind(task, n, runs):
    """T1 of the task alone, here, and whether it waits (its process uses under half a core while it runs)."""
    cpu, wall = time.process_time(), time.perf_counter()
    t1 = tasks.time_task(task, n, runs=runs)
    waits = task.spec().waits if not task.user_function else \
        (time.process_time() - cpu) < 0.5 * (time.perf_counter() - wall)
    return {"n": n, "t1_s": round(t1, 5), "waits": waits}


def limit(env, task, users):
    """The most tasks per second any strategy can finish: CPUs / T1 for work that computes, users / T1 for work
    that waits (each of the closed loop's users has one request in flight)."""
    kind = env["tasks"][task]
    return (users if kind["waits"] else env["cpu_count"]) / kind["t1_s"]


def measured(run, stdout, stderr, elapsed_s, health, tree, limit_per_s):
    """Fill a run's results from siege's output (and `elapsed_s`, how long siege ran) and the probes' readings."""
    figures = siege.parse_summary(stderr)
    transactions = siege.parse_transactions(stdout)
    ok_seconds = [seconds for status, seconds in transactions if status == 200]
    non_200 = len(transactions) - len(ok_seconds)
    # siege's failures are the requests that got no answer, plus the 5xx answers (a 4xx is a success to siege).
    answered_5xx = sum(1 for status, _ in transactions if status >= 500)
    unanswered = max(0, int(figures.get("failed_transactions", 0)) - answered_5xx)
    # siege's own clock if it printed its summary; else the time it really ran (it may outstay its -t by far).
    elapsed = figures.get("elapsed_time") or elapsed_s
    attempted = len(transactions) + unanswered
    rate = len(ok_seconds) / elapsed if elapsed else 0.0  # only a 200 is a success here
    run.update(
        measured=bool(figures or transactions), siege=figures, siege_summary=siege.summary_block(stderr),
        elapsed_s=round(elapsed, 2), transactions=len(transactions),
        availability=round(100 * len(ok_seconds) / attempted, 2) if attempted else 0.0,
        transaction_rate=round(rate, 2),
        # Not siege's "Response time", which divides the time of every answer, 5xx included, by the successes.
        response_time_s=round(sum(ok_seconds) / len(ok_seconds), 3) if ok_seconds else None,
        failed=unanswered + non_200, non_200=non_200,
        latency_ms=measure.percentiles([seconds * 1000 for seconds in ok_seconds]),
        health_ms=health, **tree,
        limit_per_s=round(limit_per_s, 2), efficiency=round(rate / limit_per_s, 3),
    )
    if not run["measured"]:
        run["error"] = "siege printed nothing: no transaction, no summary"
    elif not figures:  # siege outstayed its time and was stopped: its transaction lines are all there is
        run["note"] = "siege printed no summary (stopped after its time ran out)"


def configured(server, task, load, env):
    """The server as a competent user would set it up for the task: the pools sized for the load when the work
    waits (a pool of CPUs threads is right for computing, wrong for waiting): one thread per siege user, or for an
    open loop twice the requests in flight on average (rate × T1, Little's law), 25 for a capacity search."""
    if not env["tasks"][task.kind]["waits"] or server.pool_option is None:
        return server
    mode, level = load
    in_flight = {"closed": level, "open": math.ceil(2 * level * env["tasks"][task.kind]["t1_s"]), "capacity": 25,
                 "background": 25}[mode]
    in_flight = max(in_flight, env["cpu_count"])
    per_worker = math.ceil(in_flight / env["cpu_count"]) if server.pool_option == "--threads" else in_flight
    return server.with_options(server.pool_option, str(per_worker))


def plan(args, env):
    """(round, task, server, load) of every run: for waiting work, each pool at its default size (the trap) and
    sized; with --repeat, the rounds interleaved (A, B, C, then A, B, C again), so that a slow minute of this
    machine falls on every server alike rather than on one."""
    runs = []
    for task in args.tasks:
        for load in args.loads:
            for server in args.servers:
                runs.append((task, server, load))
                sized = configured(server, task, load, env)
                if sized is not server:
                    runs.append((task, sized, load))
    return [(round_, *run) for round_ in range(args.repeat) for run in runs]


def load_text(load):
    mode, level = load
    return {"closed": f"{level} users", "open": f"{level:g} requests/s", "capacity": "capacity search",
            "background": f"{level:g} jobs/s"}[mode]


@contextmanager
def instruments(process, port, seconds, readings):
    """The health probe and the tree sampler beside a measured run; their figures go into `readings`."""
    probe = measure.HealthProbe(port, max_seconds=seconds + 60)
    sampler = measure.TreeSampler(process, max_seconds=seconds + 60)
    probe.start()
    sampler.start()
    try:
        yield
    finally:
        readings.update(sampler.stop())  # the CPU of the measured run, not of the wind-down while late probes end
        readings["health_ms"] = probe.stop()


def open_run(process, port, path, rate, args, progress, slo_ms=None):
    """One open-loop run at `rate` with the instruments beside it: the driver's figures and theirs."""
    readings = {}
    with instruments(process, port, args.duration, readings):
        result = openloop.run(f"http://{HOST}:{port}{path}", rate, args.duration, args.arrivals,
                              seed=args.seed, drain_s=max(30, 3 * args.slo_ms / 1000), slo_ms=slo_ms,
                              tick=lambda line: progress(f"at {rate:g}/s: {line}"))
    result.update(readings, measured=result.get("sent", 0) > 0)
    return result


def settle(process, port):
    """Let the server finish what an earlier run left queued before the next run: its CPU back to idle, then one
    tiny task, which a pool or a queue runs after everything queued before it."""
    measure.wait_until_idle(process)
    try:
        request(port, "/?n=1", timeout=60)
    except (OSError, http.client.HTTPException, ValueError):
        pass  # a server that cannot answer shows it in the next run


def find_capacity(run, process, port, path, args, env, task, progress):
    """The capacity search (harness.capacity.search): each step an open-loop run that stops early once its p99
    can no longer be within the SLO; starting at half of CPUs / T1, doubling until a rate fails, then bisecting."""
    steps, t1_samples = [], [run["task_s"]]

    def passes(rate):
        progress(f"capacity search, trying {rate:g} requests/s")
        step = open_run(process, port, path, rate, args, progress, slo_ms=args.slo_ms)
        p99 = step.get("latency_ms", {}).get("p99")
        # Not step["valid"]: latency counts from the due time, so a driver that sent late only adds to it; a send
        # lag of a few ms cannot pass a rate that fails a target of a second (it is reported with the step).
        passed = (step["measured"] and not step.get("failed") and p99 is not None and not step.get("stopped_early")
                  and p99 <= args.slo_ms)
        steps.append({"rate": rate, "passed": passed, "p99_ms": p99, "stopped_early": step.get("stopped_early"),
                      "failed": step.get("failed"), "send_lag_p99_ms": step.get("send_lag_ms", {}).get("p99"),
                      "valid": step.get("valid"), "health_p99_ms": step.get("health_ms", {}).get("p99"),
                      "planned": step.get("planned"), "sent": step.get("sent"),
                      **({"error": step["error"]} if "error" in step else {})})
        settle(process, port)
        # The machine's speed drifts within minutes: T1 is sampled after every step, and the capacity compared
        # with CPUs / the median of those samples, the speed of the minutes the search ran in.
        t1_samples.append(tasks.time_task(task, env["tasks"][task.kind]["n"], runs=3))
        return passed

    start = capacity.round_rate(env["cpu_count"] / run["task_s"] / 2)
    found = capacity.search(passes, start=start, highest=MAX_RATE)
    t1 = float(numpy.median(t1_samples))
    limit_per_s = env["cpu_count"] / t1
    at = next((step for step in steps if step["rate"] == found and step["passed"]), {})
    run.update(measured=bool(steps), capacity_per_s=found, limit_per_s=round(limit_per_s, 2),
               ratio=round(found / limit_per_s, 3), steps=steps, t1_during_s=round(t1, 5),
               t1_samples_s=[round(sample, 5) for sample in t1_samples],
               at_capacity={"p99_ms": at.get("p99_ms"), "health_p99_ms": at.get("health_p99_ms")})


def bench_one(task, server, load, args, env, progress, round_=0):
    """One server under one load, from start to stop; the result is returned whatever happens."""
    port = server.port + args.port_offset
    mode, level = load
    run = {"server": server.label, "strategy": server.name, "task": task.kind, "port": port, "mode": mode,
           {"closed": "concurrency", "open": "rate", "capacity": "slo_ms", "background": "rate"}[mode]: level,
           "duration_s": args.duration, "round": round_, "verified": False, "measured": False,
           "clean_shutdown": None, "python": ".".join(map(str, python_version(server.python)))}
    if mode == "open":
        run["arrivals"] = args.arrivals
    extra = ("--task", task.kind, "--backend", task.backend)
    process = ServerProcess(server, port, extra).start()
    try:
        progress("starting")
        if not process.wait_healthy(timeout=60):
            lines = process.output().strip().splitlines()
            run["error"] = "did not come up" + (f": {lines[-1]}" if lines else "")
            return run
        progress("verifying")
        problems = verify.problems(port, server.name, task, n=args.n)
        if problems:
            run["error"] = "failed verification: " + "; ".join(problems)
            return run
        run["verified"] = True
        progress(f"warming up for {args.warmup} s")
        path = f"/?n={env['tasks'][task.kind]['n']}"
        warm_users = min(level, 2 * env["cpu_count"]) if mode == "closed" else 2 * env["cpu_count"]
        siege.run(port, warm_users, args.warmup, path=path)
        measure.wait_until_idle(process)
        # T1 again, now, as a record of drift: this machine's speed varies by tens of percent within minutes.
        run["task_s"] = round(tasks.time_task(task, env["tasks"][task.kind]["n"], runs=5), 5)
        if mode == "capacity":
            find_capacity(run, process, port, path, args, env, task, progress)
            return run
        progress(f"measuring for {args.duration} s")
        if mode == "open":
            run.update(open_run(process, port, path, level, args, progress))
            return run
        if mode == "background":
            readings = {}
            with instruments(process, port, args.duration + args.deadline, readings):
                run.update(jobs.run(f"http://{HOST}:{port}/jobs{path[1:]}", level, args.duration, args.deadline,
                                    tick=lambda line: progress(f"at {level:g} jobs/s: {line}")))
            run.update(readings, deadline_s=args.deadline, measured=run.get("accepted", 0) > 0)
            return run
        readings = {}
        with instruments(process, port, args.duration, readings):
            stdout, stderr, elapsed = siege.run(port, level, args.duration, verbose=True, path=path,
                                                tick=lambda left: progress(f"measuring, {left} s left" if left
                                                                           else "siege is collecting its last answers"))
        measured(run, stdout, stderr, elapsed, readings.pop("health_ms"), readings, limit(env, task.kind, level))
        return run
    finally:
        progress("stopping")
        run["clean_shutdown"] = process.stop()
        if not run["clean_shutdown"]:
            print(f"  ! {server.label} left processes behind or its port busy (they were killed)", flush=True)


def probe_floor(seconds):
    """The health probe's p50/p99 against an idle server (backend.py) while a plain busy loop runs on every core:
    the best any server under load can show on this machine."""
    server = ServerProcess(BACKEND, free_port()).start()
    loops = []
    try:
        if not server.wait_healthy(30):
            return None
        busy = f"import time\nend = time.monotonic() + {seconds + 5}\nwhile time.monotonic() < end: pass"
        loops = [subprocess.Popen([sys.executable, "-c", busy]) for _ in range(common.cpu_count())]
        time.sleep(0.5)
        probe = measure.HealthProbe(server.port, max_seconds=seconds + 30)
        probe.start()
        time.sleep(seconds)
        health = probe.stop()
        return {"p50": health["p50"], "p99": health["p99"], "seconds": seconds}
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
        server.stop()


def save(out_dir, env, runs, render=True):
    """results.json, and unless render is False the tables and charts drawn from it."""
    results = {"environment": env, "runs": runs}
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if runs and render:
        report.write_rst(results, out_dir / "results.rst")
        if report.levels(results):  # closed-loop runs
            report.write_chart(results, out_dir / "results.png")
            if len(report.task_kinds(results)) > 1:
                report.write_matrix(results, out_dir / "matrix.png")
        if any(run.get("mode") in ("open", "capacity") for run in runs):
            report.write_hockey(results, out_dir / "hockey.png")
    return results


def update_readme(results, out_dir, section, readme):
    """Replace the README's section with these results; the chart goes to docs/SECTION.png beside it: for several
    task kinds the matrix, which a person reads faster than bars in four colours; for open-loop runs the latency
    against the rate (docs/SECTION-hockey.png)."""
    matrix, bars, hockey = out_dir / "matrix.png", out_dir / "results.png", out_dir / "hockey.png"
    charts = [(matrix if matrix.exists() else bars, Path("docs") / f"{section}.png")] if bars.exists() else []
    charts += [(hockey, Path("docs") / f"{section}-hockey.png")] if hockey.exists() else []
    for source, chart in charts:
        (readme.parent / chart).parent.mkdir(exist_ok=True)
        shutil.copyfile(source, readme.parent / chart)
    text = report.replace_section(readme.read_text(), section, report.readme_section(results, [c for _, c in charts]))
    readme.write_text(text)
    where = f", charts in {', '.join(str(c) for _, c in charts)}" if charts else ""
    print(f"{readme.name}: section '{section}' updated{where}")


def main(argv=None):
    args = parse_args(argv)
    if shutil.which("siege") is None:
        sys.exit("run_all.py: error: siege is not installed; install it with: sudo apt-get install siege "
                 "(or run: make bench)")
    common.on_stop_signals(first=lambda signum: None, status=1, grace_s=STOP_GRACE_S,
                           main_thread_handler=interrupt_once)
    out_dir = args.out / datetime.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = None
    runs, suite_started = [], time.monotonic()
    try:
        if any(task.kind == "http" for task in args.tasks):  # the http kind's slow service, on the same machine
            backend = ServerProcess(BACKEND, BACKEND.port + args.port_offset).start()
            if not backend.wait_healthy(30):
                sys.exit(f"run_all.py: error: backend.py did not come up: {backend.output().strip()}")
        print(f"Timing one task of each kind alone ({', '.join(task.kind for task in args.tasks)})...", flush=True)
        timed = {task.kind: time_kind(task, args.n or task.spec().default_n, runs=11 if task.kind == "cpu" else 5)
                 for task in args.tasks}
        env = environment(timed)
        if args.seed is not None:
            env["seed"] = args.seed
        print(report.environment_line(env), flush=True)
        floor_s = min(FLOOR_S, args.duration)  # as long as one run, at most FLOOR_S
        print(f"Measuring the health probe's floor ({floor_s} s, every core busy, no server load)...", flush=True)
        env["probe_floor_ms"] = probe_floor(floor_s)
        todo = plan(args, env)
        # A capacity search is about six runs, those that fail stopping early: four measured runs' time, roughly.
        per_run = (args.warmup + args.duration * (4 if args.find_capacity else 1) + RUN_OVERHEAD_S
                   + (args.deadline if args.mode else 0))
        for index, (round_, task, server, load) in enumerate(todo):
            run_started = time.monotonic()

            def progress(phase, index=index, task=task, server=server, load=load, run_started=run_started):
                left = max(0, (len(todo) - index) * per_run - (time.monotonic() - run_started))
                print(f"[{index + 1}/{len(todo)}] {task.kind}: {server.label} @ {load_text(load)}: {phase} "
                      f"(suite: ~{left // 60:.0f} min {left % 60:02.0f} s left)", flush=True)

            runs.append(bench_one(task, server, load, args, env, progress, round_))
            save(out_dir, env, runs, render=False)  # what has finished is kept, even if the suite dies later
        for task in args.tasks:  # the machine's speed may drift during a suite
            env["tasks"][task.kind]["t1_s_end"] = round(tasks.time_task(task, env["tasks"][task.kind]["n"], runs=5), 5)
    except KeyboardInterrupt:
        print(f"\nInterrupted: every process started was stopped; {len(runs)} finished runs are saved.", flush=True)
        todo = None
    finally:
        if backend:
            backend.stop()
    if not runs:
        print("No run finished.")
        return 1
    results = save(out_dir, env, runs)
    print(f"\nSuite took {time.monotonic() - suite_started:.0f} s. Results in {out_dir}/\n")
    print(report.tables_rst(results))
    if args.update_readme:
        update_readme(results, out_dir, args.update_readme, args.readme)
    failed = [run["server"] for run in runs if run.get("error") or not run["clean_shutdown"]]
    lagging = [run["server"] for run in runs if run.get("valid") is False]
    if lagging:
        print(f"Send lag over {openloop.MAX_SEND_LAG_MS:g} ms (the driver fell behind; figures not the server's): "
              f"{', '.join(lagging)}")
    if failed:
        print(f"Not measured cleanly: {', '.join(failed)}")
    return 1 if failed or todo is None or len(runs) < len(todo) else 0


if __name__ == "__main__":
    sys.exit(main())
