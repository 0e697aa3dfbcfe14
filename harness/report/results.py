"""Where a suite's results go: its folder (results.json, and the tables and charts drawn from it) and the README."""

import argparse
import os
import shutil
import sys
from pathlib import Path

from harness.cli import OneLineParser
from harness.records.file import VERSION, record_of, write
from harness.records.suite import SuiteResults
from harness.report.charts import charts_of
from harness.report.readme import holding, update_section
from harness.report.render import render as render_files
from harness.report.render import rendered
from harness.report.tables import readme_section
from harness.servers import ROOT


def save(out_dir, env, runs, render=True):
    """results.json (the suite's environment and runs, as it built them, made a SuiteResults: a field the record
    does not know fails here, not later in a table), and unless render is False the tables and charts drawn from
    it. The record."""
    results = record_of({"version": VERSION, "environment": env, "runs": runs}, SuiteResults, "the suite's results")
    write(out_dir / "results.json", results)
    if runs and render:
        render_files(results, out_dir)
    return results


def section_charts(results, section):
    """The charts a section shows: (the chart in the run's folder, its name under docs/). For several task kinds the
    matrix, which a person reads faster than bars in four colours (docs/SECTION.png); for open-loop runs the latency
    against the rate (docs/SECTION-hockey.png)."""
    drawn = charts_of(results)
    main = next((chart for chart in ("matrix.png", "results.png") if chart in drawn), None)
    return ([(main, f"{section}.png")] if main else []) + (
        [("hockey.png", f"{section}-hockey.png")] if "hockey.png" in drawn else []
    )


def update_readme(results, out_dir, section, readme):
    """Replace the section (in the README or the page of docs/ that has it) with these results, their charts copied
    to docs/ (section_charts)."""
    document = holding(readme, section)
    charts = [(out_dir / source, Path("docs") / name) for source, name in section_charts(results, section)]
    for source, chart in charts:
        (readme.parent / chart).parent.mkdir(exist_ok=True)
        shutil.copyfile(source, readme.parent / chart)
    shown = [os.path.relpath(readme.parent / chart, document.parent) for _, chart in charts]
    update_section(document, section, readme_section(results, shown))
    where = f", charts in {', '.join(str(chart) for _, chart in charts)}" if charts else ""
    print(f"{document.relative_to(readme.parent)}: section '{section}' updated{where}")


def main(argv=None):
    """Put a saved run into a README section, as run_all.py --update-readme does at the end of a suite: so that a
    suite run while the README is being edited is placed afterwards, from its results.json."""
    parser = OneLineParser(description=main.__doc__.split(":")[0])
    parser.add_argument("results", type=Path, help="a run's results.json (its folder holds its charts)")
    parser.add_argument("--update-readme", metavar="SECTION", required=True, help="the README section to replace")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.rst", help=argparse.SUPPRESS)  # for tests
    args = parser.parse_args(argv)
    if holding(args.readme, args.update_readme) is None:  # before any chart is copied to docs/
        parser.error(f"{args.readme.name} and docs/ have no '.. begin {args.update_readme}' marker")
    results, _ = rendered(parser, args.results, args.results.parent)
    update_readme(results, args.results.parent, args.update_readme, args.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
