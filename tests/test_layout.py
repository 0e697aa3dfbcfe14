"""The layout's promises: what a Celery worker imports, which way imports go, and that a stopped server leaves no
temporary file behind."""

import ast
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from harness.network import request
from harness.server_process import ServerProcess
from harness.servers import ROOT, SERVERS, by_name
from processes import free_port

SCRIPTS = [s for s in SERVERS if not s.args and not s.free_threaded]  # one per script


@pytest.fixture
def short_tmp():
    """An empty directory with a short path: the forkserver's socket path in it must fit AF_UNIX's 108 bytes."""
    path = tempfile.mkdtemp(prefix="t", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def modules_added(module, after):
    """The top-level modules that importing `module` adds to those `after` already brought, in a fresh Python."""
    code = (
        f"import sys, {after}; before = set(sys.modules); import {module}; "
        "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    return set(
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
    )


def test_a_celery_worker_imports_the_task_and_celery_only():
    """`celery --app jobqueue worker` loads jobqueue: beyond what Celery itself brings, only the task."""
    added = modules_added("jobqueue", after="celery")
    assert {"tornado", "psutil", "serving", "processes"} & added == set(), added
    assert "tasks" in added


def imports_of(path):
    tree = ast.parse(path.read_text())
    found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return found | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_nothing_low_imports_something_high():
    for path in (ROOT / "harness").rglob("*.py"):
        assert "run_all" not in imports_of(path), f"{path.relative_to(ROOT)} imports run_all.py"
    for path in [ROOT / "tasks.py", ROOT / "processes.py", ROOT / "jobqueue.py", *(ROOT / "serving").glob("*.py")]:
        assert not any(name.split(".")[0] == "harness" for name in imports_of(path)), path.name


@pytest.mark.parametrize("script", sorted({s.script for s in SERVERS}))
def test_each_numbered_script_is_a_screenful(script):
    code = [
        line for line in (ROOT / script).read_text().splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    assert len(code) <= 60, f"{script}: {len(code)} lines"


@pytest.mark.parametrize("name", [s.name for s in SCRIPTS])
def test_a_stopped_server_leaves_no_temporary_file(short_tmp, monkeypatch, name):
    """Everything a server and its children write to the temporary directory (the forkserver's pymp-*, Dask's
    scratch space, redis-server's) is gone once it has stopped."""
    server = by_name(name)
    if server.missing:
        pytest.skip(f"{name}: {server.missing}")
    tmp_path = short_tmp
    monkeypatch.setattr(tempfile, "tempdir", tmp_path)  # where the harness makes the server's TMPDIR
    process = ServerProcess(server, free_port()).start()
    try:
        assert process.wait_healthy(60), process.output()
        assert request(process.port, "/?n=1000")[0] == 200
        if server.jobs:
            assert request(process.port, "/jobs?n=1000", method="POST")[0] == 202
        assert os.listdir(process.tmpdir), "while it runs, it has a temporary directory of its own"
    finally:
        process.stop()
    assert process.left_behind == [], "the server removed what it and its children wrote"
    assert os.listdir(tmp_path) == [], "and the harness removed the directory it gave it"
