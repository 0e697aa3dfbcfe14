"""What a server counts of the tasks it ran, for GET /stats: how many, and their wall and CPU seconds as the
processes that ran them measured each (tasks.answer). The harness reads the totals before and after a measured run:
the CPU the tasks themselves took, in the same minutes as the run, whatever the machine's speed did meanwhile.

It also says how many tasks are in progress (from the request on, on Tornado; once a thread runs it, on FastAPI's
def endpoint and WSGI servers): the soak reads a server "at rest" when none is. Pre-fork copies (2_async.py
--processes) and WSGI workers each count their own, and each writes them to a file in a folder their supervisor made
(SHARED_ENV names it), so that any copy's GET /stats answers for all of them, replaced ones included.
"""

import contextlib
import inspect
import json
import os
import threading
import time

SHARED_ENV = "SERVER_TOTALS_DIR"


def alive(pid):
    """Whether process `pid` still runs (a zombie, killed and not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class TaskTotals:
    def __init__(self, shared_dir=None):
        self.shared_dir = shared_dir or os.environ.get(SHARED_ENV)
        self.own = {
            "tasks": 0,
            "task_s": 0.0,
            "task_cpu_s": 0.0,
            "tasks_without_cpu": 0,
            "failed": 0,
            # started and not yet answered, failed or dropped: on Tornado from the request on (waiting for a worker
            # included); on FastAPI's def endpoint and WSGI servers once a thread runs it
            "in_progress": 0,
        }
        self.started = round(time.time(), 3)
        self.lock = threading.Lock()

    def counted(self, compute):
        """compute(n), in progress while it runs, then its answer (or its failure) added to the totals; an async def
        stays one, a plain def (FastAPI runs it in a thread) stays plain."""

        async def counting(n):
            with self.in_progress():
                return self.answered(await compute(n))

        def counting_in_thread(n):
            with self.in_progress():
                return self.answered(compute(n))

        return counting if inspect.iscoroutinefunction(compute) else counting_in_thread

    @contextlib.contextmanager
    def in_progress(self):
        """One task while it runs: counted in progress; a failure if it raises; neither if it is dropped (cancelled
        for a client that left: a BaseException)."""
        self.change(in_progress=1)
        try:
            yield
        except Exception:
            self.change(in_progress=-1, failed=1)
            raise
        except BaseException:
            self.change(in_progress=-1)
            raise

    def answered(self, computed):
        """One task's answer (tasks.answer's fields), added; from any thread. Inside in_progress()."""
        cpu_ms = computed.get("task_cpu_ms")
        self.change(
            in_progress=-1,
            tasks=1,
            task_s=computed["task_ms"] / 1000,
            task_cpu_s=(cpu_ms or 0) / 1000,
            tasks_without_cpu=int(cpu_ms is None),
        )
        return computed

    def change(self, **deltas):
        with self.lock:
            for key, delta in deltas.items():
                self.own[key] += delta
            if self.shared_dir:
                self.save()

    def save(self):
        # One file per counter, whatever the process holds: a server may build its app more than once.
        path = os.path.join(self.shared_dir, f"{os.getpid()}-{id(self)}.json")
        try:
            with open(path + ".new", "w") as file:
                json.dump(self.own, file)
            os.replace(path + ".new", path)  # whole, for a sibling reading it now
        except OSError:
            pass  # the server is stopping and removed the folder: a worker ends its last task meanwhile

    def snapshot(self):
        """The totals so far: this process's, or every pre-fork copy's added up."""
        parts = [self.own]
        if self.shared_dir:
            parts = []
            try:
                names = os.listdir(self.shared_dir)
            except OSError:
                names = []  # the server is stopping
            for name in names:
                if name.endswith(".json"):
                    try:
                        with open(os.path.join(self.shared_dir, name)) as file:
                            part = json.load(file)
                        pid = int(name.split("-")[0].removesuffix(".json"))
                    except (OSError, ValueError):
                        continue  # a copy that ended as it was listed
                    if not alive(pid):
                        part["in_progress"] = 0  # a copy killed in a task: its counts stay, its tasks are gone
                    parts.append(part)
        total = {key: sum(part.get(key, 0) for part in parts) for key in self.own}
        return {
            **{k: round(v, 6) if isinstance(v, float) else v for k, v in total.items()},
            "processes_counting": max(1, len(parts)),
            "since": self.started,
        }
