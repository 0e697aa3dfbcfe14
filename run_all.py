"""Run the benchmark suite: every server, task kind and load, verified, loaded, measured.

For each task kind, server and load: start it and wait for /health; verify its answers; warm up; then the measured
run while a health probe and a process-tree sampler run beside it; stop it and check that nothing is left. The
load is siege's closed loop (--concurrency: users), the open-loop driver (--rate: requests/s), a search for the
highest rate within a latency target (--find-capacity), or background jobs (--mode background); the modes are the
table in harness/run/modes.py. Results go to OUT/<time>/: results.json, results.rst and the charts (results.png,
matrix.png for several kinds, hockey.png for open-loop runs).
"""

import argparse
import dataclasses
import datetime
import random
import shutil
import sys
import time
from pathlib import Path

import processes
import tasks
from harness import limits, postgres
from harness.cli import (
    MAX_RATE,
    OneLineParser,
    Share,
    can_run,
    kind_list,
    positive_ints,
    rates,
    runnable,
    server_list,
    task_list,
)
from harness.instruments.provenance import environment
from harness.interpreters import lacks
from harness.load import openloop
from harness.network import HOST
from harness.records.file import VERSION, record_of
from harness.records.suite import Environment, SuiteResults
from harness.report.answer import FRAMEWORKS, UNFIT, as_text, list_table, run_answer
from harness.report.comparison import going_on
from harness.report.findings import closed_rounds
from harness.report.readme import holding
from harness.report.results import save, update_readme
from harness.report.tables import environment_line, tables_rst
from harness.run.bench import bench_one, probe_floor, progress, time_kind
from harness.run.modes import MODES, Load
from harness.run.settings import Settings
from harness.server_process import ServerProcess
from harness.servers import BACKEND, ROOT, SERVERS, with_yardsticks

WARMUP_S = 2
QUICK_DURATION_S = 5
FLOOR_S = 60  # the longest the health probe's reference is measured
STOP_GRACE_S = 30  # after Ctrl-C, time to stop the server and siege and save; then (or at a second one) it is killed
INTERRUPTED = processes.InterruptOnce()  # the first Ctrl-C or SIGTERM stops the suite where it is (the runs that
# finished are saved); a second one is for processes.on_stop_signals, which then kills everything the suite started
WITH_MAX_PENDING = ", ".join(dict.fromkeys(server.number for server in SERVERS if server.takes_max_pending))
WITH_JOBS = ", ".join(dict.fromkeys(server.number for server in SERVERS if server.jobs))


