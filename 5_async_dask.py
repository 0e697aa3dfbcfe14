"""5_async_dask: Tornado hands the task to a Dask distributed cluster.

By default the cluster is embedded: a LocalCluster of --workers single-threaded worker processes on this machine.
With --scheduler tcp://HOST:8786 the server uses a running cluster instead, whose workers may be on other
machines, and starts none. Either way the IOLoop only awaits: Dask's client is asynchronous.
"""
import asyncio

import dask.config
from distributed import Client, LocalCluster
from distributed.client import FutureCancelledError
from tornado.web import HTTPError

import tasks
from serving import cli, lifecycle, web

# Dask's housekeeping runs on the cores that compute the task. Measured on 2 cores, these settings cut the CPU it
# costs per request by about 5 % (docs/scaling.rst); they apply to the embedded cluster.
dask.config.set({"distributed.admin.tick.interval": "1s", "distributed.admin.system-monitor.interval": "5s",
                 "distributed.scheduler.work-stealing": False, "distributed.worker.profile.enabled": False})


async def connect(args):
    if args.scheduler:
        client = await Client(args.scheduler, asynchronous=True, timeout=10)
        for module in tasks.module_files(args.task):  # workers elsewhere need not have a checkout of this project
            await client.upload_file(module)
        return client
    cluster = await LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, processes=True,
                                 asynchronous=True, dashboard_address=":8787" if args.dashboard else ":0")
    client = await Client(cluster, asynchronous=True)
    await client.wait_for_workers(args.workers)
    return client


async def main():
    args = cli.parse_args(__doc__, port=8004, workers=True, options={
        "--scheduler": dict(metavar="tcp://HOST:8786", help="use this running cluster instead of starting one"),
        "--dashboard": dict(action="store_true", help="serve Dask's dashboard on :8787 (needs bokeh)"),
        "--threads": dict(type=int, default=1, help="threads per embedded worker (default 1; more for waiting tasks)")})
    try:
        client = await connect(args)
    except (OSError, TimeoutError) as error:
        lifecycle.fail(f"5_async_dask: cannot reach the Dask scheduler at {args.scheduler}: {error}")

    in_flight = set()

    async def compute(n):
        if client.status != "running" or not client.scheduler_info()["n_workers"]:
            raise HTTPError(503, log_message="no Dask worker is available")
        # pure=False: by default Dask gives identical calls one shared, cached result: no work would be done.
        future = client.submit(tasks.run, args.task, n, pure=False)
        in_flight.add(future)
        try:
            return await future
        except (FutureCancelledError, OSError) as error:
            raise HTTPError(503, log_message=f"the Dask cluster lost the task: {error}") from None
        finally:
            in_flight.discard(future)

    async def cancel_when_no_worker_is_left():
        while True:  # a task waits for a worker forever: answer 503 instead
            await asyncio.sleep(1)
            if in_flight and not client.scheduler_info()["n_workers"]:
                await client.cancel(list(in_flight))

    await client.run(tasks.prepare, args.task)  # every worker imports the task before the first request
    workers = client.scheduler_info()["n_workers"]
    where = args.scheduler or f"an embedded LocalCluster, {args.threads} thread(s) each"
    # Background jobs a few at a time: one per worker thread, or --workers while none has joined a cluster yet.
    threads = client.scheduler_info()["total_threads"] or args.workers
    await asyncio.gather(cancel_when_no_worker_is_left(),  # beside the server, for as long as it serves
                         web.serve("5_async_dask", compute, args, f"{workers} Dask workers on {where}",
                                   job_slots=threads))


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
