"""The HTTP interface on the standard library's http.server: one thread, one request at a time (1_sync.py)."""

import http.server
import json

from . import lifecycle
from .contract import BadRequest, health, method_not_allowed, no_jobs, parse_n, task_response
from .totals import TaskTotals


class SyncHandler(http.server.BaseHTTPRequestHandler):
    """The same HTTP interface for http.server; a subclass sets `strategy` and defines compute(n) -> answer().
    serve_sync sets `task`, `kind` and `totals`."""

    timeout = 5  # seconds a client may stall while sending: one slow client holds a one-thread server this long

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/health":
            return self.send_json(200, health())
        if path == "/stats":
            return self.send_json(200, self.totals.snapshot())
        if path == "/jobs" or path.startswith("/jobs/"):
            return self.send_json(404, {"error": no_jobs(self.strategy)})
        if path != "/":
            return self.send_json(404, {"error": f"no such path: {path[:80]}"})
        try:
            n = parse_n(query, self.kind)
        except BadRequest as error:
            return self.send_json(400, {"error": str(error)})
        try:
            computed = self.compute(n)
        except Exception as error:  # noqa: BLE001 - a user's task that raises: a 500 that says why
            self.totals.add(None)
            return self.send_json(500, {"error": f"the task raised {type(error).__name__}: {error}"})
        self.totals.add(computed)
        self.send_json(200, task_response(self.strategy, self.task, n, computed))

    do_HEAD = do_GET

    def do_POST(self):
        if self.path.partition("?")[0] == "/jobs":
            return self.send_json(405, {"error": no_jobs(self.strategy)})
        self.send_json(405, {"error": method_not_allowed(self.command)})

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
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
            return lambda: self.send_json(405, {"error": method_not_allowed(self.command)})
        raise AttributeError(name)

    def log_message(self, format, *args):
        pass  # no access log, as on the Tornado servers


def serve_sync(server_class, handler_class, args, settings):
    """Serve http.server requests until SIGINT or SIGTERM."""
    handler_class.task, handler_class.kind, handler_class.totals = args.task, args.task.spec(), TaskTotals()
    try:
        server = server_class((args.host, args.port), handler_class)
    except OSError as error:
        lifecycle.fail(f"{handler_class.strategy}: cannot listen on {args.host}:{args.port}: {error.strerror}")
    with server:
        lifecycle.announce(handler_class.strategy, args, settings)
        server.serve_forever()
