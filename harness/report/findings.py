"""What a run shows, said by rules from its results: the findings under each closed-loop table and the narrow
tables of the README (the short answer, from the same rules: harness/report/answer.py). Rules, not prose:
a figure in a sentence is a figure of the saved results, and two rows closer than the run's noise are said to be
indistinguishable rather than ranked."""

import math
import re
import textwrap

from tabulate import tabulate

from harness.columns import health_p99_text
from harness.report.tables import DOWN_PCT, collapsed
from harness.run.modes import load_of

# Two rows of one table closer than this share are not told apart: tasks/s of one row moves between runs minutes
# apart (the machine's speed drifts; --repeat shows by how much). A short run has few tasks to count, and then the
# share is wider: one in the square root of the tasks it counted (150 tasks: 8 %).
NOISE = 0.05


def noise(run):
    counted = run.transactions or 0
    return max(NOISE, 1 / math.sqrt(counted)) if counted else NOISE


PROCESS_POOL = "4_async_processexecutor"  # the yardstick: every row's tasks/s against the process pool's
NARROW = ["Strategy", "Tasks/s", "× process pool", "Health p99 ms", "Unavail. %", "Peak PSS MB"]


def narrow_label(label):
    """A row's label in a narrow table: 3_async_threadexecutor --workers 25 -> 3_threadexecutor --workers 25."""
    return label.replace("_async_", "_")


def closed_tables(results):
    """{(task, users): [run, ...]} of the closed-loop runs (the rounds of --repeat merged: their medians), in the
    results' order; the runs that were not measured (did not come up, failed verification) included."""
    tables = {}
    for run in collapsed(results).runs:
        mode, level = load_of(run)
        if mode == "closed":
            tables.setdefault((run.task, level), []).append(run)
    return tables


def measured(runs):
    return [run for run in runs if run.measured and run.transaction_rate is not None]


def unavailable(run):
    return run.health_ms.unavailable_pct or 0


def pss(run):
    return run.peak_pss_mb or float("inf")  # no reading: not the least memory


def pool_rate(runs):
    """The process pool's tasks/s in this table: its best row (at its default size, or sized for waiting work)."""
    rates = [
        run.transaction_rate for run in measured(runs) if run.strategy == PROCESS_POOL and not run.free_threaded
    ]  # the twin on the free-threaded build is another yardstick
    return max(rates) or None if rates else None


def unsized(run):
    """The row's label without the pool's size given for the load: 3_async_threadexecutor --workers 25
    (free-threaded) -> 3_async_threadexecutor (free-threaded)."""
    return re.sub(r" --(?:workers|threads) \d+", "", run.server)


def best_per_strategy(runs):
    """Each strategy's best row (the default size or the sized one: a reader sizes a pool), the one that kept
    /health answered first, then the one that did more tasks/s; most tasks/s first."""
    best = {}
    for run in measured(runs):
        key = (unavailable(run) <= DOWN_PCT, run.transaction_rate)
        if unsized(run) not in best or key > (
            unavailable(best[unsized(run)]) <= DOWN_PCT,
            best[unsized(run)].transaction_rate,
        ):
            best[unsized(run)] = run
    return sorted(best.values(), key=lambda run: -run.transaction_rate)


def trap(runs):
    """For waiting work, each pool at its default size against the same pool sized for the load: {its label at
    the default size: the ratio of their tasks/s}, lowest first; {} where no pool ran both ways."""
    sized = {unsized(run): run for run in measured(runs) if run.server != unsized(run)}
    ratios = {
        run.server: run.transaction_rate / sized[run.server].transaction_rate
        for run in measured(runs)
        if run.server in sized and sized[run.server].transaction_rate
    }
    return dict(sorted(ratios.items(), key=lambda item: item[1]))


def ranked(runs):
    """(the strategies, most tasks/s first, each at its best size and not the free-threaded twins: another build
    of a strategy; the first to use; those as fast as it; the share within which they are), or None for a table
    with no such row. Among the rows that kept /health answered, those within noise() of the most tasks/s cannot be
    told apart by speed: the first of them is the one in the least memory."""
    order = [run for run in best_per_strategy(runs) if not run.free_threaded]
    if not order:
        return None
    answered = [run for run in order if unavailable(run) <= DOWN_PCT] or order
    share = noise(answered[0])
    fast = sorted(
        (run for run in answered if run.transaction_rate >= answered[0].transaction_rate * (1 - share)), key=pss
    )
    return order, fast[0], fast[1:], share


