"""Open-loop load: requests sent on a schedule whatever the answers, latency taken from when each was *due*.

A closed loop (siege) sends a user's next request only when the previous one is answered: when the server stalls,
the load stalls with it, and the stall hides in a few samples ("coordinated omission", Gil Tene's term). Here
request i is due at a fixed time (i / rate, or Poisson arrivals), is sent then on a new connection whatever is
still in flight, and its latency is answer time − due time, as wrk2 measures it. Latencies go into an HDR
histogram in µs.

It checks its own honesty: the send lag (when it began to connect for the request, from aiohttp's trace hooks, − its
due time: the driver's own lateness; how long the connection then took is the server's kernel's, recorded apart as
connect_ms, where a full listen queue shows as a retried SYN) is recorded, and a run whose send-lag p99 is over
MAX_SEND_LAG_MS, or whose largest is over MAX_SEND_LAG_MAX_MS, is marked invalid (the driver could not keep the
schedule, so the latencies are not the server's). Requests still unanswered when the schedule ends are waited for up
to `drain_s`, then counted as failures (`unfinished`); a refused or reset connection, or an answer other than 200,
is a failure at its time. A failure never got an answer: the latency percentiles are of every request sent, a
failure counted as slower than any answer, so that a percentile that falls among the failures reads {"p99": None,
"p99_above": the largest answer} and never as a figure. The requests in flight at each send, averaged over the
schedule's first half and its second (`in_flight_halves`), say whether the backlog grew (harness/run/capacity.py).

    .venv/bin/python -m harness.load.openloop http://127.0.0.1:8003/ --rate 10 --duration 30
"""

import asyncio
import ipaddress
import json
import math
import os
import random
import sys
import urllib.parse
from collections import Counter

import aiohttp
from hdrh.histogram import HdrHistogram

from harness.cli import OneLineParser
from harness.instruments.measure import histogram_summary, rank, short_summary
from harness.network import HOSTS_NETWORK
from harness.servers import ROOT
from harness.subprocesses import run_bounded

MAX_SEND_LAG_MS = 5.0
MAX_SEND_LAG_MAX_MS = 50.0  # one send this late is a scheduler's hiccup the max and p99.9 columns would show
HIGHEST_US = 3_600_000_000  # the histogram's range: 1 µs to an hour, 3 significant figures
SPIN_S = 0.001
# How far ahead of now a caller sets the schedule's second 0 (`start`) when it starts the driver's process itself
# (run(), in_a_process): the process is up in 0.2 s on an idle machine; a late one would send its first requests in
# a burst, which its send lag would show.
LEAD_S = 2


def schedule(rate, seconds, arrivals="constant", seed=None):
    """When each request is due, in seconds from the start: every 1/rate s, or a Poisson process of that rate."""
    if arrivals == "constant":
        return [i / rate for i in range(math.ceil(rate * seconds - 1e-9))]
    rng = random.Random(seed)
    due, times = rng.expovariate(rate), []
    while due < seconds:
        times.append(due)
        due += rng.expovariate(rate)
    return times


def allowed_late(count):
    """How many of `count` answers may be over a latency target while the p99 is within it, by the suite's
    percentile definition (measure.rank), which histogram_summary's HdrHistogram uses too."""
    return count - rank(99.0, count)


