"""The results as charts: throughput (or efficiency) and health per strategy, the task-kind matrix, latency
against the offered rate (the hockey stick); each from the records of harness/records/suite.py, captioned with
where it was measured."""

import textwrap
from dataclasses import dataclass, replace

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy

from harness.instruments.measure import SLOW_S
from harness.limits import limit_now
from harness.report.tables import DOWN_PCT, collapsed, levels, modes_of, server_labels, task_kinds
from harness.run.modes import MODES, load_of


def short(label):
    """A row's label on a chart's axis: 3_async_threadexecutor --workers 25 -> 3_threadexecutor / --workers 25."""
    return label.replace(" --", "\n--").replace("_async_", "_")


def health_bar(run):
    """(height, label) of a run's bar in the health chart: its p99; for a run whose p99 falls among the probes
    not answered within SLOW_S, or that went unanswered for more than DOWN_PCT of its time (an older run's p99
    counted only the probes answered), SLOW_S ("≥1000": it must not look best); no bar without a run."""
    if not run:
        return numpy.nan, ""
    health = run.health_ms
    if (health.unavailable_pct or 0) > DOWN_PCT or (health.p99 is None and (health.failed or health.p99_above)):
        return SLOW_S * 1000, f"≥{SLOW_S * 1000:.0f}"
    return (numpy.nan, "") if health.p99 is None else (health.p99, f"{health.p99:.0f}")


def down_share(run):
    """The share of the run in which /health went unanswered, % (drawn to scale, hatched); nan without a run."""
    return numpy.nan if not run else run.health_ms.unavailable_pct or 0


def how_to_read(figure, text):
    """A grey line (or two) under the chart saying how to read it, wrapped to the figure's width."""
    width = int(figure.get_figwidth() * 15)  # characters of 8-point text an inch, about
    figure.supxlabel(textwrap.fill("How to read: " + text, width), fontsize=8, color="grey")


def caption(results):
    """What a chart says of where it comes from: the commit, the date, the machine and each run's seconds."""
    env = results.environment
    seconds = sorted({run.duration_s for run in results.runs if run.duration_s})
    return (
        f"commit {env.commit[:12]}, {env.started[:10]}, {env.cpu_count} CPUs, "
        f"{' or '.join(f'{s:g}' for s in seconds)} s a run"
    )


