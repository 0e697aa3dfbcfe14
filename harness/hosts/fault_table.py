"""make cluster's two tables, from its saved results.json (harness/hosts/cluster.py writes it; make report puts
them into docs/scaling.rst): the open loop on hosts and on loopback, and the fault table, with the sentence that
says the load and the fault's timing before them.
"""

from tabulate import tabulate

from harness.hosts.measured import OPEN_RATE, OPEN_S


def describe(saved):
    """The load and the fault's timing, as a sentence before the table."""
    load = saved["load"]
    rate, seconds = load.get("open_rate", OPEN_RATE), load.get("open_s", OPEN_S)  # older results: these constants
    return (
        f"First, without a fault, ``GET /`` at {rate} requests/s for {seconds} s "
        f"(open loop), with every program on its host, then with the same programs on 127.0.0.1; then the "
        f"faults: jobs at {load['rate']}/s for {load['run_s']} s and {load['users']} users, the fault at "
        f"{load['fault_at_s']} s, jobs followed for up to {load['follow_s']} s more.\n\n"
    )


def open_table(runs):
    """The open loop on hosts and on loopback, side by side."""

    def ms(value):
        return "–" if value is None else f"{value:.0f}"

    rows = [
        [
            run["engine"],
            run["placement"],
            run.get("answered_per_s", "–"),
            run.get("failed", "–"),
            ms(run.get("p50_ms")),
            f"> {run['p99_above_ms']:.0f}" if run.get("p99_above_ms") else ms(run.get("p99_ms")),
            ms(run.get("health_p99_ms")),
            run.get("health_failed", "–"),
            *[(run.get("cpu_ms_per_answer") or {}).get(role, "–") for role in ("web", "broker", "workers")],
            run.get("error", ""),
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
    rows = [
        [
            run["engine"],
            run["fault"],
            run.get("accepted"),
            run.get("done"),
            run.get("failed"),
            run.get("lost"),
            run.get("ran_twice"),
            run.get("unfinished"),
            "–" if run.get("back_after_s") is None else run["back_after_s"],
            run.get("lowest_share"),
            ", ".join(f"{k}: {v}" for k, v in sorted(run.get("users", {}).items())),
            ", ".join(f"{k}: {v}" for k, v in sorted(run.get("refused", {}).items())) or "0",
            f"{run.get('health_failed')} of {run.get('health_probes')}",
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