async def drive(
    url,
    rate,
    seconds,
    arrivals="constant",
    seed=None,
    drain_s=30.0,
    slo_ms=None,
    progress=None,
    method="GET",
    accepted=None,
    requests=None,
    start=None,
    failures=False,
):
    """Load `url` at `rate` requests/s for `seconds`; the run's figures as a dict (see the module's doc).

    With `slo_ms`, the run stops early once its p99 can no longer be within the SLO and without a failure: a
    request failed, or more answers are late (or still in flight past it) than allowed_late() lets the p99 of
    all planned requests bear (`stopped_early`). With method="POST" (the background jobs' submitter), a 202 is
    the success, and accepted(body, due, url) gets each, due in loop time. `requests`, (due second, url) pairs,
    are the schedule in place of the rate's (`arrivals` and `seed` unused; `rate` and `seconds` still size the
    spin and the halves), each pair's url on the caller's word that it is on an allowed host (a POST's query
    changed, say); `start`, a time.monotonic() (the loop's clock, and every process's: a caller's too; LEAD_S
    ahead lets the driver's process start), is the schedule's second 0 rather than now. With `failures`, the run
    has each failed request (refused, reset, not a success, or unanswered when the drain ended) as [its due
    second, seconds from then until it failed or was given up] (`failures`), and the longest of every request's
    wait, success or failure (`longest_wait_ms`)."""
    success = 202 if method == "POST" else 200
    if requests is None:
        requests = [(due, url) for due in schedule(rate, seconds, arrivals, seed)]
    requests = sorted(requests)
    dues = [due for due, _ in requests]
    latencies, lags, connects = (HdrHistogram(1, HIGHEST_US, 3) for _ in range(3))
    errors, in_flight, failed_due = Counter(), {}, []  # in_flight: task -> due time
    started = 0
    backlog = ([], [])  # the requests in flight at each send, in the schedule's first half and its second
    late = 0  # answers (or failures) later than the SLO
    allowed = allowed_late(len(dues))
    loop = asyncio.get_running_loop()

    async def connecting(session, context, params):
        """aiohttp's trace hook: it starts connecting for the request, now; its due time rode along."""
        context.connecting = loop.time()
        lags.record_value(max(1, round((context.connecting - context.trace_request_ctx["due"]) * 1e6)))

    async def connected(session, context, params):
        connects.record_value(max(1, round((loop.time() - context.connecting) * 1e6)))

    tracing = aiohttp.TraceConfig()
    tracing.on_connection_create_start.append(connecting)
    tracing.on_connection_create_end.append(connected)

    async def one(session, due, target):
        nonlocal late, started
        started += 1
        try:
            async with session.request(method, target, trace_request_ctx={"due": due}) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError) as error:
            errors[type(error).__name__] += 1
            failed_due.append((round(due - start, 3), round(loop.time() - due, 3)))
            late += 1  # a failure is never within the SLO
            return
        latency = loop.time() - due
        if status != success:
            errors[f"HTTP {status}"] += 1
            failed_due.append((round(due - start, 3), round(latency, 3)))
            late += 1
        else:
            latencies.record_value(max(1, round(latency * 1e6)))
            if accepted:
                accepted(json.loads(body), due, target)
            late += slo_ms is not None and latency * 1000 > slo_ms

    def over_slo(now):
        waiting = sum(1 for due in in_flight.values() if (now - due) * 1000 > slo_ms)
        return sum(errors.values()) > 0 or late + waiting > allowed

    connector = aiohttp.TCPConnector(limit=0, force_close=True)  # a new connection each, Connection: close
    timeout = aiohttp.ClientTimeout(total=None, connect=None)  # answers are waited for until the drain ends
    stopped_early = False
    spin_s = min(SPIN_S, 0.1 / rate)  # at most a tenth of the gap between sends: the driver must not eat a core
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[tracing]) as session:
        start = loop.time() + 0.05 if start is None else start
        next_report = start + 5
        for due, target in requests:
            due += start
            if due - loop.time() > spin_s:  # the loop's timers wake up to 1 ms late, and an idle VM later still:
                await asyncio.sleep(due - loop.time() - spin_s)
            while loop.time() < due:  # so the last spin_s are spent awake, letting answers be read meanwhile
                await asyncio.sleep(0)
            now = loop.time()
            if slo_ms is not None and over_slo(now):
                stopped_early = True
                break
            if progress and now >= next_report:
                progress(
                    f"{now - start:.0f} s of {seconds:g}: {len(in_flight)} in flight, {latencies.total_count} "
                    f"answered, {sum(errors.values())} failed"
                )
                next_report += 5
            backlog[due - start >= seconds / 2].append(len(in_flight))
            task = asyncio.create_task(one(session, due, target))
            in_flight[task] = due
            task.add_done_callback(in_flight.pop)
        scheduled_end = loop.time()
        pending = set(in_flight)
        if pending and not stopped_early:
            _, pending = await asyncio.wait(pending, timeout=drain_s)
        for task in pending:
            if not stopped_early:  # given up at the drain's end: a failure (cut off by the SLO: censored)
                failed_due.append((round(in_flight[task] - start, 3), round(loop.time() - in_flight[task], 3)))
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    ended = loop.time()
    lag = histogram_summary(lags)
    cut_off = len(pending) if stopped_early else 0  # unanswered when it stopped: censored, not failed
    failed = sum(errors.values()) + len(pending) - cut_off
    run = {
        "mode": "open",
        "rate": rate,
        "arrivals": arrivals,
        "duration_s": seconds,
        "planned": len(dues),
        "sent": started,
        "ok": latencies.get_total_count(),
        "failed": failed,
        "errors": dict(errors),
        "unfinished": len(pending) - cut_off,
        "stopped_early": stopped_early,
        "in_flight_at_stop": cut_off,
        # the mean of each half's counts: a backlog that grows shows as a second half above the first
        "in_flight_halves": [round(sum(half) / len(half), 2) for half in backlog] if all(backlog) else None,
        "elapsed_s": round(ended - start, 2),
        "drain_s": round(ended - scheduled_end, 2),
        "transaction_rate": round(latencies.get_total_count() / max(ended - start, 1e-9), 2),
        "latency_ms": histogram_summary(latencies, failed + cut_off),
        "latency_hist": latencies.encode().decode(),  # so that --repeat's rounds can be merged (report.median_run)
        "send_lag_ms": short_summary(lag),
        "connect_ms": short_summary(histogram_summary(connects)),
        "valid": lags.get_total_count() == 0 or (lag["p99"] <= MAX_SEND_LAG_MS and lag["max"] <= MAX_SEND_LAG_MAX_MS),
        **(
            {
                "failures": sorted(failed_due),
                "longest_wait_ms": round(
                    max([latencies.get_max_value() / 1000] + [wait * 1000 for _, wait in failed_due]), 1
                ),
            }
            if failures
            else {}
        ),
    }
    if stopped_early:
        run["note"] = (
            f"stopped after {started} of {len(dues)} requests ({len(pending)} of them unanswered, cut "
            f"off): its p99 could no longer be within the SLO of {slo_ms:g} ms without a failure"
        )
    if not run["valid"]:
        run["error"] = (
            f"send lag p99 {lag['p99']:.1f} ms (at most {MAX_SEND_LAG_MS:g}), max {lag['max']:.1f} ms "
            f"(at most {MAX_SEND_LAG_MAX_MS:g}): the driver fell behind"
        )
    return run


