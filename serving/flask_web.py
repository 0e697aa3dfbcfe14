"""The HTTP interface as a Flask (WSGI) app (9_flask.py): the same paths, answers and JSON errors as every server.

A WSGI app answers one request per call, on the thread (or greenlet) its server calls it on: where the task runs
is the server's worker model, not the app's. Its worker processes keep no jobs: a job's status would live in one
of them, and a poll could reach another.
"""

import flask
from werkzeug.exceptions import HTTPException

from .contract import (
    Problem,
    TaskFailed,
    health,
    method_not_allowed,
    no_jobs,
    no_such_path,
    parse_n,
    task_response,
)
from .totals import TaskTotals

NO_JOBS_BECAUSE = "its jobs would live in one of its worker processes, and a poll could reach another"


def answer(problem):
    """The one place a Problem becomes its HTTP answer on Flask."""
    status, headers, body = problem.answer()
    return flask.jsonify(body), status, headers


def make_app(strategy, task, compute):
    """The Flask application: compute(n) behind GET /, counted for GET /stats (every worker process's, added up,
    where the server has made the shared folder: serving/totals.py)."""
    app = flask.Flask(strategy)
    counts = TaskTotals()
    kind = task.spec()

    @app.errorhandler(Problem)
    def contract_problem(problem):
        return answer(problem)

    @app.errorhandler(HTTPException)
    def werkzeug_error(error):  # Flask's own, for a path or a method it has no route for
        if error.code == 405:
            return answer(method_not_allowed(flask.request.method))
        if error.code == 404:
            return answer(no_such_path(flask.request.path))
        return answer(Problem(error.description or error.name, error.code))

    @app.route("/", methods=["GET", "HEAD"])
    def run_task():
        n = parse_n(flask.request.query_string.decode("latin-1"), kind)
        try:
            with counts.in_progress():
                computed = counts.answered(compute(n))  # on the thread or greenlet the server called the app on
        except Exception as error:  # noqa: BLE001 - a user's task that raises: a 500 that says why
            raise TaskFailed(error) from None
        return task_response(strategy, task, n, computed)

    @app.route("/health", methods=["GET", "HEAD"])
    def healthy():
        return health()

    @app.route("/stats", methods=["GET", "HEAD"])
    def stats():
        return counts.snapshot()

    @app.route("/jobs", methods=["GET", "HEAD", "POST"])
    @app.route("/jobs/<path:job_id>", methods=["GET", "HEAD"])
    def jobs(job_id=None):
        raise no_jobs(strategy, flask.request.method, NO_JOBS_BECAUSE)

    return app