def mb(run):
    return f"{run.peak_pss_mb:.0f} MB" if run.peak_pss_mb else "memory not read"


def narrow_table(runs):
    pool = pool_rate(runs)
    rows = [
        [
            narrow_label(run.server),
            f"{run.transaction_rate:.2f}",
            f"{run.transaction_rate / pool:.2f}" if pool else "–",
            health_p99_text(run.health_ms),
            f"{unavailable(run):.1f}" if run.health_ms.unavailable_pct is not None else "–",
            f"{run.peak_pss_mb:.0f}" if run.peak_pss_mb else "–",
        ]
        for run in runs
    ]
    return tabulate(rows, NARROW, "rst", disable_numparse=True, colalign=("left", *["right"] * (len(NARROW) - 1)))


def findings(runs, brief=False):
    """The bullets under a table: who is first, who cannot be told from it, the ratios against the process pool
    (each strategy at its best size, the free-threaded twins too), the pools at their default size for waiting
    work, which rows left /health unanswered, and which were not measured. Brief (the README's, beside its narrow
    table): no ratios (the table has them), the rows as fast as the first and the pools' default sizes in short."""
    lines = []
    found = ranked(runs)
    if found:
        _, first, tied, share = found
        lines.append(
            f"- First: **{first.server}**, {first.transaction_rate:.2f} tasks/s, {mb(first)}"
            + (
                f"; as fast within {share * 100:.0f} % (not told apart), in more memory: "
                + ", ".join(
                    run.server if brief else f"{run.server} ({run.transaction_rate:.2f}, {mb(run)})" for run in tied
                )
                if tied
                else ""
            )
            + "."
        )
    pool = pool_rate(runs)
    if pool and not brief:
        lines.append(
            "- Against the process pool's tasks/s: "
            + ", ".join(
                f"{run.server} {run.transaction_rate / pool:.2f}×"
                for run in best_per_strategy(runs)
                if run.strategy != PROCESS_POOL or run.free_threaded
            )
            + "."
        )
    default = trap(runs)
    short = {server: ratio for server, ratio in default.items() if ratio < 1 - NOISE}
    if short:
        each = (
            f"{min(short.values()):.2f}× to {max(short.values()):.2f}× ({len(short)} pools)"
            if brief
            else ", ".join(f"{server} {ratio:.2f}×" for server, ratio in short.items())
        )
        lines.append(
            "- At its default size, each pool against itself sized for the users (the trap of a pool of "
            f"CPUs places for work that waits): {each}"
            + (
                f"; as fast at their default size: {', '.join(sorted(set(default) - set(short)))}"
                if set(default) - set(short)
                else ""
            )
            + "."
        )
    down = sorted((run for run in measured(runs) if unavailable(run) > DOWN_PCT), key=lambda run: -unavailable(run))
    if down:
        lines.append(
            f"- /health unanswered for more than {DOWN_PCT:g} % of the run: "
            + ", ".join(f"{run.server} ({unavailable(run):.0f} %)" for run in down)
            + "."
        )
    figures = measured(runs)
    missing = [run for run in runs if run not in figures]
    if missing:
        lines.append(
            "- Not measured: " + "; ".join(f"{run.server} ({run.error or 'no figures'})" for run in missing) + "."
        )
    return "\n".join(textwrap.fill(line, 116, subsequent_indent="  ", break_on_hyphens=False) for line in lines)


def shown(results):
    """The findings of every closed-loop table of the results, each under its heading."""
    return "\n\n".join(
        f"Task {task}, {users} users:\n\n{findings(runs)}" for (task, users), runs in closed_tables(results).items()
    )


def narrow_section(results):
    """The README's version of a closed-loop block: per table, the narrow table (each strategy once, at its best
    size, on the main interpreter) and the findings of the whole table; every row is in docs/results/."""
    env = results.environment
    parts = []
    for (task, users), runs in closed_tables(results).items():
        limit = "users" if env.tasks[task].waits else "CPUs"
        rows = sorted((run for run in best_per_strategy(runs) if not run.free_threaded), key=runs.index)
        parts.append(
            f"**Task {task}, {users} users** (limit: {limit} / T1; each strategy at its best pool size)"
            f"\n\n{narrow_table(rows)}\n\n{findings(runs, brief=True)}\n"
        )
    return "\n".join(parts)