def run(url, rate, seconds, arrivals="constant", seed=None, drain_s=30.0, slo_ms=None, tick=None, on=(), **more):
    """The driver in a process of its own (so that the harness's probe threads cannot delay its schedule), bounded
    in time and killed by pid if it outstays it; its figures as a dict. tick(line) gets its progress lines. `on`:
    what runs it elsewhere, e.g. ("ip", "netns", "exec", NAMESPACE) on a host of harness/hosts/namespaces.py.
    `more`: drive()'s `start` and `failures`."""
    kwargs = {
        **more,
        "url": url,
        "rate": float(rate),
        "seconds": float(seconds),
        "arrivals": arrivals,
        "seed": seed,
        "drain_s": float(drain_s),
        "slo_ms": float(slo_ms) if slo_ms else None,
    }
    run = in_a_process("openloop.drive_here", kwargs, seconds + drain_s + 30, tick, on)
    return {"mode": "open", "rate": rate, "arrivals": arrivals, **run} if "error" in run else run


def in_a_process(function, kwargs, budget_s, tick=None, on=()):
    """`function(**kwargs)`, a driver's in-process part (one of harness/load/child.py's FUNCTIONS, e.g.
    "openloop.drive_here"), run by `python -m harness.load.child` in a process of its own, the keyword arguments
    serialized once as JSON; ended by pid after budget_s. The JSON it prints, or {"error": its last line}.
    tick(line) gets the progress lines it writes to stderr ("NAME: ... s of ...", NAME the driver's module)."""
    prefix = function.split(".", 1)[0] + ": "

    def progress(written):
        for line in written.splitlines():
            if line.startswith(prefix) and " s of " in line:
                tick(line.removeprefix(prefix).strip())

    call = json.dumps({"function": function, "kwargs": kwargs})
    command = [*on, sys.executable, "-m", "harness.load.child", call]
    done = run_bounded(command, budget_s, progress if tick else None, cwd=ROOT)
    if done.status != 0 or not done.stdout.strip():
        lines = done.stderr.strip().splitlines() or [f"exit status {done.status}"]
        return {"error": f"driver failed: {lines[-1]}"}
    return json.loads(done.stdout)


def allowed_host(hostname):
    """Loopback, or an address of the hosts harness/hosts/namespaces.py makes (HOSTS_NETWORK, in network namespaces
    of its own): the drivers load nothing else."""
    if hostname == "localhost":
        return True
    try:
        address = ipaddress.ip_address(hostname or "")
    except ValueError:
        return False
    return address.is_loopback or address in HOSTS_NETWORK


