"""How much CPU a server spends for clients that have gone: load it with 512 siege users for 10 s, stop siege,
then measure the CPU seconds its process tree uses until it is idle (30 s at most).

    .venv/bin/python -m harness.experiments.giveup 4_async_processexecutor [--port 8160] [--users 512]
"""

import sys

from harness.cli import OneLineParser
from harness.instruments.measure import tree_cpu_seconds, wait_until_idle
from harness.load import siege
from harness.server_process import ServerProcess
from harness.servers import SERVERS, by_name


def after_giving_up(server, port, users):
    """`server` on `port` sieged by `users` for 10 s: (the CPU seconds its tree used once siege stopped, until idle;
    when it was idle, None if still busy after 30 s), or None if it did not come up."""
    with ServerProcess(server, port) as process:
        if not process.wait_healthy(60):
            return None
        siege.run(port, users, 10)
        start = tree_cpu_seconds(process.process.pid)
        idle_after = wait_until_idle(process, timeout=30)
        return tree_cpu_seconds(process.process.pid) - start, idle_after


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=[server.label for server in SERVERS])
    parser.add_argument("--port", type=int, default=8160)
    parser.add_argument("--users", type=int, default=512)
    options = parser.parse_args(argv)
    server, port, users = by_name(options.server), options.port, options.users
    if server.missing:
        parser.error(f"{options.server} {server.missing}")
    if not 1024 <= port <= 65535 or not 1 <= users <= 1024:
        parser.error("--port from 1024 to 65535, --users from 1 to 1024 (siegerc's limit)")
    found = after_giving_up(server, port, users)
    if found is None:
        parser.exit(1, f"{options.server} did not come up\n")
    cpu_s, idle_after = found
    idle = f"idle after {idle_after:.1f} s" if idle_after is not None else "still busy after 30 s"
    print(f"{options.server}: {cpu_s:.1f} CPU s after siege stopped; {idle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
