"""Check a server's answers before loading it, each kind against results the harness computes its own way."""

import hashlib
import http.client

import tasks
from harness.network import request

SMALL_N = {"cpu": 1000, "hash": 3, "sleep": 20, "http": 20, "db": 20}


def prime_count(n):
    """The number of primes below n, by a sieve of Eratosthenes: independent of the servers' trial division."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0] = sieve[1] = 0
    for k in range(2, int(n**0.5) + 1):
        if sieve[k]:
            sieve[k * k :: k] = bytes(len(range(k * k, n, k)))
    return sum(sieve)


def chained_sha256(n):
    """The hash task's result, with the digest and the block joined into one message each round (the servers feed
    them to hashlib separately)."""
    digest = b""
    for _ in range(n):
        digest = hashlib.new("sha256", digest + tasks.BLOCK).digest()
    return digest.hex()


def expected_result(task, n):
    if task.kind == "cpu":
        return prime_count(n)
    if task.kind == "hash":
        return chained_sha256(n)
    if not task.user_function and task.spec().waits:
        return n  # and task_ms must be at least n: checked by problems()
    return tasks.load(task.kind)(n)  # the user's function, called here by the harness itself


def problems(port, strategy, task=None, timeout=30, n=None):
    """What is wrong with the server's answers on `port` for `task` (an empty list if nothing is): at its
    default size, a small one, and `n` if given."""
    found = []
    task = task or tasks.Task()
    kind = task.spec()
    small = SMALL_N.get(task.kind, min(kind.default_n, 1000))
    asked = [(f"/?n={n}", n)] if n else []
    for path, n in (("/", kind.default_n), (f"/?n={small}", small), *asked):
        try:
            status, headers, body = request(port, path, timeout=timeout)
        except (OSError, ValueError, http.client.HTTPException) as error:
            found.append(f"GET {path}: {type(error).__name__} {error}")
            continue
        expected = {"strategy": strategy, "task": task.kind, "n": n, "result": expected_result(task, n)}
        if status != 200 or not headers.get("Content-Type", "").startswith("application/json"):
            found.append(f"GET {path}: status {status}, Content-Type {headers.get('Content-Type')}")
        elif {key: body.get(key) for key in expected} != expected:
            found.append(f"GET {path}: expected {expected}, got {body}")
        elif kind.waits and not body.get("task_ms", 0) >= n:
            found.append(f"GET {path}: a wait of {n} ms took {body.get('task_ms')} ms")
    try:
        status, _, body = request(port, "/?n=abc", timeout=timeout)
        if status != 400 or "error" not in (body or {}):
            found.append(f"GET /?n=abc: expected 400 with an error, got {status} {body}")
    except (OSError, ValueError, http.client.HTTPException) as error:
        found.append(f"GET /?n=abc: {type(error).__name__} {error}")
    return found
