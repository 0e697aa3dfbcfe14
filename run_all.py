"""Run the benchmark suite: every server at every concurrency level, verified, loaded with siege and measured.

For each server and level: start it and wait for /health; verify its answers; warm up; then siege's measured
run while a health probe and a process-tree sampler run beside it; stop it and check that nothing is left.
Results go to OUT/<time>/: results.json, results.rst and results.png.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import tornado

import common
from harness import measure, report, siege, verify
from harness.servers import ROOT, SERVERS, ServerProcess

WARMUP_S = 2
QUICK_DURATION_S = 5
RUN_OVERHEAD_S = 5  # start, verify, idle wait and stop: used for the time-left estimate only
STOP_GRACE_S = 30  # after Ctrl-C, time to stop the server and siege and save; then (or at a second one) it is killed
INTERRUPTED = []  # the stop signal seen, if any


def interrupt_once(signum):
    """The first Ctrl-C or SIGTERM stops the suite where it is (the runs that finished are saved); a second one
    is for common.on_stop_signals, which then kills everything the suite started."""
    if not INTERRUPTED:
        INTERRUPTED.append(signum)
        raise KeyboardInterrupt


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def server_list(text):
    chosen = []
    for token in text.split(","):
        token = token.strip()
        matches = [s for s in SERVERS if token in (s.name, s.number)]
        if not matches:
            names = ", ".join(dict.fromkeys(s.number for s in SERVERS))
            raise argparse.ArgumentTypeError(f"unknown server {token!r} (choose from {names}, or a full name)")
        chosen += [s for s in matches if s not in chosen]
    return chosen


def positive_ints(text):
    try:
        values = [int(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be at least 1")
    return values


def parse_args(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=server_list, default=list(SERVERS),
                        help="comma-separated numbers or names (default: all; 2 means both 2_async rows)")
    parser.add_argument("--concurrency", type=positive_ints, default=[25],
                        help="siege users, comma-separated levels (default 25), e.g. 25,254,512")
    parser.add_argument("--duration", type=positive_ints, default=None,
                        help="seconds of each measured run (default 60; --quick: 5)")
    parser.add_argument("--quick", action="store_true", help="a short run of everything, for a first look")
    parser.add_argument("--out", type=Path, default=ROOT / "results", help="where results go (default results/)")
    parser.add_argument("--max-pending", type=int, metavar="N",
                        help="start the servers that have the option (3, 4, 5) with --max-pending N")
    parser.add_argument("--port-offset", type=int, default=0,
                        help="add this to every server's port (default 0: ports 8000...), if those are taken")
    parser.add_argument("--update-readme", nargs="?", const="results", metavar="SECTION",
                        help="replace README.rst's section SECTION (default 'results') with these results")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.rst", help=argparse.SUPPRESS)  # for tests
    args = parser.parse_args(argv)
    if args.duration and len(args.duration) > 1:
        parser.error("--duration takes one number of seconds")
    args.duration = args.duration[0] if args.duration else (QUICK_DURATION_S if args.quick else 60)
    args.warmup = 1 if args.quick else WARMUP_S
    if args.max_pending is not None:
        if args.max_pending < 1:
            parser.error("--max-pending must be at least 1")
        args.servers = [server.with_options("--max-pending", str(args.max_pending)) if server.max_pending
                        else server for server in args.servers]
    if args.update_readme and f".. begin {args.update_readme}\n" not in args.readme.read_text():
        parser.error(f"{args.readme.name} has no '.. begin {args.update_readme}' marker")
    return args


def environment(task_s):
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    try:
        os_name = platform.freedesktop_os_release()["PRETTY_NAME"]
    except OSError:
        os_name = platform.platform()
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    if subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout:
        commit += "-dirty"
    return {
        "cpu": cpu, "cpu_count": common.cpu_count(), "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_quota": common.cpu_quota(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": os_name, "python": platform.python_version(), "tornado": tornado.version, "siege": siege.version(),
        "commit": commit, "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "task_n": common.DEFAULT_N, "task_s": round(task_s, 5),
    }


def measured(run, stdout, stderr, elapsed_s, health, tree, env):
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
        efficiency=measure.efficiency(rate, env["cpu_count"], env["task_s"]),
    )
    if not run["measured"]:
        run["error"] = "siege printed nothing: no transaction, no summary"
    elif not figures:  # siege outstayed its time and was stopped: its transaction lines are all there is
        run["note"] = "siege printed no summary (stopped after its time ran out)"


def bench_one(server, concurrency, args, env, progress):
    """One server at one concurrency level, from start to stop; the result is returned whatever happens."""
    port = server.port + args.port_offset
    run = {"server": server.label, "port": port, "concurrency": concurrency, "duration_s": args.duration,
           "verified": False, "measured": False, "clean_shutdown": None}
    process = ServerProcess(server, port).start()
    try:
        progress("starting")
        if not process.wait_healthy(timeout=60):
            lines = process.output().strip().splitlines()
            run["error"] = "did not come up" + (f": {lines[-1]}" if lines else "")
            return run
        progress("verifying")
        problems = verify.problems(port, server.name)
        if problems:
            run["error"] = "failed verification: " + "; ".join(problems)
            return run
        run["verified"] = True
        progress(f"warming up for {args.warmup} s")
        siege.run(port, min(concurrency, 2 * env["cpu_count"]), args.warmup)
        measure.wait_until_idle(process)
        # T1 again, now, as a record of drift: this machine's speed varies by tens of percent within minutes.
        run["task_s"] = round(common.time_task(runs=5), 5)
        progress(f"measuring for {args.duration} s")
        probe = measure.HealthProbe(port, max_seconds=args.duration + 60)
        sampler = measure.TreeSampler(process, max_seconds=args.duration + 60)
        probe.start()
        sampler.start()
        try:
            stdout, stderr, elapsed = siege.run(port, concurrency, args.duration, verbose=True,
                                                tick=lambda left: progress(f"measuring, {left} s left" if left
                                                                           else "siege is collecting its last answers"))
        finally:
            tree = sampler.stop()  # the CPU of the measured run, not of the wind-down while late probes finish
            health = probe.stop()
        measured(run, stdout, stderr, elapsed, health, tree, env)
        return run
    finally:
        progress("stopping")
        run["clean_shutdown"] = process.stop()
        if not run["clean_shutdown"]:
            print(f"  ! {server.label} left processes behind or its port busy (they were killed)", flush=True)


def save(out_dir, env, runs, render=True):
    """results.json, and unless render is False the table and chart drawn from it."""
    results = {"environment": env, "runs": runs}
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if runs and render:
        report.write_rst(results, out_dir / "results.rst")
        report.write_chart(results, out_dir / "results.png")
    return results


def update_readme(results, out_dir, section, readme):
    """Replace the README's section with these results; the chart goes to docs/SECTION.png beside it."""
    chart = Path("docs") / f"{section}.png"
    (readme.parent / chart).parent.mkdir(exist_ok=True)
    shutil.copyfile(out_dir / "results.png", readme.parent / chart)
    readme.write_text(report.replace_section(readme.read_text(), section, report.readme_section(results, chart)))
    print(f"{readme.name}: section '{section}' updated, chart in {chart}")


