"""What the strategies differ on: whether /health is answered while a ~1 s task runs."""
import threading
import time

import pytest

from harness.servers import by_name, request

LONG_N = 600_000  # about 1 s


def health_during_a_long_task(process):
    """Start a ~1 s task, ask /health while it runs; return (health answered before the task?, health seconds)."""
    done = {}

    def long_task():
        request(process.port, f"/?n={LONG_N}")
        done["task"] = time.monotonic()

    worker = threading.Thread(target=long_task)
    worker.start()
    time.sleep(0.3)  # the task is running now
    assert "task" not in done, "the task ended too early to tell anything"
    started = time.monotonic()
    assert request(process.port, "/health")[0] == 200
    done["health"] = time.monotonic()
    worker.join(timeout=30)
    assert "task" in done
    return done["health"] < done["task"], done["health"] - started


@pytest.mark.parametrize("name", ["2_async --cooperative", "3_async_threadexecutor", "4_async_processexecutor",
                                  "5_async_dask"])
def test_health_answers_while_a_task_runs(start_server, name):
    answered_first, seconds = health_during_a_long_task(start_server(by_name(name)))
    assert answered_first, f"/health waited {seconds:.2f} s for the task"


@pytest.mark.parametrize("name", ["1_sync", "2_async"])
def test_health_waits_for_the_task(start_server, name):
    answered_first, seconds = health_during_a_long_task(start_server(by_name(name)))
    assert not answered_first, f"/health answered in {seconds:.3f} s, while the task ran"


def test_cooperative_gives_the_same_result_as_inline(start_server):
    inline = start_server(by_name("2_async"))
    cooperative = start_server(by_name("2_async --cooperative"))
    for n in (1, 1999, 2000, 2001, 4000, 123_457):
        assert request(inline.port, f"/?n={n}")[2]["result"] == request(cooperative.port, f"/?n={n}")[2]["result"]
