"""Results as people read them: RST tables, a chart, and the README's results section."""
import re

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt  # noqa: E402
from tabulate import tabulate  # noqa: E402

HEADERS = ["Strategy", "Avail. %", "Trans/s", "Mean s", "p50 ms", "p99 ms", "Health p50 ms", "Health p99 ms",
           "Unavail. %", "Peak PSS MB", "CPU s", "T1 now ms", "Efficiency"]


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


def levels(results):
    return sorted({run["concurrency"] for run in results["runs"]})


def environment_line(env):
    commit = env["commit"][:12] + ("-dirty" if env["commit"].endswith("-dirty") else "")
    return (f"{env['cpu']}, {env['cpu_count']} CPUs, {env['ram_gb']} GB RAM, {env['os']}; Python {env['python']}, "
            f"Tornado {env['tornado']}, siege {env['siege']}; commit {commit}, {env['started']}. "
            f"One task (n={env['task_n']}) takes T1 = {env['task_s'] * 1000:.1f} ms alone, so the limit is "
            f"{env['cpu_count'] / env['task_s']:.1f} tasks/s" +
            (f" (T1 was {env['task_s_end'] * 1000:.1f} ms at the end)." if "task_s_end" in env else "."))


def tables_rst(results):
    parts = []
    for level in levels(results):
        runs = [run for run in results["runs"] if run["concurrency"] == level]
        duration = max((run["duration_s"] for run in runs), default=0)
        title = f"{level} concurrent users, {duration:g} s"
        parts.append(f"{title}\n{'-' * len(title)}\n\n{tabulate([row(run) for run in runs], HEADERS, 'rst')}\n")
    return "\n".join(parts)


def write_rst(results, path):
    path.write_text(f"{environment_line(results['environment'])}\n\n{tables_rst(results)}")


def write_chart(results, path):
    """Transactions/s and health-probe p99 per strategy, one bar group per concurrency level."""
    servers = list(dict.fromkeys(run["server"] for run in results["runs"]))
    found = {(run["server"], run["concurrency"]): run for run in results["runs"] if run.get("measured")}
    concurrency = levels(results)
    width = 0.8 / len(concurrency)
    figure, (rate_axes, health_axes) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    for i, level in enumerate(concurrency):
        offsets = [s + (i - (len(concurrency) - 1) / 2) * width for s in range(len(servers))]
        runs = [found.get((server, level)) for server in servers]
        bars = rate_axes.bar(offsets, [run["transaction_rate"] if run else 0 for run in runs], width,
                             label=f"{level} users")
        rate_axes.bar_label(bars, fmt="%.1f", fontsize=7)
        bars = health_axes.bar(offsets, [(run["health_ms"]["p99"] or 0) if run else 0 for run in runs], width,
                               label=f"{level} users")
        health_axes.bar_label(bars, fmt="%.0f", fontsize=7)
    env = results["environment"]
    limit = env["cpu_count"] / env["task_s"]
    rate_axes.axhline(limit, color="grey", linestyle="--", linewidth=1)
    rate_axes.text(len(servers) - 0.5, limit, f"limit: {env['cpu_count']} CPUs / T1", ha="right", va="bottom",
                   color="grey", fontsize=8)
    rate_axes.set_title("Throughput: transactions/s (higher is better)")
    health_axes.set_title("Responsiveness: /health p99, ms (lower is better, log scale)")
    highest = max((run["health_ms"]["p99"] or 0 for run in found.values()), default=0)
    if highest:
        health_axes.set_yscale("log")  # from a few ms to seconds
        health_axes.set_ylim(top=highest * 3)  # room for the bars' labels
    for axes in (rate_axes, health_axes):
        axes.set_xticks(range(len(servers)), [s.replace(" --", "\n--").replace("_async_", "_async_\n")
                                              for s in servers], fontsize=7)
        axes.grid(axis="y", alpha=0.3)
        if len(concurrency) > 1:
            axes.legend(fontsize=8)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def replace_section(text, name, content):
    """Replace what stands between the RST comments `.. begin NAME` and `.. end NAME`."""
    pattern = re.compile(rf"(^\.\. begin {re.escape(name)}\n).*?(^\.\. end {re.escape(name)}$)", re.M | re.S)
    if not pattern.search(text):
        raise ValueError(f"no '.. begin {name}' / '.. end {name}' markers")
    return pattern.sub(lambda match: f"{match.group(1)}\n{content.strip()}\n\n{match.group(2)}", text, count=1)


def readme_section(results, chart_path):
    return (f"Measured on: {environment_line(results['environment'])}\n\n"
            f".. image:: {chart_path}\n   :alt: transactions/s and health-probe p99 per strategy\n\n"
            f"{tables_rst(results)}")