def parse_args(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--servers",
        type=server_list,
        default=list(SERVERS),
        help="comma-separated numbers or names (default: all; 2 means every 2_async row)",
    )
    parser.add_argument(
        "--tasks",
        type=kind_list,
        default=None,
        help=f"task kinds, comma-separated, from {', '.join(tasks.KINDS)} (default cpu)",
    )
    parser.add_argument("--task", metavar="MODULE:FUNCTION", help="your own function of n, importable from here")
    parser.add_argument("--n", type=int, metavar="N", help="the task size to ask for (default: each kind's default)")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="the db kind's PostgreSQL, postgresql://USER@HOST:PORT/NAME (default: one the suite starts and removes)",
    )
    parser.add_argument(
        "--db-pool",
        type=int,
        metavar="N",
        help="the db kind's connections in each server process (default: SQLAlchemy's pool, and the pool sized "
        "for the load beside it where threads or the loop share it)",
    )
    parser.add_argument(
        "--concurrency", type=positive_ints, help="siege users, comma-separated levels (default 25), e.g. 25,254,512"
    )
    parser.add_argument(
        "--rate",
        type=rates,
        metavar="R1,R2",
        help="open loop instead of siege: requests per second, comma-separated, e.g. 5,10,15; or a share of each "
        "task kind's limit CPUs / T1 (T1 timed at the start), e.g. 0.5x (background: jobs per second)",
    )
    parser.add_argument(
        "--arrivals",
        choices=("constant", "poisson"),
        default="constant",
        help="open loop: a request every 1/rate s (default), or Poisson arrivals of that rate",
    )
    parser.add_argument("--seed", type=int, help="the Poisson schedules' seed (default: a new one, recorded)")
    background = MODES["background"]
    parser.add_argument(
        "--mode",
        choices=[m.name for m in MODES.values() if m.option.startswith("--mode")],
        help="background: POST /jobs at --rate (default "
        f"{background.default_level}/s) for --duration (default {background.default_s} s), then "
        f"follow each job until done or --deadline; servers that run jobs only ({WITH_JOBS})",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=60,
        metavar="S",
        help="background: how long to follow the jobs after the last submission (default 60 s)",
    )
    parser.add_argument(
        "--find-capacity",
        action="store_true",
        help="search each server's capacity: the highest open-loop rate confirmed with p99 within --slo-ms, no "
        "failure and no growing backlog, and the lowest that failed (steps of --duration, at least 10 × --slo-ms)",
    )
    parser.add_argument(
        "--slo-ms", type=float, default=1000, help="the latency target of --find-capacity (p99, default 1000 ms)"
    )
    parser.add_argument(
        "--confirm",
        type=int,
        default=300,
        metavar="N",
        help="--find-capacity: run the rate found once more for at least N requests (at most 60 s; "
        "default 300; 0: not, and no capacity is published); if it does not hold, one lower rate",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="up to N rounds, each in a shuffled order; every ratio taken within a round, with its interval over "
        "the rounds; after two, a closed-loop row stops once more rounds could not change its place against the "
        "first of its table nor the row the answer names "
        "(harness/rounds.py); each figure reported as median and range, the latencies of every round's answers pooled",
    )
    parser.add_argument(
        "--duration", type=positive_ints, default=None, help="seconds of each measured run (default 60; --quick: 5)"
    )
    parser.add_argument("--quick", action="store_true", help="a short run of everything, for a first look")
    parser.add_argument("--out", type=Path, default=ROOT / "results", help="where results go (default results/)")
    parser.add_argument(
        "--max-pending",
        type=int,
        metavar="N",
        help=f"start the servers that have the option ({WITH_MAX_PENDING}) with --max-pending N",
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        default=0,
        help="add this to every server's port (default 0: ports 8000...), if those are taken",
    )
    parser.add_argument(
        "--update-readme",
        nargs="?",
        const="results",
        metavar="SECTION",
        help="replace README.rst's section SECTION (default 'results') with these results",
    )
    parser.add_argument("--readme", type=Path, default=ROOT / "README.rst", help=argparse.SUPPRESS)  # for tests
    args = parser.parse_args(argv)
    if args.duration and len(args.duration) > 1:
        parser.error("--duration takes one number of seconds")
    chosen = [mode for mode in MODES.values() if mode.chosen(load_options_given(args))]
    if len(chosen) > 1:
        parser.error(f"choose one load: {', '.join(mode.option for mode in MODES.values())}")
    if not 0 <= args.deadline <= 3600:
        parser.error("--deadline must be from 0 to 3600 seconds")
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat must be from 1 to 20")
    if not 0 <= args.confirm <= 100_000:
        parser.error("--confirm must be from 0 to 100000 requests")
    if not 0 < args.slo_ms <= 60_000:
        parser.error("--slo-ms must be above 0 and at most 60000")
    mode = chosen[0] if chosen else next(iter(MODES.values()))
    given = getattr(args, mode.level_key)  # the mode's levels: --concurrency, --rate or --slo-ms
    levels = [mode.default_level] if given is None else given if isinstance(given, list) else [given]
    args.loads = [Load(mode.name, level) for level in levels]
    if mode.needs_jobs:
        without = [server.name for server in args.servers if not server.jobs]
        if without:
            print(
                f"run_all.py: left out of the {mode.name} mode, as they run no jobs: {', '.join(without)}",
                file=sys.stderr,
            )
        args.servers = [server for server in args.servers if server.jobs]
    if args.arrivals == "poisson" and args.seed is None:
        args.seed = random.randrange(2**32)
    args.duration = args.duration[0] if args.duration else (QUICK_DURATION_S if args.quick else mode.default_s)
    args.warmup = 1 if args.quick else WARMUP_S
    if mode.needs_jobs and args.duration + args.deadline > 240:  # each job is read once, at the end
        parser.error("--duration + --deadline must be at most 240 s: the servers forget a finished job after 300 s")
    if args.max_pending is not None:
        if args.max_pending < 1:
            parser.error("--max-pending must be at least 1")
        args.servers = [
            server.with_options("--max-pending", str(args.max_pending)) if server.takes_max_pending else server
            for server in args.servers
        ]
    args.servers = with_yardsticks(runnable(args.servers, "run_all.py"))
    if not args.servers:
        parser.error("no server left to run")
    backend = f"http://{HOST}:{BACKEND.port + args.port_offset}"  # started by main() for the http kind
    try:
        args.tasks, args.servers = task_list(
            args.tasks, args.task, args.n, args.servers, backend, "run_all.py", args.database
        )
        for task in args.tasks:  # whether the database answers: main(), before the first run
            tasks.check_database(dataclasses.replace(task, db_pool=args.db_pool))
            absent = lacks(sys.executable, task.spec().needs_modules)
            if absent:
                raise ValueError(f"the {task.kind} task needs {', '.join(absent)} here: make venv installs them")
    except ValueError as error:  # a tasks.TaskError too
        parser.error(str(error))
    if args.update_readme and holding(args.readme, args.update_readme) is None:
        parser.error(f"{args.readme.name} and docs/ have no '.. begin {args.update_readme}' marker")
    return args


