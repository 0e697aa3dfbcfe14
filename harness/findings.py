"""What a run shows, said by rules from its results: the findings under each closed-loop table, the narrow tables
of the README, and the short answer ("which strategy for my work?") from the task-kind matrix. Rules, not prose:
a figure in a sentence is a figure of the saved results, and two rows closer than the run's noise are said to be
indistinguishable rather than ranked."""
import textwrap

from tabulate import tabulate

from .modes import load_of

# Two rows of one table closer than this share are not told apart. Tasks/s of one row moves between runs minutes
# apart (the machine's speed drifts; --repeat shows by how much), and a short run has few tasks to count.
NOISE = 0.05
DOWN_PCT = 1.0  # a row whose /health went unanswered longer than this share of the run is called unavailable
PROCESS_POOL = "4_async_processexecutor"  # the yardstick: every row's tasks/s against the process pool's
NARROW = ["Strategy", "Tasks/s", "× process pool", "Health p99 ms", "Unavail. %", "Peak PSS MB"]


def short(label):
    """A row's label in a narrow table: 3_async_threadexecutor (Python 3.13.15t) -> 3_threadexecutor (3.13.15t)."""
    return label.replace("_async_", "_").replace("(Python ", "(")


def closed_tables(results):
    """{(task, users): [run, ...]} of the closed-loop runs, in the results' order (medians of rounds not taken:
    make report runs one round)."""
    tables = {}
    for run in results["runs"]:
        mode, level = load_of(run)
        if mode == "closed" and run.get("measured"):
            tables.setdefault((run["task"], level), []).append(run)
    return tables


def unavailable(run):
    return (run.get("health_ms") or {}).get("unavailable_pct") or 0


def pool_rate(runs):
    """The process pool's tasks/s in this table: its best row (at its default size, or sized for waiting work)."""
    rates = [run["transaction_rate"] for run in runs if run["strategy"] == PROCESS_POOL and run.get("transaction_rate")
             and not run.get("free_threaded")]  # the twin on the free-threaded build is another yardstick
    return max(rates) if rates else None


def unsized(run):
    """The row's label without the pool's size given for the load: its strategy as configured otherwise."""
    return run["server"].split(" --workers")[0].split(" --threads")[0]


def best_per_strategy(runs):
    """Each strategy's best row (the default size or the sized one, whichever did more tasks/s: a reader sizes a
    pool), most tasks/s first."""
    best = {}
    for run in runs:
        if unsized(run) not in best or run["transaction_rate"] > best[unsized(run)]["transaction_rate"]:
            best[unsized(run)] = run
    return sorted(best.values(), key=lambda run: -run["transaction_rate"])


def trap(runs):
    """For waiting work, each pool at its default size against the same pool sized for the load: {its label at
    the default size: the ratio of their tasks/s}, lowest first; {} where no pool ran both ways."""
    sized = {unsized(run): run for run in runs if run["server"] != unsized(run)}
    ratios = {run["server"]: run["transaction_rate"] / sized[run["server"]]["transaction_rate"] for run in runs
              if run["server"] in sized and sized[run["server"]].get("transaction_rate")}
    return dict(sorted(ratios.items(), key=lambda item: item[1]))


def ranked(runs):
    """The strategies, most tasks/s first (each at its best size, not the free-threaded twins: another build of a
    strategy); the first to use; and those as fast as it. Among the rows that kept /health answered, those within
    NOISE of the most tasks/s cannot be told apart by speed: the first of them is the one with the least memory."""
    order = [run for run in best_per_strategy(runs) if not run.get("free_threaded")]
    answered = [run for run in order if unavailable(run) <= DOWN_PCT] or order
    fast = [run for run in answered if run["transaction_rate"] >= answered[0]["transaction_rate"] * (1 - NOISE)]
    fast.sort(key=lambda run: run.get("peak_pss_mb") or 0)
    return order, fast[0], fast[1:]


def narrow_table(runs):
    pool = pool_rate(runs)
    rows = [[short(run["server"]), f"{run['transaction_rate']:.2f}",
             f"{run['transaction_rate'] / pool:.2f}" if pool else "–",
             f"{run['health_ms']['p99']:.1f}" if (run.get("health_ms") or {}).get("p99") is not None else "–",
             f"{unavailable(run):.1f}", f"{run['peak_pss_mb']:.0f}" if run.get("peak_pss_mb") else "–"]
            for run in runs]
    return tabulate(rows, NARROW, "rst", disable_numparse=True, colalign=("left", *["right"] * (len(NARROW) - 1)))


