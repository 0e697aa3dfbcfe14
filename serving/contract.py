"""The HTTP interface every server answers, whatever its web stack: GET /?n=N runs the task and answers JSON, GET
/health does not run it, and a mistake is a 4xx whose JSON says what is wrong. No web framework here: http.server
(1_sync.py) and Tornado (the others) both answer from it.
"""

import re
import sys
from urllib.parse import parse_qs

import tasks


def health():
    """GET /health's answer; and whether this process runs with a GIL (a free-threaded build re-enables it, with
    only a warning, when it imports an extension that does not declare it can run without)."""
    return {"status": "ok", "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)()}


class BadRequest(ValueError):
    pass


class Unavailable(RuntimeError):
    """The strategy cannot run the task now (its pool broke twice, say): a 503 with Retry-After, whatever the web
    stack."""


def parse_n(query, kind=tasks.KINDS["cpu"]):
    """The task size asked for by a raw query string ('' -> the kind's default); BadRequest says what is wrong."""
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - {"n"})
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0][:40]!r}: only n is accepted")
    values = params.get("n", [str(kind.default_n)])
    if len(values) > 1:
        raise BadRequest("n is given more than once")
    value = values[0]
    if value == "":
        raise BadRequest("n needs a value, e.g. ?n=1000")
    # A strict pattern: int() would also take ' 5', '1_000' and full-width digits.
    if not re.fullmatch(r"[+-]?[0-9]{1,30}", value):
        raise BadRequest(f"n must be an integer, got {value[:40]!r}")
    n = int(value)
    if not 1 <= n <= kind.max_n:
        raise BadRequest(f"n must be from 1 to {kind.max_n} for the {kind.name} task, got {value}")
    return n


def task_response(strategy, task, n, computed):
    return {"strategy": strategy, "task": task.kind, "n": n, **computed}


def method_not_allowed(method, allowed="GET or HEAD"):
    return f"method {method[:20]} not allowed: use {allowed}"


def no_jobs(strategy, because=None):
    because = because or "it has no workers to hand them to (the servers that hand tasks to workers do)"
    return f"{strategy} runs no background jobs: {because}"
