"""Signal storm: every server, started many times, gets SIGTERM or SIGINT (sometimes a second one) at a random
moment: idle, mid-request, mid-burst, right after a burst, or during start-up once its handlers are set. Each time
it must exit within 5 s with status 0, leave no process of its tree behind, and free its port.

Seeded: the seed is printed, and STORM_SEED=N replays a run. STORM_SCALE=10 makes it ten times longer
(`make storm`)."""

import os
import random
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.network import HOST
from harness.server_process import ServerProcess
from harness.servers import SERVERS
from processes import free_port, port_is_free

SEED = int(os.environ.get("STORM_SEED", time.time_ns() % 2**32))
SCALE = float(os.environ.get("STORM_SCALE", 1))
# Tries per server, by where its tasks run (a process pool, a Dask cluster, Redis and Celery take longer to start),
# and a time budget that bounds them.
TRIES = {"processes": 10, "cluster": 5, "queue": 8}
DEFAULT_TRIES = 12
BUDGET_S = 20
AT_ONCE = 3  # tries run side by side, on ports of their own: a storm on a busy machine
MOMENTS = ["start-up", "idle", "mid-request", "mid-burst", "after-burst"]
EXIT_WITHIN_S = 5


def signal_bits(pid, field):
    """The signals of /proc/PID/status's `field` (SigCgt: caught, SigIgn: ignored) as a set of numbers."""
    with open(f"/proc/{pid}/status") as status:
        mask = int(next(line.split()[1] for line in status if line.startswith(field + ":")), 16)
    return {signum for signum in range(1, 65) if mask >> (signum - 1) & 1}


def handlers_set(pid):
    try:
        return {signal.SIGTERM, signal.SIGINT} <= signal_bits(pid, "SigCgt")
    except (OSError, StopIteration):
        return False


def fire_and_forget(port, count, n_max):
    """`count` requests in threads of their own; they may fail once the server is gone."""

    def one(n):
        try:
            with socket.create_connection((HOST, port), timeout=10) as client:
                client.sendall(f"GET /?n={n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                client.recv(1024)
        except OSError:
            pass

    threads = [threading.Thread(target=one, args=(random.randint(1, n_max),), daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def one_try(server, rng):
    """One start, load, signal; the problems seen (an empty list if none) and what was done (its moment)."""
    moment = rng.choice(MOMENTS)
    signum = rng.choice([signal.SIGTERM, signal.SIGINT])
    second = rng.random() < 0.3
    done = f"{moment} {signal.Signals(signum).name}{' x2' if second else ''}"
    process = ServerProcess(server, free_port()).start()
    clients = []
    try:
        deadline = time.monotonic() + 60
        while not handlers_set(process.process.pid):
            if process.process.poll() is not None or time.monotonic() > deadline:
                return [f"{done}: never set its handlers:\n{process.output()}"], done
            time.sleep(0.005)
        if moment == "start-up":
            time.sleep(rng.uniform(0, 0.5))  # a pool or cluster may be starting now
        elif not process.wait_healthy(60):
            return [f"{done}: did not come up:\n{process.output()}"], done
        elif moment == "mid-request":
            clients = fire_and_forget(process.port, 1, 2_000_000)
            time.sleep(rng.uniform(0.05, 0.5))
        elif moment in ("mid-burst", "after-burst"):
            clients = fire_and_forget(process.port, rng.randint(5, 40), 50_000)
            time.sleep(rng.uniform(0, 0.3))
            if moment == "after-burst":
                for client in clients:
                    client.join(30)
        process.processes()  # remember the whole tree as it is now
        if signal.SIGTERM in signal_bits(process.process.pid, "SigIgn"):
            return [f"{done}: the server ignores SIGTERM"], done
        started = time.monotonic()
        process.send(signum)
        if second:
            time.sleep(rng.uniform(0, 1))
            process.send(signum)
        left = process.leftovers(timeout=EXIT_WITHIN_S - (time.monotonic() - started))
        took = time.monotonic() - started
        problems = []
        if process.process.poll() is None or left:
            problems.append(f"{done}: after {took:.1f} s still alive: {[p.pid for p in left]}")
        elif process.process.returncode != 0:
            problems.append(f"{done}: exit status {process.process.returncode}:\n{process.output()}")
        if not port_is_free(process.port):
            problems.append(f"{done}: port {process.port} still taken")
        if "Traceback" in process.output():
            problems.append(f"{done}: traceback:\n{process.output()}")
        return problems, done
    finally:
        process.stop()
        for client in clients:
            client.join(15)


@pytest.mark.timeout(int(120 + 3 * BUDGET_S * SCALE))
@pytest.mark.parametrize("server", SERVERS, ids=[server.label for server in SERVERS])
def test_signal_storm(server, say):
    if server.missing:
        pytest.skip(f"{server.name}: {server.missing}")
    tries = int(TRIES.get(server.runs_in, DEFAULT_TRIES) * SCALE)
    deadline = time.monotonic() + BUDGET_S * SCALE
    started = time.monotonic()

    def numbered_try(index):
        if time.monotonic() > deadline:
            return None
        return one_try(server, random.Random(f"{SEED}-{server.name}-{index}"))  # the same try, whatever the timing

    with ThreadPoolExecutor(AT_ONCE) as pool:
        outcomes = [outcome for outcome in pool.map(numbered_try, range(tries)) if outcome]
    problems = [problem for found, _ in outcomes for problem in found]
    moments = {}
    for _, done in outcomes:
        moments[done] = moments.get(done, 0) + 1
    say(
        f"signal storm, {server.name}: {len(outcomes)} tries in {time.monotonic() - started:.0f} s, seed {SEED} "
        f"(STORM_SEED={SEED} replays it): " + ", ".join(f"{k} {v}" for k, v in sorted(moments.items()))
    )
    assert not problems, f"seed {SEED}: " + "\n".join(problems)
    assert len(outcomes) >= min(tries, 8), f"only {len(outcomes)} tries fitted in {BUDGET_S * SCALE} s"
