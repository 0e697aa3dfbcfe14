"""The short answer ("which strategy for my work?"), said by rules from the task-kind matrix's results and the
hosts' fault table: per kind of work, the strategy to use, the runner-up and the one to avoid, with the figures
behind them (the rules of each table's findings: harness/report/findings.py)."""

from harness.columns import health_p99_text
from harness.report.findings import closed_tables, mb, pool_rate, ranked, unavailable, unsized
from harness.report.tables import DOWN_PCT

# (the reader's work, the task kind that stands for it, the rows that cannot do that work)
WORK = [
    ("Pure-Python CPU work (templating, parsing, business logic)", "cpu", ()),
    ("C code that releases the GIL (hashing, compression, image work, numpy)", "hash", ()),
    # The cooperative row awaits asyncio.sleep: it stands for an async client, not for a blocking call.
    ("A blocking call (a synchronous database or API client)", "sleep", ("2_async --cooperative",)),
    (
        "A call over the network to a slow service (``2_async --cooperative`` awaits an async client; the pools "
        "call a blocking one)",
        "http",
        (),
    ),
]


def figures(run, pool):
    ratio = f"{run.transaction_rate / pool:.2f}× the process pool" if pool else f"{run.transaction_rate:.2f} tasks/s"
    return (
        f"{ratio}, health p99 "
        + health_p99_text(run.health_ms, 0, " ms")
        + f", {unavailable(run):.0f} % unavailable, {mb(run)}"
    )


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


def answer(kinds, cluster=None, link="`Results`_"):
    """The decision table: per kind of work, the first strategy, the runner-up, the one to avoid and why, with the
    figures behind them; from the task-kind matrix's results (and the hosts' fault table for work that must
    survive a restart)."""
    tables = closed_tables(kinds)
    rows = []
    for work, task, unfit in WORK:
        runs = next((runs for (kind, _), runs in tables.items() if kind == task), [])
        runs = [run for run in runs if not run.free_threaded and unsized(run) not in unfit]
        found = ranked(runs)
        if not found:
            continue
        order, first, tied, share = found
        pool = pool_rate(runs)
        others = [run for run in order if run is not first and unavailable(run) <= DOWN_PCT]
        runner = (tied or others or [None])[0]  # the next as fast in more memory, else the next fastest
        # To avoid: down the longest, else the slowest of those clearly slower than the first.
        slow = [
            run
            for run in order
            if unavailable(run) > DOWN_PCT or run.transaction_rate < first.transaction_rate * (1 - share)
        ]
        worst = max(
            slow,
            key=lambda run: (unavailable(run) > DOWN_PCT, unavailable(run), -run.transaction_rate),
            default=None,
        )
        why = (
            "–"
            if worst is None
            else f"{worst.server}: /health unanswered {unavailable(worst):.0f} % of the run"
            if unavailable(worst) > DOWN_PCT
            else f"{worst.server}: {figures(worst, pool)}"
        )
        rows.append(
            [
                work,
                f"**{first.server}**: {figures(first, pool)}"
                + (
                    f" (as fast within {share * 100:.0f} %, in more memory: "
                    + ", ".join(run.server for run in tied)
                    + ")"
                    if tied
                    else ""
                ),
                f"{runner.server}: {figures(runner, pool)}" if runner else "–",
                why,
            ]
        )
    restart = restart_row(cluster) if cluster else None
    if restart:
        rows.append(restart)
    rows.append(
        [
            "Your own function",
            '``make bench ARGS="--task mymodule:myfunction --n N"``: every strategy with it, in the same tables',
            "–",
            "–",
        ]
    )
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 22 30 26 22",
        "",
        "   * - Your work",
        "     - Use (measured: × the process pool's tasks/s, /health p99, share of the run unavailable, peak PSS)",
        "     - Runner-up",
        "     - Avoid, and why",
    ]
    for cells in rows:
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {cell}" for cell in cells[1:]]
    return "\n".join(lines) + f"\n\nThe tables these figures come from: {link}."
