"""Results as people read them: RST tables, charts, and the README's results section.

    .venv/bin/python -m harness.report results/DATE/results.json [--out DIR]

re-renders a saved run's tables and charts (results.rst, results.png, matrix.png, hockey.png) into its folder.
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy
from hdrh.histogram import HdrHistogram
from tabulate import tabulate

from harness.cli import OneLineParser
from harness.columns import CLOSED_COLUMNS, POOLED
from harness.instruments.measure import SLOW_S, histogram_summary
from harness.limits import limit_now
from harness.run.modes import MODES, load_of

DOWN_PCT = 1.0  # a run unavailable longer than this share of its time cannot show as a health p99 at all
REPEAT_LEGEND = (
    "Each figure: the median of {n} interleaved rounds, its range in brackets; the latency percentiles "
    "and max: of every round's answers pooled (HDR histograms merged), so that one round's stall stays."
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
    measured = [run for run in runs if run.get("measured")]
    if not measured:
        return [runs[0]["server"], *[""] * (len(columns) - 1), f"not run: {runs[0].get('error', '?')}"]
    label = runs[0]["server"]
    if runs[0].get("python") and runs[0]["python"] != python:  # a row that ran on another Python than the suite
        # "3_async_threadexecutor (Python 3.13.15t)": the free-threaded twin says so by its version's "t"
        label = label.removesuffix(" (free-threaded)") + f" (Python {runs[0]['python']})"
    label += "" if len(measured) == len(runs) else f" ({len(runs) - len(measured)} failed)"
    if any(run.get("free_threaded") and run.get("gil_enabled") for run in measured):
        label += " (GIL re-enabled by an import!)"  # a free-threaded row that did not run without the GIL
    invalid = sum(1 for run in measured if run.get("valid") is False)
    if invalid:
        label += f" ({invalid} invalid: send lag)"
    busy = sum(
        1
        for run in measured
        if ("idle_wait_s" in run and run["idle_wait_s"] is None)
        or any(step.get("started_busy") for step in run.get("steps", []))
    )
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
                key: merge([value.get(key) for value in values])
                for key in dict.fromkeys(key for value in values for key in value)
            }
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return float(numpy.median(numbers)) if numbers and len(numbers) == len(values) else values[0]

    if len(runs) == 1:
        return runs[0]
    merged = merge(runs)
    if all(run.get("latency_hist") for run in runs):
        pooled = HdrHistogram.decode(runs[0]["latency_hist"])
        for run in runs[1:]:
            pooled.add(HdrHistogram.decode(run["latency_hist"]))
        failed = sum((run.get("failed") or 0) + (run.get("in_flight_at_stop") or 0) for run in runs)
        merged["latency_ms"] = histogram_summary(pooled, failed if runs[0].get("mode") == "open" else 0)
    return merged


def collapsed(results):
    """The runs with the rounds of each (server, task, load) merged into one, by median_run."""
    groups = {}
    for run in results["runs"]:
        groups.setdefault((run["server"], run["task"], load_of(run)), []).append(run)
    return {**results, "runs": [median_run([r for r in runs if r.get("measured")] or runs) for runs in groups.values()]}


def server_labels(results, mode=None):
    """Every row's label, each strategy's sized variants (e.g. --workers 25) right after its default row."""
    runs = [run for run in results["runs"] if mode is None or load_of(run)[0] == mode]
    strategies = list(dict.fromkeys(run["strategy"] for run in runs))
    labels = {(run["strategy"], run["server"]) for run in runs}
    return [label for _, label in sorted(labels, key=lambda pair: (strategies.index(pair[0]), len(pair[1])))]


def task_kinds(results):
    return list(dict.fromkeys(run["task"] for run in results["runs"]))


def levels(results):
    """The closed-loop levels (siege's users) of the results."""
    return sorted({run["concurrency"] for run in results["runs"] if load_of(run)[0] == "closed"})


def loads(results):
    """Every (mode, level) of the results, in the order of the modes' table, then by level."""
    return sorted({load_of(run) for run in results["runs"]}, key=lambda load: (list(MODES).index(load[0]), load[1]))


def modes_of(results):
    """The names of the load modes the runs ran in, in the order of the modes' table."""
    return list(dict.fromkeys(load[0] for load in loads(results)))


def rounds(results):
    return max((run.get("round", 0) for run in results["runs"]), default=0) + 1


def environment_line(env):
    commit = env["commit"][:12] + ("-dirty" if env["commit"].endswith("-dirty") else "")
    quota = f" (cgroup quota {env['cpu_quota']:g})" if env.get("cpu_quota") else ""
    kinds = "; ".join(
        f"{task} (n={kind['n']}) T1 = {kind['t1_s'] * 1000:.1f} ms"
        + (f", {kind['t1_s_end'] * 1000:.1f} ms at the end" if "t1_s_end" in kind else "")
        for task, kind in env["tasks"].items()
    )
    built = next(
        (line.split(": ", 1)[1] for line in env.get("free_threaded_build") or [] if line.startswith("configure: ")),
        None,
    )  # how tools/free_threaded_python.sh built it
    free = (
        f" (free-threaded rows: Python {env['free_threaded_python']}t"
        + (f", configured {built.split(' --prefix')[0]}, no PGO or LTO" if built else "")
        + ")"
        if env.get("free_threaded_python")
        else ""
    )
    fastapi = (
        f", FastAPI {env['fastapi']} on uvicorn {env['uvicorn']} ({env['uvicorn_extras'].split(' (')[0]} of its extras)"
        if env.get("fastapi")
        else ""
    )
    return (
        f"{env['cpu']}, {env['cpu_count']} CPUs{quota}, {env['ram_gb']} GB RAM, {env['os']}; Python "
        f"{env['python']}{free}, Tornado {env['tornado']}{fastapi}, siege {env['siege']}; commit {commit}, "
        f"{env['started']}. One task alone: {kinds}."
    )


def title(env, task, load, runs):
    name, level = load
    duration = max((run.get("duration_s") or 0 for run in runs), default=0)
    return MODES[name].title(task, level, env, runs, duration)


def tables_rst(results):
    parts = []
    env = results["environment"]
    labels = server_labels(results)
    for task in task_kinds(results):
        for load in loads(results):
            runs = [run for run in results["runs"] if load_of(run) == load and run["task"] == task]
            if not runs:
                continue
            columns = MODES[load[0]].columns
            rows = [
                row([run for run in runs if run["server"] == label], columns, env.get("python"))
                for label in labels
                if any(run["server"] == label for run in runs)
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
    if env.get("probe_floor_ms"):
        floor = env["probe_floor_ms"]
        spread = floor.get("window_p99_range")
        sampler = " with the tree sampler running" if "window_s" in floor else ""  # not in older runs'
        legend.append(
            f"Health probe reference on this machine: p50 {floor['p50']:.1f} ms, p99 {floor['p99']:.1f} ms"
            + (f" (the p99 of each {floor['window_s']:g} s: {spread[0]:.1f} to {spread[1]:.1f} ms)" if spread else "")
            + f", probing an idle backend.py for {floor.get('seconds', 0):g} s{sampler}, while "
            f"{env['cpu_count']} busy loops keep every core busy. A reference, not a bound: a loop that "
            "never sleeps contends for a core harder than a server under load."
        )
    if rounds(results) > 1:
        legend.append(REPEAT_LEGEND.format(n=rounds(results)))
    return "\n".join(parts) + "\n" + "\n\n".join(legend) + "\n"


def write_rst(results, path):
    path.write_text(f"{environment_line(results['environment'])}\n\n{tables_rst(results)}")


def short(label):
    """A row's label on a chart's axis: 3_async_threadexecutor --workers 25 -> 3_threadexecutor / --workers 25."""
    return label.replace(" --", "\n--").replace("_async_", "_")


def health_bar(run, ceiling):
    """(height, label, down) of a run's bar in the health chart: its p99, or, for a run that got no answer within
    SLOW_S for more than DOWN_PCT of its time, the chart's full height, "down N %" (its p99 counts only the probes
    answered: it must not look best); no bar without a run."""
    if not run:
        return numpy.nan, "", False
    down = run["health_ms"].get("unavailable_pct") or 0
    if down > DOWN_PCT:
        return ceiling, f"down\n{down:.0f} %", True
    p99 = run["health_ms"]["p99"]
    return (numpy.nan, "", False) if p99 is None else (p99, f"{p99:.0f}", False)


def caption(results):
    """What a chart says of where it comes from: the commit, the date, the machine and each run's seconds."""
    env = results["environment"]
    seconds = sorted({run.get("duration_s") for run in results["runs"] if run.get("duration_s")})
    return (
        f"commit {env['commit'][:12]}, {env['started'][:10]}, {env['cpu_count']} CPUs, "
        f"{' or '.join(f'{s:g}' for s in seconds)} s a run"
    )


def write_chart(results, path):
    """Transactions/s (as efficiency against each kind's limit) and health-probe p99 per strategy, one bar group
    per (task kind, concurrency level)."""
    results = collapsed(results)
    servers = server_labels(results, "closed")
    found = {
        (run["server"], run["task"], run["concurrency"]): run
        for run in results["runs"]
        if run.get("measured") and load_of(run)[0] == "closed"
    }
    groups = [(task, level) for task in task_kinds(results) for level in levels(results)]
    width = 0.8 / len(groups)
    figure, (rate_axes, health_axes) = plt.subplots(1, 2, figsize=(14, 5.5), constrained_layout=True)
    one_kind = len(task_kinds(results)) == 1
    ceiling = max([run["health_ms"]["p99"] or 0 for run in found.values()] + [SLOW_S * 1000])
    for i, (task, level) in enumerate(groups):
        offsets = [s + (i - (len(groups) - 1) / 2) * width for s in range(len(servers))]
        runs = [found.get((server, task, level)) for server in servers]
        label = f"{level} users" if one_kind else f"{task}, {level} users"
        key = "transaction_rate" if one_kind else "efficiency"
        # A run that does not exist (a pool sized for waiting, with a kind that computes) gets no bar, not a zero.
        bars = rate_axes.bar(offsets, [run[key] if run else numpy.nan for run in runs], width, label=label)
        rate_axes.bar_label(
            bars,
            labels=[(f"{run[key]:.1f}" if one_kind else f"{run[key]:.2f}") if run else "" for run in runs],
            fontsize=7 if len(groups) < 3 else 5,
        )
        heights, texts, downs = zip(*[health_bar(run, ceiling) for run in runs], strict=True)
        bars = health_axes.bar(offsets, heights, width, label=label)
        for bar, down in zip(bars, downs, strict=True):
            if down:
                bar.set_hatch("//")
                bar.set_alpha(0.5)
        health_axes.bar_label(bars, labels=texts, fontsize=7 if len(groups) < 3 else 5)
    env = results["environment"]
    if one_kind:
        task = task_kinds(results)[0]
        for level in levels(results)[:1] if env["tasks"][task]["waits"] else [None]:
            line = limit_now(env, task, [run for run in found.values() if run["task"] == task], level)
            value, text = line.per_s, line.text
            rate_axes.axhline(value, color="grey", linestyle="--", linewidth=1)
            tallest = max((run["transaction_rate"] for run in found.values()), default=0)
            rate_axes.set_ylim(top=max(value, tallest) * 1.1)  # room for the limit's label
            rate_axes.text(-0.4, value * 1.01, text, ha="left", va="bottom", color="grey", fontsize=8)
        rate_axes.set_title(f"Throughput, task {task}: transactions/s (higher is better)")
    else:
        rate_axes.axhline(1, color="grey", linestyle="--", linewidth=1)
        rate_axes.set_title("Efficiency: transactions/s ÷ the kind's limit (higher is better)")
    health_axes.set_title("Responsiveness: /health p99, ms (lower is better, log scale)")
    health_axes.text(
        0.01,
        0.99,
        f"hatched: no answer within {SLOW_S:g} s for over {DOWN_PCT:g} % of the run",
        transform=health_axes.transAxes,
        ha="left",
        va="top",
        fontsize=8,
        color="grey",
    )
    if found:
        health_axes.set_yscale("log")  # from a few ms to seconds
        health_axes.set_ylim(top=ceiling * 3)  # room for the bars' labels
    for axes in (rate_axes, health_axes):
        many = len(servers) > 6  # tilted, or the labels run into each other
        axes.set_xticks(
            range(len(servers)),
            [short(s).replace("\n", " " if many else "\n") for s in servers],
            fontsize=7,
            rotation=30 if many else 0,
            ha="right" if many else "center",
        )
        axes.grid(axis="y", alpha=0.3)
        if len(groups) > 1:
            axes.legend(fontsize=8)
    figure.suptitle(caption(results), fontsize=9, color="grey")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_matrix(results, path):
    """Strategies × task kinds, each cell coloured by efficiency against its kind's limit, with transactions/s;
    beside it the health probe's p99 per cell. The first concurrency level only."""
    results = collapsed(results)
    level = levels(results)[0]
    kinds = task_kinds(results)
    found = {
        (run["server"], run["task"]): run
        for run in results["runs"]
        if run.get("measured") and load_of(run) == ("closed", level)
    }
    servers = server_labels(results, "closed")
    efficiency = numpy.full((len(servers), len(kinds)), numpy.nan)
    health = numpy.full((len(servers), len(kinds)), numpy.nan)
    for (server, task), run in found.items():
        efficiency[servers.index(server), kinds.index(task)] = run["efficiency"]
        down = (run["health_ms"].get("unavailable_pct") or 0) > DOWN_PCT  # red, whatever the answered probes' p99
        health[servers.index(server), kinds.index(task)] = 10_000 if down else run["health_ms"]["p99"] or numpy.nan
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(15, 0.5 * len(servers) + 2.2), constrained_layout=True, gridspec_kw={"width_ratios": [1, 1.15]}
    )  # room for "NNNN ms, NN % down"
    image = left.imshow(efficiency, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    figure.colorbar(image, ax=left, label="efficiency (1 = every core inside tasks, or the users' limit)")
    image = right.imshow(numpy.log10(health), cmap="RdYlGn_r", vmin=0, vmax=4, aspect="auto")
    bar = figure.colorbar(image, ax=right, label="/health p99 (ms, log scale)", ticks=[0, 1, 2, 3, 4])
    bar.ax.set_yticklabels(["1", "10", "100", "1 000", "10 000"])
    for (server, task), run in found.items():
        i, j = servers.index(server), kinds.index(task)
        left.text(
            j, i, f"{run['efficiency']:.2f}\n{run['transaction_rate']:.1f}/s", ha="center", va="center", fontsize=8
        )
        p99 = run["health_ms"]["p99"]
        right.text(
            j,
            i,
            "–" if p99 is None else f"{p99:.0f} ms\n{run['health_ms']['unavailable_pct']:.0f} % down",
            ha="center",
            va="center",
            fontsize=7,
        )
    for axes, title in (
        (left, f"Efficiency and tasks/s, {level} users"),
        (right, f"/health p99, share unavailable (red: over {DOWN_PCT:g} % down)"),
    ):
        axes.set_xticks(range(len(kinds)), kinds)
        axes.set_yticks(range(len(servers)), [s.replace("_async_", "_") for s in servers], fontsize=8)
        axes.set_title(title)
    figure.suptitle(caption(results), fontsize=9, color="grey")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_hockey(results, path):
    """Latency p99 against the offered rate, a line per strategy (the "hockey stick"), with the SLO and each
    strategy's capacity marked; one panel per task kind. From the open-loop runs and the capacity searches' steps."""
    env = results["environment"]
    kinds = [
        task
        for task in task_kinds(results)
        if any(load_of(r)[0] != "closed" and r["task"] == task for r in results["runs"])
    ]
    figure, panels = plt.subplots(
        1, len(kinds), figsize=(7.5 * len(kinds), 5.5), constrained_layout=True, squeeze=False
    )
    medians = collapsed(results)["runs"]
    labels = server_labels(results)
    colours = [f"C{i}" for i in range(10)] if len(labels) <= 10 else plt.get_cmap("tab20").colors  # no twins
    for axes, task in zip(panels[0], kinds, strict=True):
        runs = [run for run in medians if run["task"] == task]
        slo = next((run["slo_ms"] for run in runs if run.get("mode") == "capacity"), None)
        for i, label in enumerate(labels):
            open_runs = [run for run in runs if run["server"] == label and run.get("mode") == "open"]
            steps = [
                step
                for run in results["runs"]
                if run["server"] == label and run["task"] == task
                for step in run.get("steps", [])
            ]  # every round's search
            points = [(run["rate"], run["latency_ms"]["p99"]) for run in open_runs if run.get("measured")]
            points += [
                (step["rate"], step["p99_ms"])
                for step in steps
                if not step["stopped_early"] and not step.get("confirming")
            ]  # the confirming run is the ★
            early = [(step["rate"], None) for step in steps if step["stopped_early"]]
            if not points and not early:
                continue
            colour = colours[i % len(colours)]
            points = sorted(p for p in points if p[1])
            axes.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                "o-",
                color=colour,
                label=short(label).replace("\n", " "),
                markersize=4,
            )
            if early and slo:
                axes.plot([p[0] for p in early], [slo * 1.15] * len(early), "^", color=colour, markersize=6)
            capacity = next((run for run in runs if run["server"] == label and run.get("mode") == "capacity"), None)
            if capacity and capacity.get("capacity_per_s"):
                axes.plot(
                    [capacity["capacity_per_s"]],
                    [capacity["at_capacity"]["p99_ms"]],
                    "*",
                    color=colour,
                    markersize=15,
                    markeredgecolor="black",
                )
        if slo:
            axes.axhline(slo, color="red", linestyle="--", linewidth=1)
            axes.text(
                axes.get_xlim()[1],
                slo * 0.95,
                f"SLO: p99 ≤ {slo:g} ms  \n▲: a run stopped early, p99 above it  \n★: capacity  ",
                color="red",
                fontsize=8,
                va="top",
                ha="right",
            )
        if not env["tasks"][task]["waits"]:
            cpus_t1 = limit_now(env, task, runs).per_s  # as the capacity table's ratio: T1 during the searches
            axes.axvline(cpus_t1, color="grey", linestyle=":", linewidth=1)
            axes.text(
                cpus_t1,
                0.02,
                " CPUs / T1 now",
                color="grey",
                fontsize=8,
                rotation=90,
                va="bottom",
                transform=axes.get_xaxis_transform(),
            )  # x in requests/s, y in the axes' height
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axes.yaxis.set_minor_formatter(
            matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "25" else "")
        )
        axes.set_xlabel("offered load, requests/s (open loop)")
        axes.set_ylabel("latency p99, ms (log scale)")
        axes.set_title(f"Task {task}: latency p99 against offered load")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, loc="lower right")
    figure.suptitle(caption(results), fontsize=9, color="grey")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def readme_section(results, charts):
    alt = (
        "strategies by task kind: efficiency and /health p99"
        if len(task_kinds(results)) > 1
        else "transactions/s and /health p99 per strategy"
    )
    hockey = "latency p99 against offered load per strategy"
    images = "".join(
        f".. image:: {chart}\n   :alt: {hockey if 'hockey' in str(chart) else alt}\n\n" for chart in charts
    )
    return f"Measured on: {environment_line(results['environment'])}\n\n{images}{tables_rst(results)}"


