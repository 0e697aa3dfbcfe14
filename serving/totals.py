"""What a server counts of the tasks it ran, for GET /stats: how many, and their wall and CPU seconds as the
processes that ran them measured each (tasks.answer). The harness reads the totals before and after a measured run:
the CPU the tasks themselves took, in the same minutes as the run, whatever the machine's speed did meanwhile.

Pre-fork copies (2_async.py --processes) each count their own, and each writes them to a file in a folder their
supervisor made (SHARED_ENV names it), so that any copy's GET /stats answers for all of them, replaced ones included.
"""

import inspect
import json
import os
import threading
import time

SHARED_ENV = "SERVER_TOTALS_DIR"


class TaskTotals:
    def __init__(self, shared_dir=None):
        self.shared_dir = shared_dir or os.environ.get(SHARED_ENV)
        self.own = {"tasks": 0, "task_s": 0.0, "task_cpu_s": 0.0, "tasks_without_cpu": 0, "failed": 0}
        self.started = round(time.time(), 3)
        self.lock = threading.Lock()

    def counted(self, compute):
        """compute(n), each answer it gives (and each task that raised) added to the totals; an async def stays
        one, a plain def (FastAPI runs it in a thread) stays plain."""

        async def counting(n):
            try:
                computed = await compute(n)
            except Exception:
                self.add(None)
                raise
            self.add(computed)
            return computed

        def counting_in_thread(n):
            try:
                computed = compute(n)
            except Exception:
                self.add(None)
                raise
            self.add(computed)
            return computed

        return counting if inspect.iscoroutinefunction(compute) else counting_in_thread

    def add(self, computed):
        """One task's answer (tasks.answer's fields), or None for a task that failed; from any thread."""
        with self.lock:
            self.add_locked(computed)

    def add_locked(self, computed):
        if computed is None:
            self.own["failed"] += 1
        else:
            self.own["tasks"] += 1
            self.own["task_s"] += computed["task_ms"] / 1000
            if computed.get("task_cpu_ms") is None:
                self.own["tasks_without_cpu"] += 1
            else:
                self.own["task_cpu_s"] += computed["task_cpu_ms"] / 1000
        if self.shared_dir:
            # One file per counter, whatever the process holds: a server may build its app more than once.
            path = os.path.join(self.shared_dir, f"{os.getpid()}-{id(self)}.json")
            try:
                with open(path + ".new", "w") as file:
                    json.dump(self.own, file)
                os.replace(path + ".new", path)  # whole, for a sibling reading it now
            except FileNotFoundError:
                pass  # the server is stopping and removed the folder: a worker ends its last task meanwhile

    def snapshot(self):
        """The totals so far: this process's, or every pre-fork copy's added up."""
        parts = [self.own]
        if self.shared_dir:
            parts = []
            for name in os.listdir(self.shared_dir):
                if name.endswith(".json"):
                    try:
                        with open(os.path.join(self.shared_dir, name)) as file:
                            parts.append(json.load(file))
                    except (OSError, ValueError):
                        pass  # a copy that ended as it was listed
        total = {key: sum(part.get(key, 0) for part in parts) for key in self.own}
        return {
            **{k: round(v, 6) if isinstance(v, float) else v for k, v in total.items()},
            "processes_counting": max(1, len(parts)),
            "since": self.started,
        }
