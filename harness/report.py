"""Results as people read them: RST tables, charts, and the README's results section."""
import re

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402
from tabulate import tabulate  # noqa: E402

HEADERS = ["Strategy", "Avail. %", "Trans/s", "Mean s", "p50 ms", "p99 ms", "Health p50 ms", "Health p99 ms",
           "Unavail. %", "Peak PSS MB", "CPU s", "T1 now ms", "Efficiency"]
LEGEND = ("Trans/s, Mean s, p50/p99: answers 200 only. Health: ``GET /health`` sent every 100 ms whatever the "
          "answers, latency from the time it was meant to be sent (p50/p99 of those answered); Unavail. %: the "
          "share of the run in which a probe got no answer within 1 s. Peak PSS: the whole process tree, a page "
          "shared by several processes counted once. Efficiency: Trans/s ÷ the limit named in the title.")


def _fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def row(run):
    if not run.get("measured"):
        return [run["server"], *[""] * (len(HEADERS) - 2), f"not run: {run.get('error', '?')}"]
    latency, health = run["latency_ms"], run["health_ms"]
    return [run["server"], _fmt(run["availability"], 2), _fmt(run["transaction_rate"], 2),
            _fmt(run["response_time_s"], 2), _fmt(latency["p50"], 0), _fmt(latency["p99"], 0), _fmt(health["p50"]),
            _fmt(health["p99"]), _fmt(health["unavailable_pct"]), _fmt(run["peak_pss_mb"], 0), _fmt(run["cpu_s"]),
            _fmt(run["task_s"] * 1000), _fmt(run["efficiency"], 2)]


def server_labels(results):
    """Every row's label, each strategy's sized variants (e.g. --workers 25) right after its default row."""
    strategies = list(dict.fromkeys(run["strategy"] for run in results["runs"]))
    labels = {(run["strategy"], run["server"]) for run in results["runs"]}
    return [label for _, label in sorted(labels, key=lambda pair: (strategies.index(pair[0]), len(pair[1])))]


def task_kinds(results):
    return list(dict.fromkeys(run["task"] for run in results["runs"]))


def levels(results):
    return sorted({run["concurrency"] for run in results["runs"]})


def limit_text(env, task, users):
    kind = env["tasks"][task]
    if kind["waits"]:
        return f"limit {users} users / T1 = {users / kind['t1_s']:.1f} tasks/s"
    return f"limit {env['cpu_count']} CPUs / T1 = {env['cpu_count'] / kind['t1_s']:.1f} tasks/s"


def environment_line(env):
    commit = env["commit"][:12] + ("-dirty" if env["commit"].endswith("-dirty") else "")
    quota = f" (cgroup quota {env['cpu_quota']:g})" if env.get("cpu_quota") else ""
    kinds = "; ".join(f"{task} (n={kind['n']}) T1 = {kind['t1_s'] * 1000:.1f} ms"
                      + (f", {kind['t1_s_end'] * 1000:.1f} ms at the end" if "t1_s_end" in kind else "")
                      for task, kind in env["tasks"].items())
    return (f"{env['cpu']}, {env['cpu_count']} CPUs{quota}, {env['ram_gb']} GB RAM, {env['os']}; Python "
            f"{env['python']}, Tornado {env['tornado']}, siege {env['siege']}; commit {commit}, {env['started']}. "
            f"One task alone: {kinds}.")


def tables_rst(results):
    parts = []
    env = results["environment"]
    for task in task_kinds(results):
        for level in levels(results):
            runs = [run for run in results["runs"] if run["concurrency"] == level and run["task"] == task]
            if not runs:
                continue
            duration = max((run["duration_s"] for run in runs), default=0)
            title = f"Task {task}, {level} concurrent users, {duration:g} s: {limit_text(env, task, level)}"
            parts.append(f"{title}\n{'-' * len(title)}\n\n{tabulate([row(run) for run in runs], HEADERS, 'rst')}\n")
    return "\n".join(parts) + f"\n{LEGEND}\n"


def write_rst(results, path):
    path.write_text(f"{environment_line(results['environment'])}\n\n{tables_rst(results)}")


def short(label):
    """A row's label on a chart's axis: 3_async_threadexecutor --workers 25 -> 3_threadexecutor / --workers 25."""
    return label.replace(" --", "\n--").replace("_async_", "_")


