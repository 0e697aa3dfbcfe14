"""What removing the GIL costs one thread, and what it buys two: each computing task kind's T1 on the free-threaded
build against its twin with the GIL (the same CPython source, configure flags and machine: the difference is the
GIL's, not the build's), and the cores two cpu tasks in two threads keep busy on each. Interleaved rounds, each a
ratio within the round, as this machine's speed drifts by tens of percent within minutes.

    make gil-cost        # .venv313t's interpreter against tools/free_threaded_python.sh --gil's twin
"""

import json
import statistics
import sys

from harness.cli import OneLineParser
from harness.interpreters import NoAnswer, ask

KINDS = {"cpu": 140_000, "hash": 8_000}  # the kinds that compute, at their default sizes
# In the interpreter measured: T1 of each kind (the median of 5), and the process's CPU seconds per wall second
# while two threads each run one cpu task.
PROBE = """
import json, sys, threading, time, tasks
kinds = json.loads(sys.argv[1])
found = {kind: tasks.time_task(tasks.Task(kind, ""), n, runs=5) for kind, n in kinds.items()}
threads = [threading.Thread(target=tasks.run, args=(tasks.Task("cpu", ""), 2 * kinds["cpu"])) for _ in range(2)]
cpu, wall = time.process_time(), time.perf_counter()
for thread in threads: thread.start()
for thread in threads: thread.join()
found["two_threads_cores"] = (time.process_time() - cpu) / (time.perf_counter() - wall)
print(json.dumps(found))
"""


def measure(python):
    try:
        return json.loads(ask(python, PROBE, json.dumps(KINDS), timeout=300))
    except NoAnswer as failed:
        raise SystemExit(f"gil_cost: {failed}") from None


def spread(values, digits=2):
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def interleaved(free_threaded, gil, count):
    """`count` rounds, each measuring the free-threaded interpreter, then its twin with the GIL."""
    rounds = []
    for round_ in range(count):
        rounds.append({"free": measure(free_threaded), "gil": measure(gil)})
        print(f"gil_cost: round {round_ + 1} of {count} done", file=sys.stderr, flush=True)
    return rounds


def report(rounds):
    """The rounds' figures, each a median (range) of the rounds'."""
    print(f"{len(rounds)} interleaved rounds; median (range) of each round's figure")
    print(f"{'kind':6} {'T1 GIL ms':>20} {'T1 free-threaded ms':>22} {'free-threaded ÷ GIL':>22}")
    for kind, _n in KINDS.items():
        gil = [r["gil"][kind] * 1000 for r in rounds]
        free = [r["free"][kind] * 1000 for r in rounds]
        ratio = [r["free"][kind] / r["gil"][kind] for r in rounds]
        print(f"{kind:6} {spread(gil, 1):>20} {spread(free, 1):>22} {spread(ratio):>22}")
    print(
        f"two cpu tasks (n={2 * KINDS['cpu']}) in two threads, cores busy: with the GIL "
        f"{spread([r['gil']['two_threads_cores'] for r in rounds])}, free-threaded "
        f"{spread([r['free']['two_threads_cores'] for r in rounds])}"
    )


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--free-threaded", required=True, help="the free-threaded interpreter")
    parser.add_argument("--gil", required=True, help="its twin with the GIL: same source and flags")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    options = parser.parse_args(argv)
    if not 1 <= options.rounds <= 50:
        parser.error("--rounds must be from 1 to 50")
    report(interleaved(options.free_threaded, options.gil, options.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
