"""What a run shows, said by rules from its results: the findings under each closed-loop table and the narrow
tables of the README (the short answer, from the same rules: harness/report/answer.py). Rules, not prose:
a figure in a sentence is a figure of the saved results, and two rows closer than the run's noise are said to be
indistinguishable rather than ranked."""

import re
import textwrap

from tabulate import tabulate

from harness import rounds as stats
from harness.columns import health_p99_text
from harness.report.comparison import (
    CONNECTIONS,
    POOL_SIZE,
    by_round,
    compare,
    interval_within,
    measured,
    named,
    unavailable,
)
from harness.report.tables import DOWN_PCT, collapsed, rounds_merged
from harness.run.modes import load_of

NARROW = ["Strategy (Python)", "Tasks/s", "× process pool", "Health p99 ms", "Unavail. %", "Peak MB"]


def narrow_label(row, suite_python):
    """A row's label in a narrow table, its interpreter named where it is not the suite's:
    3_async_threadexecutor --workers 25 (free-threaded) -> 3_threadexecutor --workers 25 (3.13.15t)."""
    return named(row, suite_python).replace("_async_", "_").replace(" (Python ", " (")


def closed_tables(results):
    """{(task, users): [run, ...]} of the closed-loop runs (the rounds of --repeat merged: their medians), in the
    results' order; the runs that were not measured (did not come up, failed verification) included."""
    return _closed(collapsed(results).runs)


def closed_rounds(results):
    """{(task, users): [run, ...]} of the closed-loop runs, every round's: what a comparison over rounds reads."""
    return _closed(results.runs)


def _closed(runs):
    tables = {}
    for run in runs:
        mode, level = load_of(run)
        if mode == "closed":
            tables.setdefault((run.task, level), []).append(run)
    return tables


def mb(run):
    return f"{run.peak_pss_mb:.0f} MB" if run.peak_pss_mb else "memory not read"


def trap(runs, setting=POOL_SIZE):
    """For waiting work, each row with `setting` at its default (a pool's size; CONNECTIONS: the db kind's pool of
    connections) against the same row with it sized for the load, round by round: {its label at the default: the
    Interval of their ratio}, lowest first; {} where no row ran both ways."""
    rounds = by_round(measured(runs))
    labels = {run.server for run in measured(runs)}
    sized = {default: label for label in labels if (default := re.sub(setting, "", label)) != label}
    ratios = {label: interval_within(rounds, label, other) for label, other in sized.items() if label in labels}
    return dict(sorted(((label, found) for label, found in ratios.items() if found), key=lambda i: i[1].estimate))


# What each setting's default is, and what sizing it for the load means, as the findings say it.
DEFAULTS = {
    POOL_SIZE: (
        "Pools at their default size (a worker per CPU; FastAPI: anyio's 40 threads) for waiting work, against a "
        "worker per user"
    ),
    CONNECTIONS: (
        "Database connections at SQLAlchemy's default pool (5, and 10 more on demand, in each process) against one "
        "per task in flight (--db-pool)"
    ),
}


def default_line(ratios, said, brief):
    """The finding of one trap (trap()'s {label at the default: Interval}): the rows the default made clearly
    slower, with their ratio; then those it made clearly faster, and those it did not tell apart from their sized
    row. Clearly: beyond the margin, its whole interval too (as rounds.verdict reads a row against the leader).
    None where none is clearly slower."""

    def clearly(found, slower):
        if slower:
            return found.estimate < 1 - stats.MARGIN and (found.high is None or found.high < 1 - stats.MARGIN)
        return found.estimate > 1 + stats.MARGIN and (found.low is None or found.low > 1 + stats.MARGIN)

    short = {server: found for server, found in ratios.items() if clearly(found, slower=True)}
    if not short:
        return None
    faster = sorted(server for server, found in ratios.items() if clearly(found, slower=False))
    untold = sorted(set(ratios) - set(short) - set(faster))
    each = (
        f"{min(f.estimate for f in short.values()):.2f}× to {max(f.estimate for f in short.values()):.2f}×"
        if brief
        else ", ".join(f"{server} ×{found.text()}" for server, found in short.items())
    )
    return (
        f"- {said}: {each}"
        + (f"; faster at it: {', '.join(faster)}" if faster else "")
        + (f"; not told apart at it: {', '.join(untold)}" if untold else "")
        + "."
    )


def ratio_text(row, rounds=True):
    """Its ratio to the process pool on its Python, with the interval; the pool itself is the yardstick."""
    return "–" if row.ratio is None else "1 (yardstick)" if row.label == row.pool else row.ratio.text(rounds=rounds)


README_ROWS = 8  # the README's narrow tables show the fastest rows; every row is in docs/results/


def narrow_rows(comparison, suite_python, most=None):
    """The rows a narrow table shows, in the comparison's order: not another Python's pool (1, by definition); with
    `most`, the first `most` and, wherever they are, the row chosen and the yardstick (the rows equal to the first
    are counted in its findings, and named under the table where they are not shown)."""
    rows = [row for row in comparison.rows if row.label != row.pool or row.python == suite_python]
    if most is None:
        return rows
    chosen = comparison.chosen.label if comparison.chosen is not None else None
    return [row for at, row in enumerate(rows) if at < most or row.label in (chosen, row.pool)]


