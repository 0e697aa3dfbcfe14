"""The free-threaded interpreter of .venv313t (make venv313t): built without the GIL, and still without it once the
servers' imports are done (an extension that has not declared free-threading support turns it back on, with a
RuntimeWarning); and tools/free_threaded_python.sh, which finds or builds it, failing in one line."""

import json
import os
import subprocess
import sys

import pytest

from harness.servers import ROOT

SCRIPT = ROOT / "tools" / "free_threaded_python.sh"
FT_PYTHON = ROOT / ".venv313t" / "bin" / "python"
no_venv = pytest.mark.skipif(
    not FT_PYTHON.exists(), reason="no .venv313t (make venv313t: no free-threaded Python could be found or built)"
)

PROBE = """
import json, sys, sysconfig, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import tornado.web, psutil
print(json.dumps({"Py_GIL_DISABLED": sysconfig.get_config_var("Py_GIL_DISABLED"),
                  "gil_enabled": sys._is_gil_enabled(), "warnings": [str(w.message) for w in caught],
                  "extensions": sorted(m for m in ("tornado.speedups", "psutil._psutil_linux") if m in sys.modules)}))
"""


@no_venv
def test_the_venv_python_is_built_without_the_gil_and_keeps_it_off_after_the_servers_imports():
    found = json.loads(
        subprocess.run([FT_PYTHON, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60).stdout
    )
    assert found["Py_GIL_DISABLED"] == 1
    assert found["gil_enabled"] is False, found["warnings"]
    assert found["warnings"] == []
    # The C extensions were loaded, so their declarations were put to the test (not a pure-Python fallback).
    assert "psutil._psutil_linux" in found["extensions"]


def run_script(*args, **env):
    return subprocess.run(
        ["bash", SCRIPT, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )


@no_venv
def test_the_script_takes_python_ft_when_it_is_free_threaded():
    result = run_script(PYTHON_FT=str(FT_PYTHON))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{FT_PYTHON}\n"


@pytest.mark.parametrize("args, env", [((), {"PYTHON_FT": sys.executable}), (("--no-such-option",), {})])
def test_the_script_fails_in_one_line_with_status_2(args, env):
    result = run_script(*args, **env)
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
