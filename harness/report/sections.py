"""What each results block shows in its document, from its saved results (harness/report/block_list.py): the
stamp that says where and how it was measured, then its tables, findings, charts or the commands' output."""

import os
import shutil
import textwrap

from harness.experiments import soak
from harness.hosts import fault_table
from harness.records.blocks import ClusterResults, TimesResults
from harness.records.file import load
from harness.records.suite import SuiteResults
from harness.report import findings
from harness.report.answer import answer as short_answer
from harness.report.answer import kinds_read
from harness.report.block_list import DOCS, NAMED, SAVED, saved_of
from harness.report.render import render
from harness.report.results import section_charts
from harness.report.tables import readme_section
from harness.servers import ROOT


def commit_of(env):
    """The commit a result names: 12 hex digits, and -dirty if the code differed from it."""
    return env.commit[:12] + ("-dirty" if env.commit.endswith("-dirty") else "")


def stamp(env, block):
    """Where and how the saved results were measured: by the block's commands, or by those it had before they
    changed (block_list.Earlier), then said as such beside what make report runs now."""
    part = block.part
    measured_by = NAMED[part.source] if part else block  # a Part's rows were measured by the block it is part of
    earlier = measured_by.earlier_at(env.commit)
    command, why_short = (
        (earlier.command, earlier.why_short) if earlier else (measured_by.shown_command(), measured_by.why_short)
    )
    now = (
        f" These results come from the block's earlier command: ``make report`` now runs "
        f"``{measured_by.shown_command()}`` ({measured_by.why_short}), whose results will replace them."
        if earlier
        else ""
    )
    return (
        f"Measured at commit {commit_of(env)}, {env.started}, on {env.cpu} ({env.cpu_count} CPUs), "
        f"by ``make report``: ``{command}``"
        + (f" ({why_short})" if why_short else "")
        + (f", {part.said()}" if part else "")
        + ". Saved in ``docs/results/"
        + measured_by.name
        + f"/results.json``.{now}\n\n"
    )


def answer_block(env):
    """The short answer, from the task-kind matrix's results and, if saved, the hosts' fault table."""
    kinds = load(SAVED / "kinds" / "results.json", SuiteResults)
    found = SAVED / "cluster" / "results.json"
    faults = load(found, ClusterResults) if found.exists() else None
    return (
        f"Generated from the task-kind matrix (commit {commit_of(env)}, {env.started}, "
        f"``docs/results/kinds/results.json``)"
        + (" and the hosts' fault table (`docs/scaling.rst <docs/scaling.rst>`__)" if faults else "")
        + ", by the rules of ``harness/report/comparison.py``.\n\n"
        + short_answer(kinds, faults)
    )


def suite(block, saved, folder, document, draw):
    """A suite's block: in the README a narrow table per task kind with its findings, in docs/ every column and
    the charts (copied to docs/ unless draw is False)."""
    if draw:
        folder.mkdir(parents=True, exist_ok=True)  # a part of another block's results has no folder of its own yet
        render(saved, folder)
    images = []
    for source, name in section_charts(saved, block.name):
        if draw:
            shutil.copyfile(folder / source, DOCS / name)
        images.append(os.path.relpath(DOCS / name, document.parent))
    if document.parent == ROOT:
        full = os.path.relpath(folder / "results.rst", ROOT)
        # No chart here: the README shows the headline chart after the short answer, by hand; and a table of each
        # kind the answer reads (db, not sleep, where both were measured).
        read = kinds_read(saved)
        others = [task for task in dict.fromkeys(task for task, _ in findings.closed_rounds(saved)) if task not in read]
        rest = f" (and the tables of {', '.join(f'``{task}``' for task in others)})" if others else ""
        return (
            stamp(saved.environment, block)
            + findings.narrow_section(saved, read)
            + f"\nEvery column{rest}: `{full} <{full}>`__.\n"
        )
    shown = findings.shown(saved)
    return (
        stamp(saved.environment, block)
        + readme_section(saved, images)
        + (f"\nWhat this run shows:\n\n{shown}\n" if shown else "")
    )


def times(saved):
    """make test's count and time, and make report's: the minutes every other block took, and their commits."""
    env = saved.environment
    took = [saved_of(NAMED[path.parent.name]) for path in sorted(SAVED.glob("*/results.json"))]
    took = [found for found in took if not isinstance(found, TimesResults)]
    total_min = sum(found.took_s or 0 for found in took) / 60
    commits = sorted({commit_of(found.environment) for found in took})
    return (
        f"``make test``: {saved.passed} tests passed in {saved.seconds // 60:.0f} min "
        f"{saved.seconds % 60:.0f} s, in a fresh clone's ``bash .ci/run`` on {env.started[:10]} "
        f"(its commit in ``docs/results/times/results.json``; not counting setting up the venvs, nor building the "
        f"free-threaded Python, once per machine). ``make report``: {total_min:.0f} min for every block, at "
        f"commit {', '.join(commits)}, on {env.cpu} ({env.cpu_count} CPUs)."
    )


def section(block, saved, folder, document, draw=True):
    """What `document` (README.rst or a page of docs/) shows between the block's markers, from its saved results:
    the README a narrow table per task kind with its findings, the docs every column; charts beside them (drawn
    again unless draw is False: the text is the same)."""
    env = saved.environment
    if block.kind == "answer":
        return answer_block(env)
    if block.kind == "suite":
        return suite(block, saved, folder, document, draw)
    if block.kind == "times":
        return times(saved)
    if block.kind == "soak":
        return stamp(env, block) + soak.table(saved.runs) + "\n\n" + soak.notes(saved.runs)
    if block.kind == "cluster":
        return (
            stamp(env, block)
            + fault_table.describe(saved)
            + fault_table.open_table(saved.open)
            + "\n\n"
            + fault_table.table(saved.runs)
            + "\n\n"
            + fault_table.notes(saved.runs)
        )
    return stamp(env, block) + "::\n\n" + textwrap.indent(saved.output.rstrip(), "    ")
