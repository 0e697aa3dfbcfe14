"""A saved run's tables and charts, drawn again from its results.json:

    .venv/bin/python -m harness.report results/DATE/results.json [--out DIR]

re-renders them (results.rst, results.png, matrix.png, hockey.png) into its folder, or into DIR. The tables are
harness/report/tables.py's, the charts harness/report/charts.py's."""

from pathlib import Path

from harness.cli import OneLineParser
from harness.records.base import RecordError
from harness.records.file import load
from harness.records.suite import SuiteResults
from harness.report.charts import CHARTS, charts_of
from harness.report.tables import write_rst


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
    """A saved run's results.json read (harness/records/file.py) and rendered into out_dir: (its results, their
    paths), or the parser's one-line error (exit status 2)."""
    try:
        results = load(path, SuiteResults)
        if not results.runs:
            raise RecordError(f"{path}: not the results of a run (no runs)")
        out_dir.mkdir(parents=True, exist_ok=True)
        return results, render(results, out_dir)
    except RecordError as error:
        parser.error(str(error))
    except OSError as error:
        parser.error(f"{out_dir}: {error.strerror or error}")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        parser.error(f"{path}: not the results of a run ({type(error).__name__}: {error})")
