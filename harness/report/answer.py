"""The short answer ("which strategy for my work?"), said by rules from the task-kind matrix's results and the
hosts' fault table: per kind of work, the strategy to use, the runner-up and the one to avoid, with the figures
behind them (the rules: harness/report/comparison.py on harness/rounds.py)."""

import re

from harness.columns import health_p99_text
from harness.report.comparison import compare, named, runs_in, server_of, suite_order, unavailable
from harness.report.findings import closed_rounds, mb
from harness.report.tables import DOWN_PCT
from harness.servers import PROCESS_POOL, SERVERS

# The rows that await their waits on a loop (an async client) rather than make a blocking call.
AWAITING = tuple(server.label for server in SERVERS if server.runs_in == "loop")
# (the reader's work, the task kinds that stand for it, the first the results have; the rows that cannot do that
# work; whether the work holds the GIL: only there can a free-threaded build change what threads do)
WORK = [
    ("Pure-Python CPU work (templating, parsing, business logic)", ("cpu",), (), True),
    ("C code that releases the GIL (hashing, compression, image work, numpy)", ("hash",), (), False),
    # A query through SQLAlchemy's sync engine (db), else time.sleep standing for any blocking client (sleep).
    (
        "A blocking call (a synchronous database or API client)",
        ("db", "sleep"),
        AWAITING,
        False,
    ),
    (
        "A call over the network to a slow service (``2_async --cooperative`` awaits an async client; the pools "
        "call a blocking one)",
        ("http",),
        (),
        False,
    ),
]
# Each kind's rows the answer leaves out (run_all.py's rounds too).
UNFIT = {task: unfit for _, kinds, unfit, _ in WORK for task in kinds}


def figures(row, here=None):
    """A row's figures in the answer: its ratio to the process pool on its own Python with the interval, /health,
    memory; for a row on another Python than `here` (the suite's pool row), its tasks/s against that pool's, for
    a ratio to its own Python's pool says nothing of that Python's own speed."""
    ratio = (
        "the process pool itself (the yardstick)"
        if row.label == row.pool
        else f"×{row.ratio.text()} the process pool"
        if row.ratio
        else f"{row.run.throughput:.2f} tasks/s"
    )
    if here is not None and row.python != here.python and row.ratio:
        ratio += f" on its Python ({row.run.throughput:.1f} tasks/s, the pool here {here.run.throughput:.1f})"
    return (
        f"{ratio}, health p99 "
        + health_p99_text(row.run.health_ms, 0, " ms")
        + f", {unavailable(row.run):.0f} % unavailable, {mb(row.run)}"
    )


def free_threaded_threads(comparison, suite_python):
    """Threads on a free-threaded build, said where the GIL makes the difference: where the thread pool with the GIL
    is clearly slower than the first and its free-threaded twin is not; None elsewhere."""
    equal = [comparison.chosen, *comparison.equal]
    twins = [row for row in equal if row.run.free_threaded and runs_in(row.run) == "threads"]
    gil = [row for row in comparison.slower if not row.run.free_threaded and runs_in(row.run) == "threads"]
    if not twins or not gil or twins[0] is comparison.chosen:
        return None
    here = next((row for row in comparison.rows if row.label == row.pool and row.python == suite_python), None)
    speed = (
        f" ({twins[0].run.throughput:.1f} tasks/s against {here.run.throughput:.1f} for the process pool on "
        f"{suite_python}: the build's own speed)"
        if here
        else ""
    )
    return f"threads on a free-threaded build, {named(twins[0], suite_python)}: {figures(twins[0])}{speed}"


def restart_row(cluster):
    """The row for work that must survive a restart, from the hosts' fault table: the web host killed under
    Celery (jobs in Redis) against Dask (jobs in the web server's memory); None without both runs."""
    killed = {run.engine: run for run in cluster.runs if "web host" in run.fault and not run.error and run.accepted}
    celery, dask = killed.get("6_async_celery"), killed.get("5_async_dask")
    if not celery or not dask:
        return None
    said = [
        f"web host killed mid-run: {celery.lost} of {celery.accepted} accepted jobs lost",
        f"{dask.lost} of {dask.accepted} lost",
    ]
    if celery.lost > dask.lost:
        return [
            "Work that must survive a restart, or run on other machines",
            "–",
            "–",
            f"neither kept its jobs better: 6_async_celery {said[0]}, 5_async_dask {said[1]}",
        ]
    return [
        "Work that must survive a restart, or run on other machines",
        f"**6_async_celery** (jobs in Redis, its own): {said[0]}",
        "–",
        f"jobs in the web server's memory (5_async_dask: {said[1]}; servers 3, 4, 7 and 8 keep them so too)",
    ]