CHARTS = {"results.png": write_chart, "matrix.png": write_matrix, "hockey.png": write_hockey}


def charts_of(results):
    """The charts of the load modes the runs ran in (the matrix only for several task kinds)."""
    return [
        chart
        for chart in dict.fromkeys(chart for name in modes_of(results) for chart in MODES[name].charts)
        if chart != "matrix.png" or len(task_kinds(results)) > 1
    ]


def render(results, out_dir):
    """results.rst and the charts of charts_of(results), written into out_dir; their paths."""
    paths = [out_dir / "results.rst"]
    write_rst(results, paths[0])
    charts = charts_of(results)
    for chart in charts:
        CHARTS[chart](results, out_dir / chart)
        paths.append(out_dir / chart)
    return paths


def main(argv=None):
    parser = OneLineParser(description="Re-render the tables and charts of a saved run from its results.json.")
    parser.add_argument("results", type=Path, help="a run's results.json")
    parser.add_argument("--out", type=Path, help="where the files go (default: the folder of results.json)")
    args = parser.parse_args(argv)
    _, paths = rendered(parser, args.results, args.out or args.results.parent)
    print(f"Written: {', '.join(str(path) for path in paths)}")
    return 0


def rendered(parser, path, out_dir):
    """A saved run's results.json read and rendered into out_dir: (its results, their paths), or the parser's
    one-line error."""
    try:
        results = json.loads(path.read_text())
        if not (
            isinstance(results, dict)
            and isinstance(results.get("environment"), dict)
            and isinstance(results.get("runs"), list)
            and results["runs"]
        ):
            raise ValueError("no environment or no runs")
        out_dir.mkdir(parents=True, exist_ok=True)
        return results, render(results, out_dir)
    except OSError as error:
        parser.error(f"{path}: {error.strerror or error}")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        parser.error(f"{path}: not the results of a run ({type(error).__name__}: {error})")