def load_options_given(args):
    """The load options the command line gave, with their values: what the modes' `chosen` look at."""
    given = {key: getattr(args, key) for key in ("concurrency", "rate", "mode", "find_capacity")}
    return {key: value for key, value in given.items() if value is not None and value is not False}


def settings_from(args):
    """The run path's settings (harness/run/settings.py), from the parsed command line: built once, by main()."""
    return Settings(
        duration_s=args.duration,
        warmup_s=args.warmup,
        deadline_s=args.deadline,
        arrivals=args.arrivals,
        seed=args.seed,
        slo_ms=args.slo_ms,
        confirm=args.confirm,
        n=args.n,
        port_offset=args.port_offset,
    )


def configured(server, task, load, env):
    """The server as a competent user would set it up for the task: the pools sized for the load when the work
    waits (a pool of CPUs threads is right for computing, wrong for waiting): for the requests its mode has in
    flight (harness/run/modes.py: one per siege user, twice rate × T1 for an open loop), at least one per CPU."""
    if not env["tasks"][task.kind]["waits"] or server.pool_option is None:
        return server
    return server.sized_for(in_flight(task, load, env), env["cpu_count"])


def in_flight(task, load, env):
    """The requests the load has in flight at once (harness/run/modes.py), at least one per CPU."""
    return max(MODES[load.mode].in_flight(load.level, env["tasks"][task.kind]["t1_s"]), env["cpu_count"])


def at_rate(load, task, env):
    """The load with a share of the limit (--rate 0.5x) made a rate: of the task kind's CPUs / T1, T1 timed at the
    suite's start; ValueError (one line) if that is more than the drivers keep their schedule at."""
    if not isinstance(load.level, Share):
        return load
    rate = round(load.level.of_limit * limits.limit(env, task.kind).per_s, 1)
    if not 0 < rate <= MAX_RATE:
        raise ValueError(
            f"--rate {load.level} is {rate:g}/s for the {task.kind} task (its limit: "
            f"{limits.limit(env, task.kind).text}); it must be above 0 and at most {MAX_RATE}"
        )
    return Load(load.mode, rate, load.level.of_limit)


