"""The results as RST tables: a row per strategy, a table per (task kind, load), the legends under them, the line
that says where they were measured; and the runs grouped as the tables and the charts show them (the rounds of
--repeat merged into one, the rows' order). Every figure is read from the records of harness/records/suite.py."""

import dataclasses

import numpy
from hdrh.histogram import HdrHistogram
from tabulate import tabulate

from harness.columns import CLOSED_COLUMNS, POOLED, health_p99_text
from harness.instruments.measure import histogram_summary, rank
from harness.records.suite import Run
from harness.run.modes import MODES, load_of

DOWN_PCT = 1.0  # a run unavailable longer than this share of its time cannot show as a health p99 at all
# A /health p99 under this is quick: a tenth of the probe's timeout. Among rows equally fast and equally simple the
# answer names one that kept /health quick (hashing in FastAPI's 40 threads: a p99 of some 400 ms; the process pool:
# about 10 ms), so that a few MB less does not recommend a server whose own loop waits behind its work.
RESPONSIVE_MS = 100
REPEAT_LEGEND = (
    "Each figure: the median of the rounds that measured the row (up to {n}, each in a shuffled order; a row "
    "stopped earlier once more rounds could not change its place or the row the answer names), its range in "
    "brackets; the latency percentiles and max: of every round's "
    "answers pooled (HDR histograms merged), so that one round's stall stays."
)


def _fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def cell(runs, get, digits, ranged):
    """The median of the runs' values; with its min–max range if asked and there are several."""
    values = [value for value in map(get, runs) if value is not None]
    if not values:
        return "–"
    if digits is None:  # text, not a figure
        return values[0]
    censored = [value for value in values if isinstance(value, str)]
    if censored:  # a percentile known only as a bound in some round ("> X"): the round's bound, not a median
        return censored[0]
    text = _fmt(float(numpy.median(values)), digits)
    if ranged and len(runs) > 1:
        text += f" ({_fmt(min(values), digits)}–{_fmt(max(values), digits)})"
    return text


def row(runs, columns=CLOSED_COLUMNS, python=None):
    """One table row from the runs of one row: one run, or one per round with --repeat."""
    measured = [run for run in runs if run.measured]
    if not measured:
        return [runs[0].server, *[""] * (len(columns) - 1), f"not run: {runs[0].error or '?'}"]
    label = runs[0].server
    if runs[0].python and runs[0].python != python:  # a row that ran on another Python than the suite
        # "3_async_threadexecutor (Python 3.13.15t)": the free-threaded twin says so by its version's "t"
        label = label.removesuffix(" (free-threaded)") + f" (Python {runs[0].python})"
    label += "" if len(measured) == len(runs) else f" ({len(runs) - len(measured)} failed)"
    if any(run.free_threaded and run.gil_enabled for run in measured):
        label += " (GIL re-enabled by an import!)"  # a free-threaded row that did not run without the GIL
    invalid = sum(1 for run in measured if run.valid is False)
    if invalid:
        label += f" ({invalid} invalid: send lag)"
    disagree = [run.count_gap for run in measured if run.counts_disagree]
    if disagree:  # the server's tasks and siege's answers 200 over the run (harness/instruments/steady.py)
        label += f" (counts disagree: {', '.join(f'{gap:+d}' for gap in disagree)})"
    busy = sum(1 for run in measured if run.started_busy or any(step.started_busy for step in run.steps))
    if busy:
        label += f" ({busy} started busy)"  # the server was not idle after a minute: the run was measured anyway
    pooled = [median_run(measured)]  # its latencies from the rounds' histograms merged
    return [
        label,
        *[
            cell(pooled, get, digits, False) if ranged == POOLED else cell(measured, get, digits, ranged)
            for _, get, digits, ranged in columns
        ],
    ]


def median_run(runs):
    """One run standing for several rounds of it (--repeat): every number the median of the rounds' numbers,
    except the latencies: their percentiles are of the rounds' histograms merged (so that a stall in one round
    stays in the p99, and the max is the largest), failures counted as in each round."""

    def merge(values):
        if all(isinstance(value, dict) for value in values):  # every key any round has (a censored pN_above)
            return {
                key: bound([value.get(key) for value in values])
                if key.endswith("_above")
                else merge([value.get(key) for value in values])
                for key in dict.fromkeys(key for value in values for key in value)
            }
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values):
            return float(numpy.median(numbers))
        if numbers and None in values:  # a figure some rounds could not give (a p99 among failed probes): not known
            return None
        return values[0]

    def bound(values):  # a censored percentile's bound: the highest any round knew it to exceed
        return max((value for value in values if value is not None), default=None)

    if len(runs) == 1:
        return runs[0]
    merged = merge([run.to_json() for run in runs])  # field by field, as the rounds recorded them
    if all(run.latency_hist for run in runs):
        pooled = HdrHistogram.decode(runs[0].latency_hist)
        for run in runs[1:]:
            pooled.add(HdrHistogram.decode(run.latency_hist))
        failed = sum((run.failed or 0) + (run.in_flight_at_stop or 0) for run in runs)
        merged["latency_ms"] = histogram_summary(pooled, failed if runs[0].mode == "open" else 0)
    if all(run.health_ms.count for run in runs):
        merged["health_ms"] = pooled_health([run.health_ms for run in runs])
    return Run.from_json(merged, "the rounds' median")


