"""Check a server's answers before loading it, against prime counts the harness computes its own way."""
import http.client

import common

from .servers import request

SMALL_N = 1000


def prime_count(n):
    """The number of primes below n, by a sieve of Eratosthenes: independent of the servers' trial division."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0] = sieve[1] = 0
    for k in range(2, int(n ** 0.5) + 1):
        if sieve[k]:
            sieve[k * k::k] = bytes(len(range(k * k, n, k)))
    return sum(sieve)


def problems(port, strategy, timeout=30):
    """What is wrong with the server's answers on `port` (an empty list if nothing is)."""
    found = []
    for path, n in (("/", common.DEFAULT_N), (f"/?n={SMALL_N}", SMALL_N)):
        try:
            status, headers, body = request(port, path, timeout=timeout)
        except (OSError, ValueError, http.client.HTTPException) as error:
            found.append(f"GET {path}: {type(error).__name__} {error}")
            continue
        expected = {"strategy": strategy, "n": n, "result": prime_count(n)}
        if status != 200 or not headers.get("Content-Type", "").startswith("application/json"):
            found.append(f"GET {path}: status {status}, Content-Type {headers.get('Content-Type')}")
        elif {key: body.get(key) for key in expected} != expected:
            found.append(f"GET {path}: expected {expected}, got {body}")
    try:
        status, _, body = request(port, "/?n=abc", timeout=timeout)
        if status != 400 or "error" not in (body or {}):
            found.append(f"GET /?n=abc: expected 400 with an error, got {status} {body}")
    except (OSError, ValueError, http.client.HTTPException) as error:
        found.append(f"GET /?n=abc: {type(error).__name__} {error}")
    return found
