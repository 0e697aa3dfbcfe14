"""1_sync: the standard library's single-threaded HTTPServer runs the task; one request at a time.

While a task runs nothing else is served, not even /health; other clients wait in the listen backlog.
"""
from http.server import HTTPServer

import common
import tasks


class Handler(common.SyncHandler):
    strategy = "1_sync"

    def compute(self, n):
        return tasks.run(self.task, n)  # right here, on the server's only thread


def main():
    args = common.parse_args(__doc__, port=8000)
    common.serve_sync(HTTPServer, Handler, args, "one request at a time")


if __name__ == "__main__":
    common.run(main)