def pooled_health(healths):
    """The rounds' health probes as one (median_run): the probes and failures summed, so that one round's outage is
    not outvoted by quiet ones, and the share unavailable of all of them; a percentile whose rank falls among the
    failures of all the probes is censored (as the probe does in one run), else the median of the rounds' (a
    round's censored one counted as its bound: the probes' own values are not kept, and a p99 of some 100 probes
    is about the highest of each round); the max the largest, unknown where any probe failed."""
    count, failed = sum(h.count for h in healths), sum(h.failed or 0 for h in healths)
    # unavailable: no answer within SLOW_S (older runs, timeout_s None, counted slow answers in slow_or_failed too)
    down = sum((h.failed if h.timeout_s else h.slow_or_failed) or 0 for h in healths)
    pooled = {
        **healths[0].to_json(),
        "planned": sum(h.planned or 0 for h in healths) or None,
        "count": count,
        "failed": failed,
        "slow_or_failed": sum(h.slow_or_failed or 0 for h in healths),
        "unavailable_pct": round(100 * down / count, 1),
        "errors": sorted({error for h in healths for error in h.errors or ()}),
    }
    known = [v for h in healths for v in (h.max, h.p50_above, h.p99_above, h.p50, h.p99) if v is not None]
    largest = max(known, default=None)
    for point in (50, 99):
        key = f"p{point}"
        if rank(point, count) > count - failed:
            pooled.update({key: None, f"{key}_above": largest})
            continue
        values = [getattr(h, key) if getattr(h, key) is not None else getattr(h, f"{key}_above") for h in healths]
        known_values = [v for v in values if v is not None]
        pooled.update({key: float(numpy.median(known_values)) if known_values else None, f"{key}_above": None})
    pooled["max"] = None if failed or any(h.max is None for h in healths) else max(h.max for h in healths)
    return pooled


def rounds_merged(runs):
    """One run for each (server, task, load), its rounds merged by median_run (of the measured ones, if any), in the
    order of their first runs."""
    groups = {}
    for run in runs:
        groups.setdefault((run.server, run.task, load_of(run)), []).append(run)
    return [median_run([run for run in group if run.measured] or group) for group in groups.values()]


def collapsed(results):
    """The results with the rounds of each (server, task, load) merged into one (rounds_merged)."""
    return dataclasses.replace(results, runs=rounds_merged(results.runs))


def server_labels(results, mode=None):
    """Every row's label, each strategy's sized variants (e.g. --workers 25) right after its default row."""
    runs = [run for run in results.runs if mode is None or load_of(run)[0] == mode]
    strategies = list(dict.fromkeys(run.strategy for run in runs))
    labels = {(run.strategy, run.server) for run in runs}
    return [label for _, label in sorted(labels, key=lambda pair: (strategies.index(pair[0]), len(pair[1])))]


def task_kinds(results):
    return list(dict.fromkeys(run.task for run in results.runs))


def levels(results):
    """The closed-loop levels (siege's users) of the results."""
    return sorted({run.concurrency for run in results.runs if load_of(run)[0] == "closed"})


def loads(results):
    """Every (mode, level) of the results, in the order of the modes' table, then by level."""
    return sorted({load_of(run) for run in results.runs}, key=lambda load: (list(MODES).index(load[0]), load[1]))


def modes_of(results):
    """The names of the load modes the runs ran in, in the order of the modes' table."""
    return list(dict.fromkeys(load[0] for load in loads(results)))


def rounds(results):
    return max((run.round for run in results.runs), default=0) + 1


