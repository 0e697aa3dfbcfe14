"""make cluster's two tables, from its saved results.json (harness/hosts/cluster.py writes it; make report puts
them into docs/scaling.rst): the open loop on hosts and on loopback, and the fault table, with the sentence that
says the load and the fault's timing before them. Each reads the records of harness/records/blocks.py.
"""

from tabulate import tabulate

from harness.instruments.measure import SLOW_S


def describe(saved):
    """The load and the fault's timing (a ClusterResults' load), as a sentence before the table."""
    load = saved.load
    return (
        f"First, without a fault, ``GET /`` at {load.open_rate} requests/s for {load.open_s} s "
        f"(open loop), with every program on its host, then with the same programs on 127.0.0.1; then the "
        f"faults: jobs at {load.rate}/s for {load.run_s} s and {load.users} users, the fault at "
        f"{load.fault_at_s} s, jobs followed for up to {load.follow_s} s more.\n\n"
    )


def open_table(runs):
    """The open loop on hosts and on loopback, side by side (OpenRun records)."""

    def ms(value):
        return "–" if value is None else f"{value:.0f}"

    def none(value):  # a run that failed has no figures
        return "–" if value is None else value

    rows = [
        [
            run.engine,
            run.placement,
            none(run.answered_per_s),
            none(run.failed),
            ms(run.p50_ms),
            f"> {run.p99_above_ms:.0f}" if run.p99_above_ms else ms(run.p99_ms),
            # among the failures: at least the timeout (SLOW_S; runs saved before said the largest answer instead)
            f"≥ {SLOW_S * 1000:.0f}" if run.health_p99_ms is None and run.health_failed else ms(run.health_p99_ms),
            none(run.health_failed),
            *[(run.cpu_ms_per_answer or {}).get(role, "–") for role in ("web", "broker", "workers")],
            run.error or "",
        ]
        for run in runs
    ]
    return tabulate(
        rows,
        [
            "Server",
            "On",
            "Answered/s",
            "Failed",
            "p50 ms",
            "p99 ms",
            "Health p99 ms",
            "Health failed",
            "CPU ms/answer: web",
            "broker",
            "workers",
            "Note",
        ],
        tablefmt="rst",
    )


def table(runs):
    """The fault table, a row per engine and fault (FaultRun records)."""
    rows = [
        [
            run.engine,
            run.fault,
            run.accepted,
            run.done,
            run.failed,
            run.lost,
            run.ran_twice,
            run.unfinished,
            "–" if run.back_after_s is None else run.back_after_s,
            run.lowest_share,
            ", ".join(f"{k}: {v}" for k, v in sorted(run.users.items())),
            ", ".join(f"{k}: {v}" for k, v in sorted(run.refused.items())) or "0",
            f"{run.health_failed} of {run.health_probes}",
        ]
        for run in runs
    ]
    return tabulate(
        rows,
        [
            "Server",
            "Fault",
            "Accepted",
            "Done",
            "Failed",
            "Lost",
            "Ran twice",
            "Unfinished",
            "Back after s",
            "Lowest 3 s",
            "Users' answers",
            "Jobs refused",
            "Health failed",
        ],
        tablefmt="rst",
    )


def notes(runs):
    """The runs of the fault table that could not be made, each with why (FaultRun.error), and those whose job
    driver fell behind its schedule (FaultRun.driver_note): a line each."""
    failed = [f"* {run.engine}, {run.fault}: not measured: {run.error}" for run in runs if run.error]
    late = [f"* {run.engine}, {run.fault}: {run.driver_note}" for run in runs if run.driver_note]
    return "\n\n".join(
        "\n".join([title, "", *lines])
        for title, lines in (("Runs without figures:", failed), ("Runs whose jobs were sent late:", late))
        if lines
    )