def write_chart(results, path):
    """Transactions/s (as efficiency against each kind's limit) and health-probe p99 per strategy, one bar group
    per (task kind, concurrency level)."""
    results = collapsed(results)
    servers = server_labels(results, "closed")
    found = {
        (run.server, run.task, run.concurrency): run
        for run in results.runs
        if run.measured and load_of(run)[0] == "closed"
    }
    groups = [(task, level) for task in task_kinds(results) for level in levels(results)]
    width = 0.8 / len(groups)
    figure, (rate_axes, health_axes) = plt.subplots(1, 2, figsize=(14, 5.5), constrained_layout=True)
    down_axes = health_axes.twinx()  # the share unavailable, 0 to 100 %, on its own scale
    one_kind = len(task_kinds(results)) == 1
    ceiling = max([run.health_ms.p99 or 0 for run in found.values()] + [SLOW_S * 1000])
    for i, (task, level) in enumerate(groups):
        offsets = [s + (i - (len(groups) - 1) / 2) * width for s in range(len(servers))]
        runs = [found.get((server, task, level)) for server in servers]
        label = f"{level} users" if one_kind else f"{task}, {level} users"
        key = "transaction_rate" if one_kind else "efficiency"
        # A run that does not exist (a pool sized for waiting, with a kind that computes) gets no bar, not a zero.
        bars = rate_axes.bar(offsets, [getattr(run, key) if run else numpy.nan for run in runs], width, label=label)
        rate_axes.bar_label(
            bars,
            labels=[f"{getattr(run, key):.{1 if one_kind else 2}f}" if run else "" for run in runs],
            fontsize=7 if len(groups) < 3 else 5,
        )
        heights, texts = zip(*[health_bar(run) for run in runs], strict=True)
        bars = health_axes.bar(offsets, heights, width, label=label)
        health_axes.bar_label(bars, labels=texts, fontsize=7 if len(groups) < 3 else 5)
        shares = [down_share(run) for run in runs]
        down_bars = down_axes.bar(
            offsets, shares, width * 0.6, fill=False, hatch="//", edgecolor="black", linewidth=0.5, alpha=0.7
        )
        down_axes.bar_label(
            down_bars,
            labels=[f"{share:.0f} %" if share and share > DOWN_PCT else "" for share in shares],
            fontsize=6,
            color="black",
        )
    env = results.environment
    if one_kind:
        task = task_kinds(results)[0]
        for level in levels(results)[:1] if env.tasks[task].waits else [None]:
            line = limit_now(env, task, [run for run in found.values() if run.task == task], level)
            value, text = line.per_s, line.text
            rate_axes.axhline(value, color="grey", linestyle="--", linewidth=1)
            tallest = max((run.transaction_rate for run in found.values()), default=0)
            rate_axes.set_ylim(top=max(value, tallest) * 1.1)  # room for the limit's label
            rate_axes.text(-0.4, value * 1.01, text, ha="left", va="bottom", color="grey", fontsize=8)
        rate_axes.set_title(f"Throughput, task {task}: transactions/s (higher is better)")
    else:
        rate_axes.axhline(1, color="grey", linestyle="--", linewidth=1)
        rate_axes.set_title("Efficiency: transactions/s ÷ the kind's limit (higher is better)")
    health_axes.set_title("Responsiveness: /health p99, ms (lower is better, log scale)")
    down_axes.set_ylim(0, 100)
    down_axes.set_ylabel("hatched: share of the run unavailable, % (right scale)", fontsize=8)
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
    how_to_read(
        figure,
        "left, taller is more work done; right, a shorter bar answered /health sooner, and a hatched "
        f"bar is the share of the run without an answer within {SLOW_S:g} s (a p99 among those reads ≥ the timeout)",
    )
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_matrix(results, path):
    """Strategies × task kinds, each cell coloured by its tasks/s as a share of its kind's limit (CPUs or users / T1
    on the suite's Python: a slower interpreter's row is as pale as its tasks/s, however busy it kept the cores),
    with the tasks/s; beside it the health probe's p99 and the share of the run unavailable. The first concurrency
    level only."""
    results = collapsed(results)
    level = levels(results)[0]
    kinds = task_kinds(results)
    found = {(run.server, run.task): run for run in results.runs if run.measured and load_of(run) == ("closed", level)}
    servers = server_labels(results, "closed")
    limits = {
        task: limit_now(results.environment, task, [r for r in found.values() if r.task == task], level)
        for task in kinds
    }
    share = numpy.full((len(servers), len(kinds)), numpy.nan)
    health = numpy.full((len(servers), len(kinds)), numpy.nan)
    for (server, task), run in found.items():
        share[servers.index(server), kinds.index(task)] = run.throughput / limits[task].per_s  # as the tables count
        p99, said = health_bar(run)  # a p99 among the failures, or a row down: red, whatever its answered probes
        health[servers.index(server), kinds.index(task)] = 10_000 if said.startswith("≥") else p99
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(15, 0.5 * len(servers) + 2.2), constrained_layout=True, gridspec_kw={"width_ratios": [1, 1.15]}
    )  # room for "NNNN ms, NN % down"
    image = left.imshow(share, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    figure.colorbar(image, ax=left, label="tasks/s ÷ the kind's limit (CPUs or users / T1)")
    image = right.imshow(numpy.log10(health), cmap="RdYlGn_r", vmin=0, vmax=4, aspect="auto")
    bar = figure.colorbar(image, ax=right, label="/health p99 (ms, log scale)", ticks=[0, 1, 2, 3, 4])
    bar.ax.set_yticklabels(["1", "10", "100", "1 000", "10 000"])
    for (server, task), run in found.items():
        i, j = servers.index(server), kinds.index(task)
        left.text(j, i, f"{run.throughput:.1f}/s\n{share[i, j]:.2f}", ha="center", va="center", fontsize=8)
        p99 = health_bar(run)[1]
        right.text(
            j,
            i,
            f"{p99 or '–'} ms\n{run.health_ms.unavailable_pct or 0:.0f} % down",
            ha="center",
            va="center",
            fontsize=7,
        )
    for axes, title in (
        (left, f"Tasks/s and their share of the kind's limit, {level:g} users"),
        (right, f"/health p99, share unavailable (red: over {DOWN_PCT:g} % down)"),
    ):
        axes.set_xticks(range(len(kinds)), kinds)
        axes.set_yticks(range(len(servers)), [s.replace("_async_", "_") for s in servers], fontsize=8)
        axes.set_title(title)
    figure.suptitle(caption(results), fontsize=9, color="grey")
    how_to_read(
        figure,
        "a row per strategy, a column per kind of work; green is near the limit (left) or quick to "
        "answer /health (right), red is far from it or unanswered",
    )
    figure.savefig(path, dpi=100)
    plt.close(figure)


@dataclass(frozen=True)
class Line:
    """One strategy's line of the hockey chart: its measured points, the rates of its runs stopped early (drawn
    as ▲ above the SLO), its confirmed capacity (★)."""

    label: str
    colour: str
    points: list
    early: list = ()
    star: tuple = None

    def draw(self, axes, slo, label=True):
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        axes.plot(xs, ys, "o-", color=self.colour, label=self.label if label else None, markersize=4)
        if self.early:
            axes.plot(self.early, [slo * 1.15] * len(self.early), "^", color=self.colour, markersize=6)
        if self.star:
            axes.plot(*self.star, "*", color=self.colour, markersize=15, markeredgecolor="black")


def crowd(lines, share=0.15, at_least=3):
    """(low, high): the band of rates where at least `at_least` lines lie whole, if it is under `share` of the
    chart's range of rates: they overlap there. None if no such band."""
    rates = [p[0] for line in lines for p in line.points] + [r for line in lines for r in line.early]
    if not rates:
        return None
    start, width = min(rates), max(rates) - min(rates)
    inside = [line for line in lines if line.points and max(p[0] for p in line.points) <= start + share * width]
    if len(inside) < at_least or width <= 0:
        return None
    top = max(p[0] for line in inside for p in line.points)
    margin = max(0.2, (top - start) * 0.1)
    return round(start - margin, 1), round(top + margin, 1)


def write_hockey(results, path):
    """Latency p99 against the offered rate, a line per strategy (the "hockey stick"), with the SLO and each
    strategy's capacity marked; one panel per task kind. From the open-loop runs and the capacity searches' steps."""
    env = results.environment
    kinds = [
        task for task in task_kinds(results) if any(load_of(r)[0] != "closed" and r.task == task for r in results.runs)
    ]
    figure, panels = plt.subplots(1, len(kinds), figsize=(10 * len(kinds), 5.5), constrained_layout=True, squeeze=False)
    medians = collapsed(results).runs
    labels = server_labels(results)
    colours = [f"C{i}" for i in range(10)] if len(labels) <= 10 else plt.get_cmap("tab20").colors  # no twins
    for axes, task in zip(panels[0], kinds, strict=True):
        runs = [run for run in medians if run.task == task]
        slo = next((run.slo_ms for run in runs if run.mode == "capacity"), None)
        lines = []
        for i, label in enumerate(labels):
            open_runs = [run for run in runs if run.server == label and run.mode == "open"]
            steps = [
                step for run in results.runs if run.server == label and run.task == task for step in run.steps
            ]  # every round's search
            points = [(run.rate, run.latency_ms.p99) for run in open_runs if run.measured]
            points += [
                (step.rate, step.p99_ms) for step in steps if not step.stopped_early and not step.confirming
            ]  # the confirming run is the ★
            early = [(step.rate, None) for step in steps if step.stopped_early]
            if not points and not early:
                continue
            search = next((run for run in runs if run.server == label and run.mode == "capacity"), None)
            held = [step for step in search.steps if step.confirming and step.passed] if search else []
            # the capacity is a confirmed rate (Run.capacity_bracket): none, no star
            star = (held[-1].rate, held[-1].p99_ms) if held else None
            line = Line(short(label).replace("\n", " "), colours[i % len(colours)], sorted(p for p in points if p[1]))
            lines.append(replace(line, early=[p[0] for p in early] if slo else [], star=star))
        for line in lines:
            line.draw(axes, slo)
        crowded = crowd(lines)
        if crowded:  # lines that end within a narrow band of rates, drawn again apart in a panel of their own
            low, high = crowded
            zoom = axes.inset_axes([0.5, 0.05, 0.47, 0.5])
            for line in lines:
                line.draw(zoom, slo, label=False)
            if slo:
                zoom.axhline(slo, color="red", linestyle="--", linewidth=1)
            zoom.set_xlim(low, high)
            zoom.set_yscale("log")
            inside = [y for line in lines for x, y in [*line.points, *filter(None, [line.star])] if low <= x <= high]
            early = slo and any(low <= x <= high for line in lines for x in line.early)
            zoom.set_ylim(min(inside) * 0.85, max(max(inside) * 1.2, slo * 1.3 if early else 0))
            zoom.set_title(f"{low:g} to {high:g} requests/s, enlarged", fontsize=8)
            zoom.tick_params(labelsize=7)
            zoom.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            zoom.grid(alpha=0.3)
            axes.indicate_inset_zoom(zoom, edgecolor="grey")
        if slo:
            axes.axhline(slo, color="red", linestyle="--", linewidth=1)
            axes.text(
                axes.get_xlim()[1],
                slo * 0.95,
                f"SLO: p99 ≤ {slo:g} ms  \n▲: a run stopped early, p99 above it  \n★: capacity (confirmed)  ",
                color="red",
                fontsize=8,
                va="top",
                ha="right",
            )
        if not env.tasks[task].waits:
            cpus_t1 = limit_now(env, task, runs).per_s  # as the capacity table's ratio: T1 during the searches
            axes.axvline(cpus_t1, color="grey", linestyle=":", linewidth=1)
            axes.text(
                cpus_t1,
                0.02,
                " CPUs / T1 during",
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
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the lines, not over them
    figure.suptitle(caption(results), fontsize=9, color="grey")
    how_to_read(
        figure,
        "each line is a strategy's latency as the offered rate rises; where it turns up and crosses "
        "the SLO, the strategy is out of capacity; the star is the highest rate confirmed",
    )
    figure.savefig(path, dpi=100)
    plt.close(figure)


CHARTS = {"results.png": write_chart, "matrix.png": write_matrix, "hockey.png": write_hockey}


def charts_of(results):
    """The charts of the load modes the runs ran in (the matrix only for several task kinds)."""
    return [
        chart
        for chart in dict.fromkeys(chart for name in modes_of(results) for chart in MODES[name].charts)
        if chart != "matrix.png" or len(task_kinds(results)) > 1
    ]