def environment_line(env):
    """Where a run was measured, in a line: the machine, the versions, the commit, T1 of each task kind."""
    commit = env.commit[:12] + ("-dirty" if env.commit.endswith("-dirty") else "")
    quota = f" (cgroup quota {env.cpu_quota:g})" if env.cpu_quota else ""
    kinds = "; ".join(
        f"{task} (n={kind.n}) T1 = {kind.t1_s * 1000:.1f} ms"
        + (f", {kind.t1_s_end * 1000:.1f} ms at the end" if kind.t1_s_end is not None else "")
        for task, kind in env.tasks.items()
    )
    built = next(
        (line.split(": ", 1)[1] for line in env.free_threaded_build or [] if line.startswith("configure: ")),
        None,
    )  # how tools/free_threaded_python.sh built it
    free = (
        f" (free-threaded rows: Python {env.free_threaded_python}t"
        + (f", configured {built.split(' --prefix')[0]}, no PGO or LTO" if built else "")
        + ")"
        if env.free_threaded_python
        else ""
    )
    fastapi = (
        f", FastAPI {env.fastapi} on uvicorn {env.uvicorn} ({env.uvicorn_extras.split(' (')[0]} of its extras)"
        if env.fastapi
        else ""
    )
    flask = (
        f", Flask {env.flask} on gunicorn {env.gunicorn} (gevent {env.gevent}) and Granian {env.granian}"
        if env.flask
        else ""
    )
    database = (
        f", PostgreSQL {env.postgresql} through SQLAlchemy {env.sqlalchemy} on psycopg {env.psycopg}"
        if env.postgresql
        else ""
    )
    return (
        f"{env.cpu}, {env.cpu_count} CPUs{quota}, {env.ram_gb} GB RAM, {env.os}; Python "
        f"{env.python}{free}, Tornado {env.tornado}{fastapi}{flask}{database}, siege {env.siege}; commit {commit}, "
        f"{env.started}. One task alone: {kinds}."
    )


def title(env, task, load, runs):
    name, level = load
    duration = max((run.duration_s or 0 for run in runs), default=0)
    return MODES[name].title(task, level, env, runs, duration)


def floor_legend(env):
    """The health probe's reference, under the tables: what the Health columns compare with."""
    floor = env.probe_floor_ms
    spread = floor.window_p99_range
    sampler = " with the tree sampler running" if floor.window_s is not None else ""  # not in older runs'
    return (
        f"Health probe reference on this machine: p50 {_fmt(floor.p50)} ms, p99 "
        + (health_p99_text(floor, 1, " ms") if floor.count else f"{floor.p99:.1f} ms")  # older: count not kept
        + (f" (the p99 of each {floor.window_s:g} s: {spread[0]:.1f} to {spread[1]:.1f} ms)" if spread else "")
        + f", probing an idle backend.py for {floor.seconds:g} s{sampler}, while "
        f"{env.cpu_count} busy loops keep every core busy. A reference, not a bound: a loop that "
        "never sleeps contends for a core harder than a server under load."
    )


def tables_rst(results):
    parts = []
    env = results.environment
    labels = server_labels(results)
    for task in task_kinds(results):
        for load in loads(results):
            runs = [run for run in results.runs if load_of(run) == load and run.task == task]
            if not runs:
                continue
            columns = MODES[load[0]].columns
            rows = [
                row([run for run in runs if run.server == label], columns, env.python)
                for label in labels
                if any(run.server == label for run in runs)
            ]
            heading = title(env, task, load, runs)
            table = tabulate(
                rows,
                ["Strategy", *[column[0] for column in columns]],
                "rst",
                disable_numparse=True,
                colalign=("left", *["right"] * len(columns)),
            )
            parts.append(f"{heading}\n{'-' * len(heading)}\n\n{table}\n")
    legend = list(dict.fromkeys(part for name in modes_of(results) for part in MODES[name].legend))
    if env.probe_floor_ms:
        legend.append(floor_legend(env))
    if rounds(results) > 1:
        legend.append(REPEAT_LEGEND.format(n=rounds(results)))
    return "\n".join(parts) + "\n" + "\n\n".join(legend) + "\n"


def write_rst(results, path):
    path.write_text(f"{environment_line(results.environment)}\n\n{tables_rst(results)}")


def readme_section(results, charts):
    """A results section of the README or docs/: the environment line, the charts, the tables."""
    alt = (
        "strategies by task kind: efficiency and /health p99"
        if len(task_kinds(results)) > 1
        else "transactions/s and /health p99 per strategy"
    )
    hockey = "latency p99 against offered load per strategy"
    images = "".join(
        f".. image:: {chart}\n   :alt: {hockey if 'hockey' in str(chart) else alt}\n\n" for chart in charts
    )
    return f"Measured on: {environment_line(results.environment)}\n\n{images}{tables_rst(results)}"
