"""results.json, the one way in and out: the loader, which reads every version written so far (upgrading the older
ones) and refuses any other in one line, and the writer, which replaces the file whole or not at all.

Each record (harness/records/suite.py, harness/records/blocks.py) is written under a version, as pyperf writes its
own: {"version": 2, ...the record}. A file without one was written before there were versions: version 1.
"""

import json
import os
import tempfile

from harness.records.base import RecordError
from harness.records.suite import SuiteResults

VERSION = 2
UMASK = os.umask(0)
os.umask(UMASK)  # read once: the umask can only be read by setting it


def _from_1(raw, kind):
    """Version 1 (no "version": the results saved before it, and the runs as the suite builds them) to 2: what a
    reader had to guess is said. A suite's run says its mode (runs from before there were modes ran the closed
    loop) and whether it started busy (version 1 said so by an idle_wait_s of null)."""
    if kind is SuiteResults and isinstance(raw.get("runs"), list):
        raw = {**raw, "runs": [_run_from_1(run) for run in raw["runs"]]}
    return raw


def _run_from_1(run):
    if not isinstance(run, dict):
        return run
    busy = "idle_wait_s" in run and run["idle_wait_s"] is None
    return {"mode": "closed", **run, **({"started_busy": True} if busy else {})}


UPGRADES = {1: _from_1}  # version N -> N + 1


def record_of(raw, kind, where="results"):
    """The record `kind` of JSON data `raw` (of any version this code reads; without one, version 1: the runs as
    the suite builds them are); RecordError if it is not one."""
    if not isinstance(raw, dict):
        raise RecordError(f"{where}: not the results of a run (an object expected, not {type(raw).__name__})")
    raw = dict(raw)
    version = raw.pop("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise RecordError(f"{where}: results version {version!r}, which this code does not read (1 to {VERSION})")
    for step in range(version, VERSION):
        raw = UPGRADES[step](raw, kind)
    try:
        return kind.from_json(raw, kind.__name__)
    except RecordError as error:
        raise RecordError(f"{where}: not the results of a run ({error})") from None


def load(path, kind):
    """The record `kind` saved in results.json at `path`; RecordError (one line, naming the file) if it cannot be
    read, is not JSON, is of a version this code does not read, or is not that record."""
    try:
        raw = json.loads(path.read_text())
    except OSError as error:
        raise RecordError(f"{path}: {error.strerror or error}") from None
    except ValueError as error:
        raise RecordError(f"{path}: not the results of a run (not JSON: {error})") from None
    return record_of(raw, kind, str(path))


def write(path, record):
    """`record` into results.json at `path`, under the current version, whole or not at all: written beside it
    and renamed over it (a stop signal or a full disk mid-write leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"version": VERSION, **record.to_json()}, indent=2) + "\n"
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        os.fchmod(descriptor, 0o666 & ~UMASK)  # as open() would make it: mkstemp's are the owner's alone
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename, so that a power cut too leaves one or the other
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise
