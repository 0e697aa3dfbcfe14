"""Server 5's side of Dask (5_async_dask.py): the cluster it hands tasks to (embedded, or a running one), Dask's
settings for the embedded one, and the tasks it awaits: each failed as Unavailable (a 503) when no worker is left,
where Dask would keep it waiting for one forever. Dask's client is asynchronous: nothing here blocks the loop."""

import asyncio

import dask.config
from distributed import Client, LocalCluster
from distributed.client import FutureCancelledError

import tasks

from . import lifecycle
from .contract import Unavailable

# Dask's housekeeping runs on the cores that compute the task. Measured on 2 cores, these settings cut the CPU it
# costs per request by about 5 % (docs/scaling.rst); they apply to the embedded cluster.
dask.config.set(
    {
        "distributed.admin.tick.interval": "1s",
        "distributed.admin.system-monitor.interval": "5s",
        "distributed.scheduler.work-stealing": False,
        "distributed.worker.profile.enabled": False,
    }
)


class Cluster:
    """A Dask client, and the tasks awaited through it (in_flight)."""

    def __init__(self, client):
        self.client, self.in_flight = client, set()

    def workers(self):
        return self.client.scheduler_info()["n_workers"]

    def check_a_worker(self):
        """Unavailable at once, not a task queued for no worker."""
        if self.client.status != "running" or not self.workers():
            raise Unavailable("no Dask worker is available")

    async def awaited(self, future):
        """The task's answer; Unavailable if the cluster lost it (cancelled when no worker was left, say)."""
        self.in_flight.add(future)
        try:
            return await future
        except (FutureCancelledError, OSError) as error:
            raise Unavailable(f"the Dask cluster lost the task: {error}") from None
        finally:
            self.in_flight.discard(future)

    async def cancel_when_no_worker_is_left(self):
        """Beside the server, for as long as it serves: a task waits for a worker forever; answer 503 instead."""
        while True:
            await asyncio.sleep(1)
            if self.in_flight and not self.workers():
                await self.client.cancel(list(self.in_flight))


async def connect(args):
    """The cluster at --scheduler, or an embedded LocalCluster of --workers processes of --threads threads; every
    worker has imported the task before the first request. A scheduler that cannot be reached is one line."""
    try:
        if args.scheduler:
            client = await Client(args.scheduler, asynchronous=True, timeout=10)
            for module in tasks.module_files(args.task):  # workers elsewhere need not have a checkout of this project
                await client.upload_file(module)
        else:
            cluster = await LocalCluster(
                n_workers=args.workers,
                threads_per_worker=args.threads,
                processes=True,
                asynchronous=True,
                dashboard_address=":8787" if args.dashboard else ":0",
            )
            client = await Client(cluster, asynchronous=True)
            await client.wait_for_workers(args.workers)
    except (OSError, TimeoutError) as error:
        lifecycle.fail(f"5_async_dask: cannot reach the Dask scheduler at {args.scheduler}: {error}")
    await client.run(tasks.prepare, args.task)
    return Cluster(client)
