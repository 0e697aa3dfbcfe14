"""1_sync: the standard library's single-threaded HTTPServer runs the task; one request at a time.

While a task runs nothing else is served, not even /health; other clients wait in the listen backlog.
"""

from http.server import HTTPServer

import tasks
from serving import cli, lifecycle, sync_http


class Handler(sync_http.SyncHandler):
    strategy = "1_sync"

    def compute(self, n):
        return tasks.run(self.task, n)  # right here, on the server's only thread


def main():
    args = cli.parse_args(__doc__, port=8000)
    sync_http.serve_sync(HTTPServer, Handler, args, "one request at a time")


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
