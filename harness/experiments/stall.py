"""Why the suite has two load models: a server that stalls for 2 s, measured by siege and by the open-loop driver.

Three copies of backend.py (each answers after 100 ms, on one IOLoop) on free ports, loaded at the same time for
`seconds`: one by siege (closed loop, 25 users) and one by the open-loop driver (20 requests/s), both frozen with
SIGSTOP for `pause_s` in the middle of the run; a third by the driver without the pause, for reference.

    .venv/bin/python -m harness.experiments.stall  # or: make stall (into docs/: make report ARGS="--only stall")
"""

import signal
import sys
import threading
import time

from harness.cli import OneLineParser
from harness.instruments.measure import percentiles
from harness.load import openloop, siege
from harness.network import HOST
from harness.server_process import ServerProcess
from harness.servers import BACKEND
from processes import free_port, on_stop_signals

MS = 100


def demonstrate(seconds=15, rate=20, users=25, pause_s=2.0, progress=print):
    """{'open_paused': {...}, 'siege_paused': {...}, 'open_unpaused': {...}}, each with p50/p90/p99/max in ms and
    the count of answers."""
    servers = [ServerProcess(BACKEND, free_port()) for _ in range(3)]
    results = {}
    try:
        for server in servers:
            server.start()
        if not all(server.wait_healthy(30) for server in servers):
            raise RuntimeError("backend.py did not come up: " + " | ".join(s.output().strip() for s in servers))
        paused, plain = servers[:2], servers[2]
        url = f"/?ms={MS}"

        def drive(name, server):
            run = openloop.run(f"http://{HOST}:{server.port}{url}", rate, seconds, drain_s=10)
            results[name] = {
                **run["latency_ms"],
                "answers": run.get("ok"),
                "failed": run.get("failed"),
                "send_lag_p99_ms": run.get("send_lag_ms", {}).get("p99"),
            }

        def closed(name, server):
            stdout, _, _ = siege.run(server.port, users, seconds, verbose=True, path=url)
            ok = [s * 1000 for status, s in siege.parse_transactions(stdout) if status == 200]
            results[name] = {**percentiles(ok, (50, 90, 99)), "answers": len(ok)}

        threads = [
            threading.Thread(target=drive, args=("open_paused", paused[0])),
            threading.Thread(target=closed, args=("siege_paused", paused[1])),
            threading.Thread(target=drive, args=("open_unpaused", plain)),
        ]
        for thread in threads:
            thread.start()
        time.sleep(seconds / 2 - pause_s / 2)
        progress(f"stall: SIGSTOP for {pause_s:g} s (pids {', '.join(str(s.process.pid) for s in paused)})")
        pause(paused, pause_s)
        for thread in threads:
            thread.join(seconds + 60)
    finally:
        for server in servers:
            server.stop()  # pause() has let them go on, whatever happened
    return results


def pause(servers, seconds):
    """Freeze the servers' processes for `seconds` (SIGSTOP), then let them go on (SIGCONT), whatever happens."""
    try:
        for server in servers:
            server.process.send_signal(signal.SIGSTOP)
        time.sleep(seconds)
    finally:
        for server in servers:
            server.process.send_signal(signal.SIGCONT)


def table(results, seconds=15, rate=20, users=25, pause_s=2.0):
    rows = [
        (f"open loop, {rate:g} requests/s, paused {pause_s:g} s", "open_paused"),
        (f"siege, {users} users, paused {pause_s:g} s", "siege_paused"),
        (f"open loop, {rate:g} requests/s, no pause", "open_unpaused"),
    ]
    lines = [f"{'load':40} {'answers':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for label, key in rows:
        r = results.get(key, {})
        cells = [f"{r[k]:8.0f}" if r.get(k) is not None else f"{'–':>8}" for k in ("p50", "p90", "p99", "max")]
        lines.append(f"{label:40} {r.get('answers', 0):8} {' '.join(cells)}")
    return "\n".join(lines)


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    on_stop_signals(first=lambda signum: None, status=1, grace_s=2)  # then every server is killed by pid
    print("stall: three backend.py servers, 15 s of load each (siege, open loop, open loop without the pause)")
    text = table(demonstrate(progress=lambda line: print(line, file=sys.stderr, flush=True)))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
