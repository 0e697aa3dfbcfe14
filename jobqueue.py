"""Celery on Redis, for 6_async_celery.py: the Celery app and its tasks, what a worker imports (the web server's side
of it is serving/celery_client.py). Nothing of the web server here: a worker imports Celery and the task only.

Workers on any machine with a checkout of this project and its requirements start the standard way:

    celery --app jobqueue --broker redis://HOST:6379/0 worker --concurrency 2
"""

import json
import os

from celery import Celery, signals

import tasks

BROKER = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")  # what `celery --broker` sets
VISIBILITY_TIMEOUT_S = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 600))  # make cluster measures a short one

app = Celery("jobqueue", broker=BROKER, backend=os.environ.get("CELERY_RESULT_BACKEND", BROKER))
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # At least once: a task is acknowledged after it has run, not when a worker takes it, so one whose worker
    # process dies mid-task (SIGKILL, the OOM killer) goes back to the queue and runs again. The price: a task
    # that finished just before its worker died runs twice. The tasks here can (they only compute).
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    # A task taken by a worker that vanished whole (its machine, say) is handed out again after this long. It
    # must exceed the longest task (2 000 000 numbers: ~5 s here), or a task still running would run again too.
    # Workers look for such tasks every few seconds (kombu's own default scans once in 100 s).
    broker_transport_options={
        "visibility_timeout": VISIBILITY_TIMEOUT_S,
        "unacked_restore_throttle": 1,
        "unacked_restore_interval": max(1, min(10, VISIBILITY_TIMEOUT_S // 5)),
    },
    task_track_started=True,  # so that GET /jobs/<id> can say "running"
    result_expires=24 * 3600,
    result_backend_always_retry=True,  # a result finished while Redis restarts is stored when it is back
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


# The task an embedded worker serves (serving/celery_client.py sets it): its modules imported once, before the
# worker forks its processes, and the db kind's connection opened in each process before the first request.
# Without it, each of 25 processes imports SQLAlchemy and sets up its engine on its first task, in the load.
SERVED = json.loads(os.environ.get("JOBQUEUE_TASK", "null"))


@signals.worker_init.connect
def prepare_before_forking(**_):
    if SERVED:
        tasks.prepare(tasks.Task(*SERVED))


@signals.worker_process_init.connect
def connect_in_each_process(**_):
    if SERVED:
        tasks.connect(tasks.Task(*SERVED))


@app.task(name="jobqueue.run")  # the name on the wire: workers of older checkouts know it
def run_task(kind, backend, n, database=None, db_pool=None):
    return tasks.run(tasks.Task(kind, backend, database, db_pool), n)


@app.task(name="jobqueue.prepare")
def prepare(kind, backend, database=None, db_pool=None):
    return tasks.prepare(tasks.Task(kind, backend, database, db_pool))
