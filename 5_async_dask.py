"""5_async_dask: Tornado hands the task to a Dask distributed cluster.

By default the cluster is embedded: a LocalCluster of --workers single-threaded worker processes on this machine.
With --scheduler tcp://HOST:8786 the server uses a running cluster instead, whose workers may be on other
machines, and starts none. Either way the IOLoop only awaits: Dask's client is asynchronous.
"""

import asyncio

import tasks
from serving import cli, dask_cluster, lifecycle, web


async def main():
    args = cli.parse_args(
        __doc__,
        port=8004,
        workers=True,
        options={
            "--scheduler": dict(metavar="tcp://HOST:8786", help="use this running cluster instead of starting one"),
            "--dashboard": dict(action="store_true", help="serve Dask's dashboard on :8787 (needs bokeh)"),
            "--threads": dict(
                type=int, default=1, help="threads per embedded worker (default 1; more for waiting tasks)"
            ),
        },
    )
    cluster = await dask_cluster.connect(args)  # serving/dask_cluster.py: embedded, or the one at --scheduler

    async def compute(n):
        cluster.check_a_worker()  # else a 503 at once
        # pure=False: by default Dask gives identical calls one shared, cached result: no work would be done.
        future = cluster.client.submit(tasks.run, args.task, n, pure=False)
        return await cluster.awaited(future)  # a 503 if the cluster loses it (no worker left, say)

    where = args.scheduler or f"an embedded LocalCluster, {args.threads} thread(s) each"
    settings = f"{cluster.workers()} Dask workers on {where}"
    # Background jobs a few at a time: one per worker thread, or --workers while none has joined a cluster yet.
    threads = cluster.client.scheduler_info()["total_threads"] or args.workers
    serving = web.serve("5_async_dask", compute, args, settings, job_slots=threads)
    await asyncio.gather(cluster.cancel_when_no_worker_is_left(), serving)


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