def table_of(tables, task):
    """The runs of the closed-loop table of a task kind (closed_rounds' {(kind, users): runs}); none if not run."""
    return next((runs for (kind, _), runs in tables.items() if kind == task), [])


def kind_of(tables, kinds):
    """The first of the task kinds that stand for a work that the tables have (the last if none has)."""
    return next((task for task in kinds if table_of(tables, task)), kinds[-1])


def kinds_read(results):
    """The task kinds the answer's rows per kind of work read from `results`: of db and sleep, db where it was
    measured. What the README shows a table of; the others are in the block's every column."""
    tables = closed_rounds(results)
    return [task for _, stand_ins, _, _ in WORK if table_of(tables, task := kind_of(tables, stand_ins))]


def decision(work, found, suite_python, holds_gil):
    """The answer's row for one kind of work from its table's Comparison: [the work, the strategy to use and why,
    the runner-up, the one to avoid and why], with the figures behind them."""
    first = found.chosen
    # The runner-up: the next of those equal to the first, else the fastest of the rest.
    runner = (found.equal or found.slower or [None])[0]
    # To avoid: of the rows that left /health unanswered, the first in the suite's order (which of several was down
    # longest, 83 or 90 % of a run, is the sitting's: the order is stable), the others counted; else the slowest of
    # those clearly slower than the first.
    down = sorted((row for row in found.rows if unavailable(row.run) > DOWN_PCT), key=lambda row: suite_order(row.run))
    here = next((row for row in found.rows if row.label == row.pool and row.python == suite_python), None)
    worst = down[0] if down else (found.slower or [None])[-1]
    why = (
        "–"
        if worst is None
        else f"{named(worst, suite_python)}: /health unanswered {unavailable(worst.run):.0f} % of the run"
        + (f" ({len(down) - 1} more rows down too)" if len(down) > 1 else "")
        if down
        else f"{named(worst, suite_python)}: {figures(worst, here)}"
    )
    also = free_threaded_threads(found, suite_python) if holds_gil else None
    return [
        work,
        f"**{named(first, suite_python)}**: {figures(first, here)}; {found.reason}"
        + (f" (also equal: {', '.join(named(row, suite_python) for row in found.equal)})" if found.equal else "")
        + (f". And {also}" if also else ""),
        f"{named(runner, suite_python)}: {figures(runner, here)}" if runner else "–",
        why,
    ]


HEADER = [
    "Your work",
    "Use (measured: × the process pool's tasks/s on the same Python, its 95 % interval over the rounds, /health p99, "
    "share of the run unavailable, peak memory as PSS: the process tree's, a shared page counted once)",
    "Runner-up",
    "Avoid, and why",
]


def list_table(rows):
    """The decision rows as an RST list-table, HEADER first."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 22 30 26 22", ""]
    for cells in [HEADER, *rows]:
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {cell}" for cell in cells[1:]]
    return "\n".join(lines)


# The rows a reader of one framework looks for: (the row's words, harness/servers.py Server.framework).
FRAMEWORKS = [("Your app is FastAPI", "fastapi"), ("Your app is Flask (WSGI)", "flask")]
# Those frameworks' rows are theirs: the rows per kind of work choose among the others (Tornado, the standard
# library's server), for a strategy is what an app's code does, not another framework to rewrite it in.
APART = tuple(stack for _, stack in FRAMEWORKS)


def in_words(row, suite_python):
    """A row named as its framework's user would set it up: "8_fastapi --workers 25 (a def endpoint, the default;
    anyio's thread limit raised to 25: total_tokens, not uvicorn's --workers)"."""
    server = server_of(row.run)
    size = re.search(r"--(?:workers|threads|processes) (\d+)", row.label)
    parts = [server.written_as] if server and server.written_as else []
    if size and server and server.pool_is:
        parts.append(server.pool_is.format(n=size.group(1)))
    return named(row, suite_python) + (f" ({'; '.join(parts)})" if parts else "")


