"""README.rst and docs/ are what users read: they must render, name what exists, and every figure in them must come
from the one sitting's saved results (make report), none from hand-written text."""

import dataclasses
import json
import re

import docutils.core
import docutils.utils
import pytest

from harness.report import block_list, blocks
from harness.report.sections import section, stamp
from harness.servers import ROOT, SERVERS

DOCUMENTS = blocks.documents()
MARKERS = re.compile(r"^\.\. begin ([\w-]+)\n(.*?)^\.\. end \1$", re.M | re.S)


def sections():
    """(document, block name, its content as the document has it) for every generated block."""
    return [
        (document, name, content) for document in DOCUMENTS for name, content in MARKERS.findall(document.read_text())
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_page_renders_without_warnings(document):
    docutils.core.publish_doctree(
        document.read_text(),
        source_path=str(document),
        settings_overrides={"halt_level": docutils.utils.Reporter.WARNING_LEVEL, "report_level": 5},
    )


def test_readme_names_every_server_and_command():
    text = (ROOT / "README.rst").read_text()
    for server in SERVERS:
        assert server.script in text and str(server.port) in text
    for command in ("make test", "make bench", "make report", "./run_benchmark.sh"):
        assert command in text


def test_the_readme_is_an_entry_with_the_short_answer_first():
    text = (ROOT / "README.rst").read_text()
    assert len(text.splitlines()) <= 350
    first_screen = "\n".join(text.splitlines()[:40])
    assert "The short answer" in first_screen and ".. begin answer" in first_screen
    assert "https://github.com/pioneer/httpd-background-tasks" in text, "the original, named and linked"


def test_every_block_of_the_readme_and_docs_is_known_and_saved():
    found = [name for _, name, _ in sections()]
    assert sorted(found) == sorted(set(found)), "each block once"
    assert set(found) == set(block_list.NAMED), "every block of make report has its place, and no other block is there"
    for name in found:
        block = block_list.NAMED[name]
        measured_by = block.part.source if block.part else "kinds" if name == "answer" else name
        saved = block_list.SAVED / measured_by / "results.json"
        # make test's time is recorded from a fresh clone's run of it, after the commit that run tested
        assert saved.exists() or name == "times", f"{name}: no {saved.relative_to(ROOT)}"


def test_every_results_block_names_the_same_commit():
    commits = {
        name: set(re.findall(r"(?:Measured at commit|commit) ([0-9a-f]{12})", content))
        for _, name, content in sections()
        if name != "times"
    }
    assert all(commits.values()), f"a block that names no commit: {[n for n, c in commits.items() if not c]}"
    assert len(set().union(*commits.values())) == 1, commits


def test_the_readme_and_docs_name_one_commit_in_all():
    """A reader tells which figures belong together by the commit they name: one sitting, one commit, anywhere."""
    named = {
        commit
        for document in DOCUMENTS
        for commit in re.findall(r"\bcommits? ([0-9a-f]{7,40})\b", document.read_text())
    }
    assert len(named) == 1, named


def test_every_block_is_what_its_saved_results_render():
    for document, name, content in sections():
        saved = block_list.saved_of(block_list.NAMED[name])
        if saved is None and name == "times":
            assert content.strip() == "", "no make test recorded yet: the line stays empty"
            continue
        assert saved is not None, f"{document.name}: block {name} has no saved results (make report)"
        expected = section(block_list.NAMED[name], saved, block_list.SAVED / name, document, draw=False)
        assert content.strip() == expected.strip(), f"{document.name}: block {name} differs from its results.json"


def test_every_chart_a_page_shows_exists():
    for document in DOCUMENTS:
        for image in re.findall(r"^\.\. image:: (\S+)", document.read_text(), re.M):
            assert (document.parent / image).exists(), f"{document.name}: {image}"


def test_the_readmes_tables_are_narrow():
    text = (ROOT / "README.rst").read_text()
    for table in re.findall(r"^(=+(?:  +=+)*)$", text, re.M):
        assert len(table) <= 120 and len(table.split()) <= 7, table


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_hand_written_text_states_no_measured_figure(document):
    assert blocks.prose_figures(document.read_text()) == [], "a measured figure belongs in a generated block"


@pytest.mark.parametrize(
    "sentence, figures",
    [
        # from the README before make report: each of these must be caught
        ("Server 4 did 14.0 tasks/s (0.94 of ``CPUs / T1``), Dask 12.4", ["14.0 tasks/s", "0.94", "12.4"]),
        ("A process pool of 25 does 231.4 and 169.8 but takes 481 MB", ["231.4", "169.8", "481 MB"]),
        ("servers 1 and 2 are unavailable for most of every run (47 to 94 % of the time", ["94 %"]),
        ("health p99 6 to 30 ms; 1.0 is out of reach beside 1.14", ["1.14"]),
        ("the thread pool did 0.98 × the process pool's tasks per second", ["0.98 ×"]),
        ("The original's 591 transactions per second", ["591 transactions per second"]),
        ("a literal ``across\nlines: 77.3 ms`` and after it 12.5 requests/s", ["12.5 requests/s"]),
        ("3.2 per second, 3.25 tasks/s, took 3.4 ms, 1.0 s", ["3.2 per second", "3.25 tasks/s", "3.4 ms", "1.0 s"]),
        # settings, tolerances, versions and literals are not figures (integer latencies pass: the rule's limit)
        ("GET /health every 100 ms, 40 threads, a 600 s timeout, at 500 jobs/s, within 15 %, 64 KiB", []),
        ("Python 3.13.15t, uvicorn 0.54.0, HTTP/1.1 on 127.0.0.1, no row reaches 1.0, ``T1 = 77.3 ms``", []),
        ("--servers 1,2,3,4 and n = 1,200,000; Python 3.11 and 3.13+", []),
    ],
)
def test_the_figure_rule_catches_measured_figures_and_spares_settings(sentence, figures):
    assert [found for _, found in blocks.prose_figures(sentence)] == figures


def test_the_saved_results_are_json_with_their_environment_and_a_clean_commit():
    saved = [json.loads(path.read_text()) for path in block_list.SAVED.glob("*/results.json")]
    assert saved, "docs/results/ holds the saved results"
    for found in saved:
        assert {"commit", "started", "cpu"} <= set(found["environment"])
        assert not found["environment"]["commit"].endswith("-dirty"), "measured on a tree with changes"


def test_saved_results_of_a_blocks_earlier_command_are_stamped_with_that_command():
    block = block_list.Block(
        "x",
        ((block_list.PY, "run_all.py", "--rate", "0.4x"),),
        1,
        "as now",
        earlier=(block_list.Earlier("abc123abc123", "run_all.py --rate 500", "as then"),),
    )
    env = block_list.saved_of(block_list.NAMED["production"]).environment
    then = stamp(dataclasses.replace(env, commit="abc123abc123" + "0" * 28), block)
    assert "by ``make report``: ``run_all.py --rate 500`` (as then)." in then
    assert "``make report`` now runs ``.venv/bin/python run_all.py --rate 0.4x`` (as now)" in then
    now = stamp(dataclasses.replace(env, commit="def456" * 6 + "0000"), block)
    assert "by ``make report``: ``.venv/bin/python run_all.py --rate 0.4x`` (as now)." in now
    assert "earlier" not in now and "run_all.py --rate 500" not in now


def test_a_block_of_several_suites_keeps_the_runs_of_all_with_the_first_ones_environment():
    """blocks.measure on two real commands that each save a suite's results (a copy of tests/data's, one with its
    runs marked): the block's results hold both suites' runs in the order they ran."""
    write = (
        "import json, pathlib, sys; raw = json.loads(pathlib.Path(sys.argv[1]).read_text()); "
        "[run.update(server=run['server'] + sys.argv[3]) for run in raw['runs']]; "
        "out = pathlib.Path(sys.argv[2]) / sys.argv[3]; out.mkdir(); (out / 'results.json').write_text(json.dumps(raw))"
    )
    data = str(ROOT / "tests" / "data" / "results.json")
    block = block_list.Block(
        "two", ((block_list.PY, "-c", write, data, "{out}", "1"), (block_list.PY, "-c", write, data, "{out}", "2")), 1
    )
    saved = blocks.measure(block)
    one = json.loads((ROOT / "tests" / "data" / "results.json").read_text())
    servers = [run["server"] for run in one["runs"]]
    assert [run.server for run in saved.runs] == [s + "1" for s in servers] + [s + "2" for s in servers]
    assert saved.environment.started == one["environment"]["started"] and saved.exit_statuses == [0, 0]


def test_a_block_whose_command_fails_after_saving_keeps_its_results_and_says_so(tmp_path, capsys):
    """A suite that measured for an hour and then exits non-zero (a row not measured cleanly): its results are
    written, and the sitting goes on to the next block."""
    write = (
        "import pathlib, shutil, sys; out = pathlib.Path(sys.argv[2]) / 'one'; out.mkdir(); "
        "shutil.copyfile(sys.argv[1], out / 'results.json'); sys.exit(1)"
    )
    data = str(ROOT / "tests" / "data" / "results.json")
    block = block_list.Block("failing", ((block_list.PY, "-c", write, data, "{out}"),), 1)
    assert blocks.measured_and_saved(block, tmp_path) is False
    saved = json.loads((tmp_path / "failing" / "results.json").read_text())
    assert saved["exit_statuses"] == [1] and saved["runs"]
    assert "make report: failing exited with [1]: its results are kept" in capsys.readouterr().out


def test_resume_keeps_the_blocks_measured_at_this_commit_and_measures_the_others(monkeypatch, capsys):
    """A sitting cut short (a crash, the end of a session) goes on at the same commit: the blocks saved at it are
    kept, not measured again; one saved at another commit is measured. Nothing runs here: measuring and placing are
    replaced by records of what would have been done."""
    here = block_list.saved_of(block_list.NAMED["stall"]).environment.commit  # as if the tree were at that commit
    monkeypatch.setattr(blocks, "git_commit", lambda: here)
    monkeypatch.setattr(blocks.signal, "signal", lambda *args: None)
    measured, placed = [], []
    monkeypatch.setattr(blocks, "measured_and_saved", lambda block: measured.append(block.name) or True)
    monkeypatch.setattr(blocks, "place", lambda found: placed.extend(block.name for block in found) or [])
    real = block_list.saved_of

    def saved_of(block):  # pools: saved at another commit
        found = real(block)
        if block.name == "pools":
            return dataclasses.replace(found, environment=dataclasses.replace(found.environment, commit="0" * 40))
        return found

    monkeypatch.setattr(blocks, "saved_of", saved_of)
    assert blocks.main(["--resume", "--only", "stall,pools"]) == 0
    assert measured == ["pools"], "stall was measured at this commit: kept"
    assert "make report: kept, measured at this commit: stall" in capsys.readouterr().out
    assert placed == ["stall", "pools"], "both placed"
    assert blocks.main(["--only", "stall"]) == 0 and measured == ["pools", "stall"], "without --resume: measured"
