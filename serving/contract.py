"""The HTTP interface every server answers, whatever its web stack: GET /?n=N runs the task and answers JSON, GET
/health does not run it, and a mistake is an error whose JSON says what is wrong: a Problem (BadRequest,
Unavailable...), raised by the code that finds it. No web framework here: http.server (1_sync.py), Tornado and
FastAPI all answer from it, each turning a Problem into its HTTP answer in one place.
"""

import re
import sys
from urllib.parse import parse_qs

import tasks


def health():
    """GET /health's answer; and whether this process runs with a GIL (a free-threaded build re-enables it, with
    only a warning, when it imports an extension that does not declare it can run without)."""
    return {"status": "ok", "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)()}


class Problem(Exception):
    """A request answered with an error: its status and {"error": the message}. The code that finds the problem
    raises one; each web stack turns it into the HTTP answer in one place (answer())."""

    status = 500
    retry_after_s = None  # a Retry-After header: when a client may try again

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status or self.status  # a web stack's own error (not one of the kinds below) sets it

    def answer(self):
        """(status, headers, JSON body): what every web stack sends for it."""
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s else {}
        return self.status, headers, {"error": str(self)}


class BadRequest(Problem, ValueError):
    """A request the server cannot take as it is (a bad n, say): a 400 that says what is wrong."""

    status = 400


class NotFound(Problem):
    status = 404


class NotAllowed(Problem):
    """A method the path does not take: a 405."""

    status = 405


class TaskFailed(Problem):
    """The task itself raised (a user's function, say): a 500 that says why; the server goes on."""

    def __init__(self, error):
        said = str(error).strip().splitlines()  # the first line: a driver's error adds its SQL, a link, hints
        super().__init__(f"the task raised {type(error).__name__}: {said[0] if said else ''}")


class Unavailable(Problem, RuntimeError):
    """The strategy cannot run the task now (its pool broke twice, it is busy, its broker is down): a 503 with
    Retry-After, whatever the web stack."""

    status = 503
    retry_after_s = 1


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
    return NotAllowed(f"method {method[:20]} not allowed: use {allowed}")


def no_such_path(path):
    return NotFound(f"no such path: {path[:80]}")


def no_such_job(job_id, ttl_s):
    return NotFound(f"no such job: {job_id[:80]} (or it finished over {ttl_s:g} s ago and was forgotten)")


def no_jobs(strategy, method, because=None):
    """A server that runs no background jobs: POST /jobs is a 405, GET /jobs and /jobs/<id> a 404, each saying so."""
    because = because or "it has no workers to hand them to (the servers that hand tasks to workers do)"
    problem = NotAllowed if method == "POST" else NotFound
    return problem(f"{strategy} runs no background jobs: {because}")