def plan(args, env):
    """(task, server, load) of every run of one round: for waiting work, each pool at its default size (the trap)
    and sized."""
    one_round = []
    for task in args.tasks:
        servers = can_run(args.servers, task, "run_all.py")
        if task.kind == "db" and args.db_pool:  # the reader's own pool size, in every row's label
            servers = [server.with_options("--db-pool", str(args.db_pool)) for server in servers]
        for load in (at_rate(given, task, env) for given in args.loads):
            for server in servers:
                one_round.append((task, server, load))
                sized = configured(server, task, load, env)
                if sized is not server:
                    one_round.append((task, sized, load))
                pooled = with_connections_sized(sized, task, load, env)
                if pooled is not sized:
                    one_round.append((task, pooled, load))
    return one_round


def with_connections_sized(server, task, load, env):
    """For the db kind, where tasks at once share one process's connection pool (threads, a loop, greenlets), the
    row again with that pool sized for the load (--db-pool): SQLAlchemy's default holds 15 connections at most, the
    trap beside the sized threads. Itself otherwise, or where the command line gave --db-pool."""
    if task.kind != "db" or "--db-pool" in server.options:
        return server
    return server.with_connections_for(in_flight(task, load, env))


def this_round(round_, one_round, runs, env, cap, order):
    """The runs of round `round_`, in a shuffled order (a slow minute of this machine falls on any row alike, and
    no row always follows the same one): every run in the first round; after it, of the closed-loop tables only the
    rows whose place, or the row the answer names, is not yet settled, and what they are measured against
    (harness/report/comparison.py going_on:
    every strategy at its best size for two rounds); the other modes' runs every round."""
    todo = list(one_round)
    if round_ >= 1 and any(load.mode == "closed" for _, _, load in todo):
        results = record_of({"version": VERSION, "environment": env, "runs": runs}, SuiteResults, "the rounds")
        tables = closed_rounds(results)
        stacks = [stack for _, stack in FRAMEWORKS]  # the answer's rows for one framework's users choose too
        open_rows = {
            key: going_on(found, env["python"], cap, UNFIT.get(key[0], ()), stacks) for key, found in tables.items()
        }
        # going_on names the pools the open rows are measured against; those only (a pool of a Python no open row
        # runs on, or at the other size, adds nothing to the decision).
        todo = [
            (task, server, load)
            for task, server, load in todo
            if load.mode != "closed" or server.label in open_rows.get((task.kind, load.level), ())
        ]
    order.shuffle(todo)
    return [(round_, *planned) for planned in todo]