def narrow_table(comparison, suite_python, most=None):
    rows = [
        [
            narrow_label(row, suite_python),
            f"{row.run.throughput:.2f}",
            ratio_text(row, rounds=False),
            health_p99_text(row.run.health_ms),
            f"{unavailable(row.run):.1f}" if row.run.health_ms.unavailable_pct is not None else "–",
            f"{row.run.peak_pss_mb:.0f}" if row.run.peak_pss_mb else "–",
        ]
        for row in narrow_rows(comparison, suite_python, most)
    ]
    return tabulate(rows, NARROW, "rst", disable_numparse=True, colalign=("left", *["right"] * (len(NARROW) - 1)))


def findings(runs, suite_python, brief=False):
    """The bullets under a table: which row to use and why, which cannot be told from the first, the ratios against
    the process pool on each row's Python with their intervals, the pools at their default size for waiting work,
    which rows left /health unanswered, and which were not measured. Brief (the README's, beside its narrow table):
    no ratios (the table has them), the rows equal to the first and the pools' default sizes in short."""
    lines = []
    found = compare(runs, suite_python)
    rounds_said = f"{found.rounds} round" + ("s" if found.rounds != 1 else "")
    if found.chosen and brief:
        lines.append(
            f"- First: **{named(found.chosen, suite_python)}**"
            + (f", the simplest of {len(found.equal) + 1} within {stats.MARGIN * 100:g} %" if found.equal else "")
            + (f"; {len(found.untold)} more not told apart from it" if found.untold else "")
            + f" ({rounds_said})."
        )
    elif found.chosen:
        lines.append(
            f"- First: **{named(found.chosen, suite_python)}** ({found.reason}; {rounds_said})"
            + (
                "; equal to it: " + ", ".join(f"{named(row, suite_python)} ({ratio_text(row)})" for row in found.equal)
                if found.equal
                else ""
            )
            + "."
        )
    if found.untold and not brief:
        lines.append(
            f"- Not told apart from the first, though further behind than {stats.MARGIN * 100:g} % (their "
            "interval reaches it; not picked over it): "
            + ", ".join(f"{named(row, suite_python)} ({ratio_text(row)})" for row in found.untold)
            + "."
        )
    if not brief and any(row.ratio for row in found.rows):
        lines.append(
            "- Against the process pool's tasks/s on the same Python, round by round (95 % interval): "
            + ", ".join(
                f"{named(row, suite_python)} ×{row.ratio.text()}"
                for row in found.rows
                if row.ratio and row.label != row.pool
            )
            + "."
        )
    no_pool = [named(row, suite_python) for row in found.rows if row.ratio is None and any(r.ratio for r in found.rows)]
    if no_pool:
        lines.append(f"- No process pool measured on their Python in this sitting, so no ratio: {', '.join(no_pool)}.")
    for setting, said in DEFAULTS.items():
        if line := default_line(trap(runs, setting), said, brief):
            lines.append(line)
    merged = measured(rounds_merged(runs))
    down = sorted((run for run in merged if unavailable(run) > DOWN_PCT), key=lambda run: -unavailable(run))
    if down:
        lines.append(
            f"- /health unanswered for more than {DOWN_PCT:g} % of the run: "
            + ", ".join(f"{run.server} ({unavailable(run):.0f} %)" for run in down)
            + "."
        )
    missing = [run for run in rounds_merged(runs) if run not in merged]
    if missing:
        lines.append(
            "- Not measured: " + "; ".join(f"{run.server} ({run.error or 'no figures'})" for run in missing) + "."
        )
    return "\n".join(textwrap.fill(line, 116, subsequent_indent="  ", break_on_hyphens=False) for line in lines)


def shown(results):
    """The findings of every closed-loop table of the results, each under its heading."""
    python = results.environment.python
    return "\n\n".join(
        f"Task {task}, {users} users:\n\n{findings(runs, python)}"
        for (task, users), runs in closed_rounds(results).items()
    )


def narrow_section(results, kinds=None):
    """The README's version of a closed-loop block: per table (of `kinds` only, if given), the narrow table (each
    strategy once, at its best size, its interpreter named) and the findings of the whole table; every row is in
    docs/results/."""
    env = results.environment
    parts = []
    for (task, users), runs in closed_rounds(results).items():
        if kinds is not None and task not in kinds:
            continue
        limit = "users" if env.tasks[task].waits else "CPUs"
        found = compare(runs, env.python)
        spread = f"its 95 % interval over up to {found.rounds} rounds" if found.rounds > 1 else "one round: no interval"
        shown = {row.label for row in narrow_rows(found, env.python, README_ROWS)}
        slower = [row for row in narrow_rows(found, env.python) if row.label not in shown]
        beyond = textwrap.fill(
            f"- Not shown here: {', '.join(narrow_label(row, env.python) for row in slower)}.",
            116,
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
        parts.append(
            f"**Task {task}, {users} users** (limit: {limit} / T1; each strategy at its best pool size, on Python "
            f"{env.python} unless named; × the process pool on the same Python, {spread})"
            f"\n\n{narrow_table(found, env.python, README_ROWS)}\n\n{findings(runs, env.python, brief=True)}\n"
            + (beyond + "\n" if slower else "")
        )
    return "\n".join(parts)