def framework_row(words, stack, tables, suite_python, kinds=None):
    """The answer's row for the users of one framework (its rows' framework): per kind of work, the row to use
    among its own by the same rules (against the process pool, which is not theirs to pick), grouped where one
    row serves several kinds; to avoid, its rows that left /health unanswered, with the worst share and where.
    None if it has no row measured."""
    use, down = {}, {}
    for task, unfit in kinds or [(kind_of(tables, stand_ins), unfit) for _, stand_ins, unfit, _ in WORK]:
        found = compare(table_of(tables, task), suite_python, (*unfit, PROCESS_POOL), stack=stack)
        for row in found.rows:
            if server_of(row.run).framework == stack and unavailable(row.run) > DOWN_PCT:
                worst, where, _ = down.get(row.label, (0, [], row))
                down[row.label] = (max(worst, unavailable(row.run)), [*where, task], row)
        if found.chosen is not None:
            ratio = f"×{found.chosen.ratio.text()}" if found.chosen.ratio else ""
            use.setdefault(in_words(found.chosen, suite_python), []).append(f"{task} {ratio}".strip())
    if not use and not down:
        return None
    return [
        words,
        "; ".join(f"{', '.join(said)}: **{row}**" for row, said in use.items()) or "–",
        "–",
        "; ".join(
            f"{in_words(row, suite_python)}: /health unanswered up to {worst:.0f} % of the run ({', '.join(where)})"
            for worst, where, row in down.values()
        )
        or "–",
    ]


def answer(kinds, cluster=None, link="`Results`_"):
    """The decision table: per kind of work, the strategy to use, the runner-up, the one to avoid and why, with the
    figures behind them; from the task-kind matrix's results over its rounds (harness/report/comparison.py), and
    the hosts' fault table for work that must survive a restart."""
    suite_python = kinds.environment.python
    tables = closed_rounds(kinds)
    rows = []
    for work, stand_ins, unfit, holds_gil in WORK:
        task = kind_of(tables, stand_ins)
        found = compare(table_of(tables, task), suite_python, unfit, apart=APART)
        said = f"{work}: task ``{task}``" if len(stand_ins) > 1 else work  # which of its kinds it read
        if found.chosen is not None:
            rows.append(decision(said, found, suite_python, holds_gil))
    rows += [found for words, stack in FRAMEWORKS if (found := framework_row(words, stack, tables, suite_python))]
    restart = restart_row(cluster) if cluster else None
    if restart:
        rows.append(restart)
    rows.append(
        [
            "Your own function",
            '``make bench ARGS="--task mymodule:myfunction --n N"``: every strategy with it, and this answer for it '
            "at the end of the run (saved beside its results, ``answer.rst``)",
            "–",
            "–",
        ]
    )
    return list_table(rows) + f"\n\nThe tables these figures come from: {link}."


def run_answer(results):
    """The same answer's rows for any suite's closed-loop tables (the reader's own function's, say): a row per table
    that has a row to use, and one for each framework's users, by the same rules. Whether the work holds the GIL is
    not known here: the free-threaded line is said wherever the figures show it."""
    suite_python, tables = results.environment.python, closed_rounds(results)
    kinds = [(task, UNFIT.get(task, ())) for task in dict.fromkeys(task for task, _ in tables)]
    return [
        decision(f"``{task}``, {users} users", found, suite_python, holds_gil=True)
        for (task, users), runs in tables.items()
        if (found := compare(runs, suite_python, UNFIT.get(task, ()), apart=APART)).chosen is not None
    ] + [row for words, stack in FRAMEWORKS if (row := framework_row(words, stack, tables, suite_python, kinds))]


def as_text(rows):
    """Decision rows as a terminal shows them: each cell on a line of its own, named."""
    names = ["Your work", "Use", "Runner-up", "Avoid"]
    return "\n\n".join(
        "\n".join(
            f"{name + ':':<11}{cell.replace('**', '').replace('``', '')}" for name, cell in zip(names, row, strict=True)
        )
        for row in rows
    )