class Refused(ValueError):
    """A value a driver will not run with (harness/load/child.py says it in one line, status 2)."""


def url_and_rate_problem(url, rate, seconds, path="/"):
    """What both drivers check, called or run by hand: a URL on loopback whose path starts with `path`, and a rate
    and a duration in bounds. What is wrong, or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not allowed_host(parts.hostname) or not parts.path.startswith(path):
        return (
            f"the url must be on loopback (or a host of harness/hosts/namespaces.py, in {HOSTS_NETWORK}), its path "
            f"{path}...: http://127.0.0.1:PORT{path}..."
        )
    for name, value in (("rate", rate), ("duration", seconds)):
        if not 0 < value <= 100_000:
            return f"--{name} must be above 0 and at most 100000"
    return None


def problem(url, rate, seconds, drain_s=30.0, slo_ms=None):
    """What is wrong with the open-loop driver's values, or None."""
    if found := url_and_rate_problem(url, rate, seconds):
        return found
    if not 0 <= drain_s <= 3600:
        return "--drain must be from 0 to 3600 seconds"
    if slo_ms is not None and slo_ms <= 0:
        return "--slo-ms must be above 0"
    return None


def parse_args(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="e.g. http://127.0.0.1:8003/?n=140000")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=30, help="seconds of sending (default 30)")
    parser.add_argument(
        "--arrivals",
        choices=("constant", "poisson"),
        default="constant",
        help="constant: every 1/rate s (default); poisson: exponential gaps of mean 1/rate",
    )
    parser.add_argument("--seed", type=int, help="the Poisson schedule's seed (default: a new one, printed)")
    parser.add_argument("--drain", type=float, default=30, help="seconds to wait for the last answers (default 30)")
    parser.add_argument("--slo-ms", type=float, help="stop early once the p99 cannot be within this")
    args = parser.parse_args(argv)
    if found := problem(args.url, args.rate, args.duration, args.drain, args.slo_ms):
        parser.error(found)
    if args.arrivals == "poisson" and args.seed is None:
        args.seed = random.randrange(2**32)
    return args


def raise_priority():
    """Run the driver before the server's processes: SCHED_FIFO (real-time, lowest priority) where allowed (root, or
    CAP_SYS_NICE). When the server keeps every core busy, a driver at the same priority waits for the scheduler's
    next tick (4 ms here) now and then, and sends late; measured on this 2-core machine against server 4
    computing: send-lag p99 3.4–4.3 ms as a normal process, 1.1–1.4 ms with SCHED_FIFO. The kernel's real-time
    throttling still leaves other processes 5 % of each core, and the driver sleeps between sends."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        return "SCHED_FIFO"
    except (OSError, AttributeError):
        return "normal"


def drive_here(
    url, rate, seconds, arrivals="constant", seed=None, drain_s=30.0, slo_ms=None, start=None, failures=False
):
    """The driver in this process, as its own program runs it (by hand, or run() through harness/load/child.py):
    the values checked (Refused if wrong), its priority raised, a line on stderr of what it sends and its progress
    lines after it ("openloop: ... s of ..."); its figures, with the seed and the scheduling it had."""
    if found := problem(url, rate, seconds, drain_s, slo_ms):
        raise Refused(found)
    if arrivals not in ("constant", "poisson"):
        raise Refused(f"arrivals must be constant or poisson, not {arrivals!r}")
    if arrivals == "poisson" and seed is None:
        seed = random.randrange(2**32)
    scheduling = raise_priority()
    print(
        f"openloop: {rate:g} requests/s, {arrivals} arrivals"
        + (f" (seed {seed})" if seed is not None else "")
        + f", {seconds:g} s -> {url}",
        file=sys.stderr,
        flush=True,
    )
    run = asyncio.run(
        drive(
            url,
            rate,
            seconds,
            arrivals,
            seed,
            drain_s,
            slo_ms,
            progress=lambda line: print(f"openloop: {line}", file=sys.stderr, flush=True),
            start=start,
            failures=failures,
        )
    )
    run.update(seed=seed, scheduling=scheduling)
    return run


def main(argv=None):
    args = parse_args(argv)
    run = drive_here(args.url, args.rate, args.duration, args.arrivals, args.seed, args.drain, args.slo_ms)
    print(json.dumps(run, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
