"""make report: every results block of the README and docs/ (harness/report/block_list.py) measured and placed.

    .venv/bin/python -m harness.report.blocks [--only kinds,soak] [--place-only]        (make report)

runs every block's command in one sitting, one after the other, at one commit (a clean tree: the blocks must
name the commit they were measured at), saves each block's results.json under docs/results/BLOCK/, then puts
each into README.rst between `.. begin BLOCK` and `.. end BLOCK`, the full tables beside it in docs/results/BLOCK/.
`--place-only` puts saved results in again (after the README was edited), measuring nothing. The durations are
shorter than the suite's defaults, where the ranking is already clear at them: each block says so beside it.
"""

import dataclasses
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.cli import OneLineParser
from harness.instruments.provenance import environment, git_commit
from harness.records.blocks import TextResults, TimesResults
from harness.records.file import load, write
from harness.records.suite import Environment
from harness.report.block_list import BLOCKS, FIND_GIL_TWIN, GIL_TWIN, NAMED, RECORDS, SAVED, saved_of
from harness.report.readme import documents as readme_documents
from harness.report.readme import replace_section
from harness.report.sections import section
from harness.servers import ROOT
from harness.subprocesses import end

STOP_WAIT_S = 180  # a child's own stop is bounded well within this
TERMINATED = []


def terminated(signum, frame):
    TERMINATED.append(signum)
    raise KeyboardInterrupt


def measured_at(block, commit):
    """Whether the block's saved results were measured at `commit` (--resume keeps them: one commit, as if in one
    go; the README's blocks must all name one)."""
    saved = saved_of(block)
    return saved is not None and saved.environment.commit == commit


def measured_and_saved(block, folder=SAVED):
    """measure(block), its results written at once to folder/NAME/results.json, before anything else can fail (an
    hour of measuring is not lost to a message); whether its commands all exited with status 0."""
    saved = measure(block)
    write(folder / block.name / "results.json", saved)
    if any(saved.exit_statuses):
        print(
            f"make report: {block.name} exited with {saved.exit_statuses}: its results are kept, and say what failed",
            flush=True,
        )
    return not any(saved.exit_statuses)


