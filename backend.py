"""backend: a slow HTTP service for the ``http`` task kind: ``GET /?ms=N`` answers ``{"ms": N}`` after N ms.

It stands for the remote API, database or mail server that a web server's request waits on. It awaits its
delays on one IOLoop, so it holds thousands of delayed answers at once without being the bottleneck.
"""

import asyncio

import tornado.web

from serving import cli, lifecycle
from serving.contract import health

MAX_MS = 60_000


class Delayed(tornado.web.RequestHandler):
    async def get(self):
        try:
            ms = int(self.get_query_argument("ms", "100"))
        except ValueError:
            ms = -1
        if not 0 <= ms <= MAX_MS:
            self.set_status(400)
            return self.finish({"error": f"ms must be an integer from 0 to {MAX_MS}"})
        await asyncio.sleep(ms / 1000)
        self.write({"ms": ms})


class Health(tornado.web.RequestHandler):
    def get(self):
        self.write(health())


async def main():
    args = cli.parse_args(__doc__, port=8100, task=False)
    app = tornado.web.Application([(r"/", Delayed), (r"/health", Health)], log_function=lambda handler: None)
    try:
        app.listen(args.port, args.host, backlog=4096)
    except OSError as error:
        lifecycle.cannot_listen("backend", args, error)
    print(f"backend: serving http://{args.host}:{args.port}/?ms=N", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