def findings(runs, ratios=True):
    """The bullets under a table: who is first, who cannot be told from it, the ratios against the process pool
    (each strategy at its best size, the free-threaded twins too), the pools' default size for waiting work, and
    which rows left /health unanswered."""
    order, first, tied = ranked(runs)
    pool = pool_rate(runs)
    lines = [f"- First: **{first['server']}**, {first['transaction_rate']:.2f} tasks/s, {first['peak_pss_mb']:.0f} MB"
             + (f"; as fast within {NOISE * 100:.0f} % (not told apart), in more memory: " + ", ".join(
                 f"{run['server']} ({run['transaction_rate']:.2f}, {run['peak_pss_mb']:.0f} MB)" for run in tied)
                if tied else "") + "."]
    if pool and ratios:  # the README's narrow tables have them in a column
        lines.append("- Against the process pool's tasks/s: " + ", ".join(
            f"{run['server']} {run['transaction_rate'] / pool:.2f}×" for run in best_per_strategy(runs)
            if run["strategy"] != PROCESS_POOL or run.get("free_threaded")) + ".")
    default = trap(runs)
    if default:
        lines.append("- At its default size, each pool against itself sized for the users (the trap of a pool of "
                     "CPUs places for work that waits): " + ", ".join(f"{server} {ratio:.2f}×"
                                                                       for server, ratio in default.items()) + ".")
    down = sorted((run for run in runs if unavailable(run) > DOWN_PCT), key=lambda run: -unavailable(run))
    if down:
        lines.append(f"- /health unanswered for more than {DOWN_PCT:g} % of the run: " + ", ".join(
            f"{run['server']} ({unavailable(run):.0f} %)" for run in down) + ".")
    return "\n".join(textwrap.fill(line, 116, subsequent_indent="  ", break_on_hyphens=False) for line in lines)


def shown(results):
    """The findings of every closed-loop table of the results, each under its heading."""
    return "\n\n".join(f"Task {task}, {users} users:\n\n{findings(runs)}"
                        for (task, users), runs in closed_tables(results).items())


def narrow_section(results):
    """The README's version of a closed-loop block: per table, the narrow table (each strategy once) and the
    findings of the whole table; the full tables are in the block's folder under docs/results/."""
    env = results["environment"]
    parts = []
    for (task, users), runs in closed_tables(results).items():
        limit = "users" if env["tasks"][task]["waits"] else "CPUs"
        # Each strategy once, at its best size, on the main interpreter: the rest is in the full tables.
        shown = [run for run in best_per_strategy(runs) if not run.get("free_threaded")]
        shown.sort(key=runs.index)
        parts.append(f"**Task {task}, {users} users** (limit: {limit} / T1; each strategy at its best pool size)"
                     f"\n\n{narrow_table(shown)}\n\n{findings(runs, ratios=False)}\n")
    return "\n".join(parts)


WORK = [  # (the reader's work, the task kind that stands for it)
    ("Pure-Python CPU work (templating, parsing, business logic)", "cpu"),
    ("C code that releases the GIL (hashing, compression, image work, numpy)", "hash"),
    ("A blocking call (a synchronous database or API client)", "sleep"),
    ("A call over the network to a slow service (``2_async --cooperative`` awaits an async client; the pools "
     "call a blocking one)", "http"),
]


def figures(run, pool):
    return (f"{run['transaction_rate'] / pool:.2f}× the process pool, health p99 "
            + (f"{run['health_ms']['p99']:.0f} ms" if run["health_ms"].get("p99") is not None else "–")
            + f", {unavailable(run):.0f} % unavailable, {run['peak_pss_mb']:.0f} MB")


def answer(kinds, cluster=None, link="`Results`_"):
    """The decision table: per kind of work, the first strategy, the runner-up, the one to avoid and why, with the
    figures behind them; from the task-kind matrix's results (and the hosts' fault table for work that must
    survive a restart)."""
    tables = closed_tables(kinds)
    rows = []
    for work, task in WORK:
        runs = next((runs for (kind, _), runs in tables.items() if kind == task), None)
        runs = [run for run in runs or [] if not run.get("free_threaded")]  # a build of a strategy, not another one
        if not runs:
            continue
        order, first, tied = ranked(runs)
        pool = pool_rate(runs)
        others = [run for run in order if run is not first and unavailable(run) <= DOWN_PCT]
        runner = (tied or others or [None])[0]  # the next as fast in more memory, else the next fastest
        worst = max(order, key=lambda run: (unavailable(run) > DOWN_PCT, unavailable(run), -run["efficiency"]))
        why = (f"/health unanswered {unavailable(worst):.0f} % of the run" if unavailable(worst) > DOWN_PCT
               else f"{worst['transaction_rate'] / pool:.2f}× the process pool")
        rows.append([work, f"**{first['server']}**: {figures(first, pool)}"
                     + (f" (as fast within {NOISE * 100:.0f} %, in more memory: " + ", ".join(run["server"] for run in tied) + ")" if tied else ""),
                     f"{runner['server']}: {figures(runner, pool)}" if runner else "–", f"{worst['server']}: {why}"])
    if cluster:
        killed = next((run for run in cluster["runs"] if run.get("engine", "").startswith("6")
                       and "web host" in run.get("fault", "")), None)
        if killed:
            rows.append(["Work that must survive a restart, or run on other machines",
                         f"**6_async_celery** (jobs in Redis): web host killed mid-run, {killed.get('lost')} of "
                         f"{killed.get('accepted')} accepted jobs lost",
                         "5_async_dask (a scheduler on another host; its jobs live in the web server's memory)",
                         "jobs in the web server's memory (3, 4, 7, 8): lost at every restart"])
    rows.append(["Your own function", "``make bench ARGS=\"--task mymodule:myfunction --n N\"``: every strategy "
                 "with it, in the same tables", "–", "–"])
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 22 30 26 22", "",
             "   * - Your work", "     - Use (measured: × the process pool's tasks/s, /health p99, share of the run "
             "unavailable, peak PSS)", "     - Runner-up", "     - Avoid, and why"]
    for cells in rows:
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {cell}" for cell in cells[1:]]
    return "\n".join(lines) + f"\n\nThe tables these figures come from: {link}."
