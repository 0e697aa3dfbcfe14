"""The HTTP interface on the standard library's http.server: one thread, one request at a time (1_sync.py)."""

import http.server
import json

from . import lifecycle
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


class SyncHandler(http.server.BaseHTTPRequestHandler):
    """The same HTTP interface for http.server; a subclass sets `strategy` and defines compute(n) -> answer().
    serve_sync sets `task`, `kind` and `totals`."""

    timeout = 5  # seconds a client may stall while sending: one slow client holds a one-thread server this long

    def do_GET(self):
        self.answering(self.get)

    do_HEAD = do_GET

    def do_POST(self):
        self.answering(self.post)

    def get(self):
        path, _, query = self.path.partition("?")
        if path == "/health":
            return health()
        if path == "/stats":
            return self.totals.snapshot()
        if path == "/jobs" or path.startswith("/jobs/"):
            raise no_jobs(self.strategy, self.command)
        if path != "/":
            raise no_such_path(path)
        n = parse_n(query, self.kind)
        try:
            with self.totals.in_progress():
                computed = self.totals.answered(self.compute(n))
        except Exception as error:  # noqa: BLE001 - a user's task that raises: a 500 that says why
            raise TaskFailed(error) from None
        return task_response(self.strategy, self.task, n, computed)

    def post(self):
        if self.path.partition("?")[0] == "/jobs":
            raise no_jobs(self.strategy, self.command)
        raise method_not_allowed(self.command)

    def answering(self, method):
        """method()'s answer, a 200; or the Problem it raised, answered as the contract says (the one place)."""
        try:
            body = method()
        except Problem as problem:
            status, headers, body = problem.answer()
            return self.send_json(status, body, headers)
        self.send_json(200, body)

    def send_json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code, message=None, explain=None):
        # http.server's own errors (malformed request line, oversize header...) answer in JSON too, and with a
        # status line even when the request line was too garbled to say which HTTP version the client speaks.
        self.request_version = "HTTP/1.0" if self.request_version == "HTTP/0.9" else self.request_version
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def __getattr__(self, name):
        # Every other method, even one HTTP does not know, gets 405 (http.server would say 501), as on Tornado.
        if name.startswith("do_"):
            return lambda: self.answering(self.not_allowed)
        raise AttributeError(name)

    def not_allowed(self):
        raise method_not_allowed(self.command)

    def log_message(self, format, *args):
        pass  # no access log, as on the Tornado servers


def serve_sync(server_class, handler_class, args, settings):
    """Serve http.server requests until SIGINT or SIGTERM."""
    handler_class.task, handler_class.kind, handler_class.totals = args.task, args.task.spec(), TaskTotals()
    try:
        server = server_class((args.host, args.port), handler_class)
    except OSError as error:
        lifecycle.cannot_listen(handler_class.strategy, args, error)
    with server:
        lifecycle.announce(handler_class.strategy, args, settings)
        server.serve_forever()