def main(argv=None):
    args = parse_args(argv)
    if shutil.which("siege") is None:
        sys.exit("run_all.py: error: siege is not installed; install it with: sudo apt-get install siege "
                 "(or run: make bench)")
    common.on_stop_signals(first=lambda signum: None, status=1, grace_s=STOP_GRACE_S, main_thread_handler=interrupt_once)
    plan = [(server, level) for level in args.concurrency for server in args.servers]
    out_dir = args.out / datetime.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"Timing one task (n={common.DEFAULT_N}) alone...", flush=True)
    env = environment(common.time_task(runs=11))
    print(report.environment_line(env), flush=True)
    runs = []
    per_run = args.warmup + args.duration + RUN_OVERHEAD_S
    suite_started = time.monotonic()
    try:
        for index, (server, level) in enumerate(plan):
            run_started = time.monotonic()

            def progress(phase, index=index, server=server, level=level, run_started=run_started):
                left = max(0, (len(plan) - index) * per_run - (time.monotonic() - run_started))
                print(f"[{index + 1}/{len(plan)}] {server.label} @ {level} users: {phase} "
                      f"(suite: ~{left // 60:.0f} min {left % 60:02.0f} s left)", flush=True)

            runs.append(bench_one(server, level, args, env, progress))
            save(out_dir, env, runs, render=False)  # what has finished is kept, even if the suite dies later
    except KeyboardInterrupt:
        print(f"\nInterrupted: every process started was stopped; {len(runs)} finished runs are saved.", flush=True)
    env["task_s_end"] = round(common.time_task(runs=11), 5)  # the machine's speed may drift during a suite
    results = save(out_dir, env, runs)
    print(f"\nSuite took {time.monotonic() - suite_started:.0f} s. Results in {out_dir}/\n")
    print(report.tables_rst(results) if runs else "No run finished.")
    if args.update_readme and runs:
        update_readme(results, out_dir, args.update_readme, args.readme)
    failed = [run["server"] for run in runs if run.get("error") or not run["clean_shutdown"]]
    if failed:
        print(f"Not measured cleanly: {', '.join(failed)}")
    return 1 if failed or len(runs) < len(plan) else 0


if __name__ == "__main__":
    sys.exit(main())
