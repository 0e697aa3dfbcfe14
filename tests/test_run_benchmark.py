"""run_benchmark.sh: siege's text summary against a real server, and its errors."""

import os
import re
import shutil
import subprocess

import pytest

from harness.servers import ROOT, by_name

SCRIPT = str(ROOT / "run_benchmark.sh")


@pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed (make test installs it)")
def test_prints_the_text_summary(start_server, tmp_path):
    server = start_server(by_name("4_async_processexecutor"))
    # A ~/.siege that asks for JSON must not change what the wrapper prints.
    (tmp_path / ".siege").mkdir()
    (tmp_path / ".siege" / "siege.conf").write_text("json_output = true\nverbose = true\n")
    env = {**os.environ, "HOME": str(tmp_path), "CONCURRENCY": "4", "DURATION": "3S"}
    run = subprocess.run([SCRIPT, f"127.0.0.1:{server.port}"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    summary = run.stdout + run.stderr
    for line in ("Transactions:", "Availability:", "Response time:", "Transaction rate:", "Shortest transaction:"):
        assert line in summary
    assert re.search(r"^Availability:\s+100\.00 %$", summary, re.M)
    assert "{" not in summary, "no JSON"
    assert "HTTP/1.1 200" not in summary, "no per-transaction lines"


@pytest.mark.parametrize("args", [[], ["http://127.0.0.1:8000/"], ["127.0.0.1"]])
def test_usage(args):
    run = subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=10)
    assert run.returncode == 2
    assert "usage:" in run.stderr


def test_missing_siege_says_how_to_install_it(tmp_path):
    for tool in ("bash", "dirname", "env"):  # a PATH with all that the script needs, except siege
        (tmp_path / tool).symlink_to(shutil.which(tool))
    run = subprocess.run(
        [SCRIPT, "127.0.0.1:8000"], env={"PATH": str(tmp_path)}, capture_output=True, text=True, timeout=10
    )
    assert run.returncode == 1
    assert "apt-get install siege" in run.stderr