def measure(block):
    """Runs the block's commands; its results, as saved (with the commands' exit statuses). The text blocks keep
    what the commands printed; a block of several suites keeps the runs of all, in the order they ran, with the
    first one's environment (each suite's T1 now is in its runs)."""
    env = environment({})  # before the commands: when it started, at which commit
    with tempfile.TemporaryDirectory(prefix=f"report-{block.name}-") as out:
        printed, statuses, started = [], [], time.monotonic()
        for command in block.commands:
            argv = [out if part == "{out}" else gil_twin() if part == GIL_TWIN else part for part in command]
            child = subprocess.Popen(
                argv,
                cwd=ROOT,
                stdout=subprocess.PIPE if block.kind == "text" else None,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            try:
                stdout, _ = child.communicate()
            except KeyboardInterrupt:  # Ctrl-C reached the child too; a SIGTERM only this process: pass it on
                if TERMINATED:
                    child.terminate()
                try:
                    child.communicate(timeout=STOP_WAIT_S)  # the child stops what it started, then so does this
                except subprocess.TimeoutExpired:
                    end(child)
                raise
            if child.returncode and block.kind == "text":
                raise RuntimeError(f"{block.shown_command()} exited with status {child.returncode}")
            printed.append(stdout or "")
            statuses.append(child.returncode)
        if block.kind == "text":
            saved = TextResults(environment=Environment.from_json(env), output="\n".join(printed))
        else:
            found = [load(path, RECORDS[block.kind]) for path in sorted(Path(out).glob("*/results.json"))]
            if not found:
                raise RuntimeError(f"{block.shown_command()} saved no results (exit status {statuses[-1]})")
            saved = found[-1]
            if block.kind == "suite" and len(found) > 1:  # several suites (production: then its overload point)
                saved = dataclasses.replace(found[0], runs=[run for results in found for run in results.runs])
    return dataclasses.replace(saved, took_s=round(time.monotonic() - started), exit_statuses=statuses)


def gil_twin():
    """The free-threaded build's twin with the GIL (tools/free_threaded_python.sh builds it once if need be)."""
    done = subprocess.run(FIND_GIL_TWIN, cwd=ROOT, capture_output=True, text=True)
    if done.returncode or not done.stdout.strip():
        raise RuntimeError(f"no twin with the GIL: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return done.stdout.strip()


# A figure this suite measured, in hand-written text: a decimal with a unit (1.5 s, 3.2 per second, 0.98×), a
# bare decimal (24.6, 0.97; but 1.0 and a Python version such as 3.13 are not figures, nor 6.6.1 or HTTP/1.1), a
# size, a rate of tasks or a share (481 MB, 12 tasks/s, 47 %; "within 5 %", a tolerance, is a setting). Integer
# latencies and loads pass: 100 ms, 600 s, 40 threads, 500 jobs/s are settings. A figure quoted from elsewhere
# sits in a literal block that names its source.
RATE = r"(?:tasks|requests|jobs|transactions)(?:/s| per second)"
UNIT = r"(?:ms|s|MB|GB|kB|%|×|µs|cores|times|per second|" + RATE + r")(?![\w/])"
FIGURE = re.compile(
    r"(?<![\w./])(?:\d+\.\d+\s?" + UNIT + r"|(?!3\.\d{1,2}(?![\w.]))(?!1\.0(?![\w.]))\d+\.\d+(?![\w.])"
    r"|\d[\d ]*\s?(?:MB|GB|(?:tasks|transactions)(?:/s| per second))(?![\w/])|(?<!within )\d+\s?%"
    r"|× ?\d+\.\d+)"
)


def prose(text):
    """The text's hand-written lines (number, line): not the generated blocks, literal blocks or inline literals."""
    found, generated, literal, indent = [], False, False, 0
    text = re.sub(r"``.+?``", lambda match: "\n" * match.group(0).count("\n"), text, flags=re.S)  # across lines too
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(r"\.\. begin ", line):
            generated = True
        elif re.match(r"\.\. end ", line):
            generated = False
        elif generated:
            continue
        elif literal and (not line.strip() or len(line) - len(line.lstrip()) > indent):
            continue
        else:
            literal = False
            if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):  # not a directive
                literal, indent = True, len(line) - len(line.lstrip())
            found.append((number, line))
    return found


def prose_figures(text):
    """Each measured-looking figure in the text's prose: (line number, the figure)."""
    return [(number, match.group(0)) for number, line in prose(text) for match in FIGURE.finditer(line)]


def documents():
    return readme_documents(ROOT / "README.rst")


def record_test(log):
    """make test's count and time, read from the last pytest summary in a log of `bash .ci/run`, saved for the
    README's 'times' line with this tree's commit (the one the tested clone was made from: record it before
    committing anything else). A run with a failure is not recorded."""
    summaries = re.findall(r"^=* ?((?:\d+ \w+, )*\d+ \w+)[^\n]* in ([\d.]+)s", log.read_text(), re.M)
    if not summaries:
        raise ValueError(f"{log}: no pytest summary (N passed in S s) in it")
    counts, seconds = summaries[-1]
    found = {word: int(number) for number, word in re.findall(r"(\d+) (\w+)", counts)}
    if found.get("failed") or found.get("error") or found.get("errors") or not found.get("passed"):
        raise ValueError(f"{log}: its last run did not pass ({counts})")
    saved = TimesResults(
        environment=Environment.from_json(environment({})), passed=found["passed"], seconds=float(seconds)
    )
    write(SAVED / "times" / "results.json", saved)
    return saved


def place(blocks):
    """Every block put into the document that has its markers, with the blocks made from others' results (the
    short answer, the times); the blocks no document has, named."""
    names = list(
        dict.fromkeys([block.name for block in blocks] + [block.name for block in BLOCKS if not block.commands])
    )
    blocks = [NAMED[name] for name in names]
    placed = set()
    for document in documents():
        text = original = document.read_text()
        for block in blocks:
            saved = saved_of(block)
            if saved is not None and f".. begin {block.name}\n" in text:
                text = replace_section(text, block.name, section(block, saved, SAVED / block.name, document))
                placed.add(block.name)
        if text != original:
            document.write_text(text)
    return [block.name for block in blocks if block.name not in placed]


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated blocks (default every one): " + ", ".join(NAMED))
    parser.add_argument("--place-only", action="store_true", help="put the saved results in again, measuring nothing")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the blocks whose saved results were measured at this commit (a sitting cut short) and measure the "
        "rest",
    )
    parser.add_argument(
        "--record-test",
        type=Path,
        metavar="LOG",
        help="save make test's count and time from a log of bash .ci/run (its last line), then place the 'times' line",
    )
    args = parser.parse_args(argv)
    if args.record_test:
        try:
            record_test(args.record_test)
        except (OSError, ValueError) as error:  # a RecordError is a ValueError
            parser.error(str(error))
        args.only, args.place_only = "times", True
    names = args.only.split(",") if args.only else list(NAMED)
    unknown = [name for name in names if name not in NAMED]
    if unknown:
        parser.error(f"unknown block {unknown[0]!r} (choose from {', '.join(NAMED)})")
    blocks, failed = [NAMED[name] for name in names], []
    if not args.place_only:
        commit = git_commit()
        if commit.endswith("-dirty"):
            parser.error("the tree has changes: commit them first, so that every block names the commit it ran")
        signal.signal(signal.SIGTERM, terminated)
        kept = [block for block in blocks if args.resume and block.commands and measured_at(block, commit)]
        if kept:
            print(f"make report: kept, measured at this commit: {', '.join(block.name for block in kept)}", flush=True)
        todo = [block for block in blocks if block not in kept]
        started, expected = time.monotonic(), sum(block.expected_min for block in todo)
        for index, block in enumerate(todo):
            if not block.commands:
                if block.part:
                    print(
                        f"make report: {block.name} is part of {block.part.source}'s results: measure that", flush=True
                    )
                continue
            done_min = sum(b.expected_min for b in todo[:index])
            # The machine's pace against the estimates, once a few minutes of them have run; bounded, for a
            # block that ended early (an error) says little of the others.
            pace = min(2.0, max(0.5, (time.monotonic() - started) / 60 / done_min)) if done_min >= 5 else 1
            left = (expected - done_min) * pace
            print(
                f"\n=== make report [{index + 1}/{len(todo)}] {block.name}: {block.shown_command()} "
                f"(about {left:.0f} min left)",
                flush=True,
            )
            try:
                clean = measured_and_saved(block)
            except KeyboardInterrupt:
                print(f"make report: interrupted in {block.name}; the blocks measured before it are saved", flush=True)
                return 1
            except Exception as error:  # noqa: BLE001 - the block says why, and the others go on
                print(f"make report: {block.name} not measured: {type(error).__name__}: {error}", flush=True)
                clean = False
            if not clean:
                failed.append(block.name)
        print(
            f"\nmake report took {(time.monotonic() - started) / 60:.0f} min"
            + (f"; not clean: {', '.join(failed)}" if failed else ""),
            flush=True,
        )
    missing = place(blocks)
    print("Blocks placed" + (f"; no results or no markers for: {', '.join(missing)}" if missing else ": all"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
