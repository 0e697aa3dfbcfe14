"""Your own task, measured by the suite: an example. Any importable function of one integer n that returns
something JSON can encode will do; an ``async def`` for ``2_async.py --cooperative``.

    PYTHONPATH=examples .venv/bin/python 4_async_processexecutor.py --task myjob:render
    curl 'http://127.0.0.1:8003/?n=500'
    PYTHONPATH=examples make bench ARGS="--task myjob:render"

DEFAULT_N and MAX_N, if the module has them, set GET /'s default n and the largest n it accepts.
"""

import asyncio
import json

DEFAULT_N = 15_000  # rows: about 100 ms here
MAX_N = 750_000


def render(n):
    """Build a report of n rows, serialise it to JSON and read it back: Python objects and the json module, which
    holds the GIL, like most of what a web request does."""
    rows = [{"id": i, "name": f"item {i}", "price": round(i * 1.07, 2), "tags": ["new", str(i % 7)]} for i in range(n)]
    text = json.dumps(rows)
    return {"rows": len(json.loads(text)), "bytes": len(text)}


async def render_after_a_query(n):
    """For --cooperative: wait 50 ms for a database as an async client would, then render (which blocks the
    IOLoop: the cooperative variant only helps with the wait)."""
    await asyncio.sleep(0.05)
    return render(n)