def start_database():
    """The db kind's PostgreSQL: a cluster of the suite's own (harness/postgres.py), started; the suite's one-line
    error (status 2) if it cannot be."""
    why = postgres.missing()
    if why:
        print(f"run_all.py: error: no PostgreSQL for the db task (or give --database URL): {why}", file=sys.stderr)
        raise SystemExit(2)
    database = postgres.Postgres()  # PostgreSQL's default max_connections, as a reader's server has
    try:
        database.start()
    except RuntimeError as error:
        print(f"run_all.py: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"PostgreSQL for the db task: {database.url} (max_connections {database.max_connections})", flush=True)
    return database


def main(argv=None):
    args = parse_args(argv)
    settings = settings_from(args)
    if shutil.which("siege") is None:
        sys.exit(
            "run_all.py: error: siege is not installed; install it with: sudo apt-get install siege "
            "(or run: make bench)"
        )
    databases = []  # the PostgreSQL started below: a hard exit removes its folder too
    processes.on_stop_signals(
        first=lambda signum: None,
        status=1,
        grace_s=STOP_GRACE_S,
        main_thread_handler=INTERRUPTED,
        last=lambda: [database.stop() for database in databases],
    )
    for task in args.tasks:
        if task.database:  # the reader's own (one the suite starts is waited for until it answers)
            try:
                tasks.reach(task.database)
            except tasks.TaskError as error:
                print(f"run_all.py: error: {error}", file=sys.stderr)
                return 2
    out_dir = args.out / datetime.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = database = None
    runs, suite_started = [], time.monotonic()
    try:
        if any(task.kind == "http" for task in args.tasks):  # the http kind's slow service, on the same machine
            backend = ServerProcess(BACKEND, BACKEND.port + settings.port_offset).start()
            if not backend.wait_healthy(30):
                sys.exit(f"run_all.py: error: backend.py did not come up: {backend.output().strip()}")
        if any(task.kind == "db" and not task.database for task in args.tasks):  # a PostgreSQL of the suite's own
            database = start_database()
            databases.append(database)
            args.tasks = [
                dataclasses.replace(task, database=task.database or database.url) if task.kind == "db" else task
                for task in args.tasks
            ]
        print(f"Timing one task of each kind alone ({', '.join(task.kind for task in args.tasks)})...", flush=True)
        env = environment(
            {task.kind: time_kind(task, settings.n or task.spec().default_n) for task in args.tasks},
            seed=settings.seed,
            database=next((task.database for task in args.tasks if task.kind == "db"), None),
        )
        print(environment_line(Environment.from_json(env)), flush=True)
        # As long as one run (at most FLOOR_S), the same instruments beside it.
        floor_s = min(FLOOR_S, settings.duration_s)
        print(f"Measuring the health probe's reference ({floor_s:g} s, every core busy, no server load)...", flush=True)
        env["probe_floor_ms"] = probe_floor(floor_s)
        try:
            one_round = plan(args, env)
        except ValueError as error:
            print(f"run_all.py: error: {error}", file=sys.stderr)
            return 2
        env["order_seed"] = random.randrange(2**32)  # the rounds' shuffled order, recorded
        order = random.Random(env["order_seed"])
        for round_ in range(args.repeat):
            todo = this_round(round_, one_round, runs, env, args.repeat, order)
            if not todo:
                break
            if args.repeat > 1:
                print(f"Round {round_ + 1} of at most {args.repeat}: {len(todo)} runs", flush=True)
            for index, (_, task, server, load) in enumerate(todo):
                runs.append(bench_one(task, server, load, settings, env, progress(index, todo, settings), round_))
                save(out_dir, env, runs, render=False)  # what has finished is kept, even if the suite dies later
        for task in args.tasks:  # the machine's speed may drift during a suite
            env["tasks"][task.kind]["t1_s_end"] = round(tasks.time_task(task, env["tasks"][task.kind]["n"], runs=5), 5)
    except KeyboardInterrupt:
        todo = None
    finally:
        if backend:
            backend.stop()
        if database:
            database.stop()
    if INTERRUPTED.seen:
        # The interrupt lands between any two bytecodes: inside subprocess.Popen, after the fork and before the
        # pid is kept, a child (siege) would escape every stop by pid. This process adopts orphans (a subreaper):
        # whatever still lives below it, it started.
        escaped = processes.stop_children()
        swept = f" (the last sweep stopped {', '.join(escaped)})" if escaped else ""
        print(
            f"\nInterrupted: every process started was stopped{swept}; {len(runs)} finished runs are saved.", flush=True
        )
    if not runs:
        print("No run finished.")
        return 1
    results = save(out_dir, env, runs)
    print(f"\nSuite took {time.monotonic() - suite_started:.0f} s. Results in {out_dir}/\n")
    print(tables_rst(results))
    decided = run_answer(results)
    if decided:  # the README's short answer, for what this run measured (the reader's own function, say)
        (out_dir / "answer.rst").write_text(list_table(decided) + "\n")
        print(f"The short answer for this run (the README's rules; {out_dir / 'answer.rst'}):\n\n{as_text(decided)}\n")
    if args.update_readme:
        update_readme(results, out_dir, args.update_readme, args.readme)
    failed = [run["server"] for run in runs if run.get("error") or not run["clean_shutdown"]]
    lagging = [run["server"] for run in runs if run.get("valid") is False]
    if lagging:
        print(
            f"Send lag p99 over {openloop.MAX_SEND_LAG_MS:g} ms or max over {openloop.MAX_SEND_LAG_MAX_MS:g} ms "
            f"(the driver fell behind; figures not the server's): {', '.join(lagging)}"
        )
    if failed:
        print(f"Not measured cleanly: {', '.join(failed)}")
    return 1 if failed or todo is None else 0


if __name__ == "__main__":
    sys.exit(main())
