"""Where a run ran: the machine, the software's versions and the commit, recorded with every result."""

import datetime
import os
import platform
import subprocess
from pathlib import Path

import psutil

import processes
from harness.interpreters import NoAnswer, ask
from harness.load import siege
from harness.servers import FREE_THREADED_PYTHON, ROOT


def tornado_version():
    """The servers' Tornado, asked for here only: the harness itself runs without it."""
    import tornado

    return tornado.version


def fastapi_versions():
    """8_fastapi.py's FastAPI and uvicorn, and which of uvicorn's optional parts are installed (none: the asyncio
    loop and h11, as requirements.txt chooses); {} where FastAPI is not installed."""
    from importlib import metadata, util

    try:
        found = {"fastapi": metadata.version("fastapi"), "uvicorn": metadata.version("uvicorn")}
    except metadata.PackageNotFoundError:
        return {}
    extras = [name for name in ("uvloop", "httptools") if util.find_spec(name)]
    return {**found, "uvicorn_extras": ", ".join(extras) or "none (asyncio loop, h11)"}


def wsgi_versions():
    """9_flask.py's Flask and its servers (gunicorn, its gevent workers' gevent, Granian); {} where one is missing."""
    from importlib import metadata

    try:
        return {name: metadata.version(name) for name in ("flask", "gunicorn", "gevent", "granian")}
    except metadata.PackageNotFoundError:
        return {}


def database_versions(url):
    """The db kind's PostgreSQL (its server's version, asked at `url`), SQLAlchemy and psycopg; {} without a url."""
    if not url:
        return {}
    from importlib import metadata

    import psycopg

    with psycopg.connect(url, connect_timeout=5) as connection:
        (server,) = connection.execute("SHOW server_version").fetchone()
    return {
        "postgresql": server.split()[0],
        "sqlalchemy": metadata.version("sqlalchemy"),
        "psycopg": metadata.version("psycopg"),
    }


def git_commit(short=False):
    """The commit, with "-dirty" if code differs from it. Not README.rst or docs/, which --update-readme itself
    rewrites, so that a chain of runs (make bench ... --update-readme A; make bench ... --update-readme B) stays
    clean."""
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    if subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!README.rst", ":!docs"],
        capture_output=True,
        text=True,
    ).stdout:
        return commit[: 12 if short else None] + "-dirty"
    return commit[: 12 if short else None]


def environment(kinds, seed=None, database=None):
    """The machine, the versions and the commit; `kinds`, each task kind's T1 alone; the seed of the Poisson
    schedules if there is one; the db kind's versions if it queries `database`."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    try:
        os_name = platform.freedesktop_os_release()["PRETTY_NAME"]
    except OSError:
        os_name = platform.platform()
    return {
        "cpu": cpu,
        "cpu_count": processes.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_quota": processes.cpu_quota(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": os_name,
        "python": platform.python_version(),
        "tornado": tornado_version(),
        "siege": siege.version(),
        "commit": git_commit(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "tasks": kinds,
        **({} if seed is None else {"seed": seed}),
        **free_threaded(),
        **fastapi_versions(),
        **wsgi_versions(),
        **database_versions(database),
    }


def free_threaded():
    """The free-threaded interpreter of the twin rows (.venv313t), and how it was built, if there is one."""
    python = FREE_THREADED_PYTHON
    if not python.exists():
        return {}
    try:
        found = ask(python, "import platform, sys; print(platform.python_version()); print(sys.base_prefix)").split()
    except NoAnswer:
        found = []
    info = Path(found[1]) / "build-info.txt" if len(found) == 2 else None
    return {
        "free_threaded_python": found[0] if found else None,
        "free_threaded_build": info.read_text().strip().splitlines() if info and info.exists() else None,
    }