def write_chart(results, path):
    """Transactions/s (as efficiency against each kind's limit) and health-probe p99 per strategy, one bar group
    per (task kind, concurrency level)."""
    servers = server_labels(results)
    found = {(run["server"], run["task"], run["concurrency"]): run for run in results["runs"] if run.get("measured")}
    groups = [(task, level) for task in task_kinds(results) for level in levels(results)]
    width = 0.8 / len(groups)
    figure, (rate_axes, health_axes) = plt.subplots(1, 2, figsize=(14, 5.5), constrained_layout=True)
    one_kind = len(task_kinds(results)) == 1
    for i, (task, level) in enumerate(groups):
        offsets = [s + (i - (len(groups) - 1) / 2) * width for s in range(len(servers))]
        runs = [found.get((server, task, level)) for server in servers]
        label = f"{level} users" if one_kind else f"{task}, {level} users"
        key = "transaction_rate" if one_kind else "efficiency"
        # A run that does not exist (a pool sized for waiting, with a kind that computes) gets no bar, not a zero.
        bars = rate_axes.bar(offsets, [run[key] if run else numpy.nan for run in runs], width, label=label)
        rate_axes.bar_label(bars, labels=[(f"{run[key]:.1f}" if one_kind else f"{run[key]:.2f}") if run else ""
                                          for run in runs], fontsize=7 if len(groups) < 3 else 5)
        p99 = [(run["health_ms"]["p99"] or numpy.nan) if run else numpy.nan for run in runs]
        bars = health_axes.bar(offsets, p99, width, label=label)
        health_axes.bar_label(bars, labels=["" if numpy.isnan(v) else f"{v:.0f}" for v in p99],
                              fontsize=7 if len(groups) < 3 else 5)
    env = results["environment"]
    if one_kind:
        task = task_kinds(results)[0]
        for level in levels(results)[:1] if env["tasks"][task]["waits"] else [None]:
            text = limit_text(env, task, level)
            value = float(text.rsplit("= ", 1)[1].split()[0])
            rate_axes.axhline(value, color="grey", linestyle="--", linewidth=1)
            tallest = max((run["transaction_rate"] for run in found.values()), default=0)
            rate_axes.set_ylim(top=max(value, tallest) * 1.1)  # room for the limit's label
            rate_axes.text(-0.4, value * 1.01, text, ha="left", va="bottom", color="grey", fontsize=8)
        rate_axes.set_title(f"Throughput, task {task}: transactions/s (higher is better)")
    else:
        rate_axes.axhline(1, color="grey", linestyle="--", linewidth=1)
        rate_axes.set_title("Efficiency: transactions/s ÷ the kind's limit (higher is better)")
    health_axes.set_title("Responsiveness: /health p99, ms (lower is better, log scale)")
    highest = max((run["health_ms"]["p99"] or 0 for run in found.values()), default=0)
    if highest:
        health_axes.set_yscale("log")  # from a few ms to seconds
        health_axes.set_ylim(top=highest * 3)  # room for the bars' labels
    for axes in (rate_axes, health_axes):
        many = len(servers) > 6  # tilted, or the labels run into each other
        axes.set_xticks(range(len(servers)), [short(s).replace("\n", " " if many else "\n") for s in servers],
                        fontsize=7, rotation=30 if many else 0, ha="right" if many else "center")
        axes.grid(axis="y", alpha=0.3)
        if len(groups) > 1:
            axes.legend(fontsize=8)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_matrix(results, path):
    """Strategies × task kinds, each cell coloured by efficiency against its kind's limit, with transactions/s;
    beside it the health probe's p99 per cell. The first concurrency level only."""
    level = levels(results)[0]
    kinds = task_kinds(results)
    found = {(run["server"], run["task"]): run for run in results["runs"]
             if run.get("measured") and run["concurrency"] == level}
    servers = server_labels(results)
    efficiency = numpy.full((len(servers), len(kinds)), numpy.nan)
    health = numpy.full((len(servers), len(kinds)), numpy.nan)
    for (server, task), run in found.items():
        efficiency[servers.index(server), kinds.index(task)] = run["efficiency"]
        health[servers.index(server), kinds.index(task)] = run["health_ms"]["p99"] or numpy.nan
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 0.5 * len(servers) + 2.2), constrained_layout=True)
    image = left.imshow(efficiency, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    figure.colorbar(image, ax=left, label="efficiency (1 = the kind's limit)")
    image = right.imshow(numpy.log10(health), cmap="RdYlGn_r", vmin=0, vmax=4, aspect="auto")
    bar = figure.colorbar(image, ax=right, label="/health p99 (ms, log scale)", ticks=[0, 1, 2, 3, 4])
    bar.ax.set_yticklabels(["1", "10", "100", "1 000", "10 000"])
    for (server, task), run in found.items():
        i, j = servers.index(server), kinds.index(task)
        left.text(j, i, f"{run['efficiency']:.2f}\n{run['transaction_rate']:.1f}/s", ha="center", va="center",
                  fontsize=8)
        p99 = run["health_ms"]["p99"]
        right.text(j, i, "–" if p99 is None else f"{p99:.0f} ms\n{run['health_ms']['unavailable_pct']:.0f} % down",
                   ha="center", va="center", fontsize=8)
    for axes, title in ((left, f"Efficiency and tasks/s, {level} users"), (right, "/health p99, share unavailable")):
        axes.set_xticks(range(len(kinds)), kinds)
        axes.set_yticks(range(len(servers)), [s.replace("_async_", "_") for s in servers], fontsize=8)
        axes.set_title(title)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def replace_section(text, name, content):
    """Replace what stands between the RST comments `.. begin NAME` and `.. end NAME`."""
    pattern = re.compile(rf"(^\.\. begin {re.escape(name)}\n).*?(^\.\. end {re.escape(name)}$)", re.M | re.S)
    if not pattern.search(text):
        raise ValueError(f"no '.. begin {name}' / '.. end {name}' markers")
    return pattern.sub(lambda match: f"{match.group(1)}\n{content.strip()}\n\n{match.group(2)}", text, count=1)


def readme_section(results, charts):
    alt = ("strategies by task kind: efficiency and /health p99" if len(task_kinds(results)) > 1
           else "transactions/s and /health p99 per strategy")
    images = "".join(f".. image:: {chart}\n   :alt: {alt}\n\n" for chart in charts)
    return f"Measured on: {environment_line(results['environment'])}\n\n{images}{tables_rst(results)}"
