"""How much CPU a server spends for clients that have gone: load it with 512 siege users for 10 s, stop siege,
then measure the CPU seconds its process tree uses until it is idle (30 s at most).

    .venv/bin/python -m harness.experiments.giveup 4_async_processexecutor [--port 8160] [--users 512]
"""

import argparse

from harness.instruments.measure import tree_cpu_seconds, wait_until_idle
from harness.load import siege
from harness.server_process import ServerProcess
from harness.servers import SERVERS, by_name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=[server.label for server in SERVERS])
    parser.add_argument("--port", type=int, default=8160)
    parser.add_argument("--users", type=int, default=512)
    args = parser.parse_args()
    if by_name(args.server).missing:
        parser.error(f"{args.server} {by_name(args.server).missing}")
    with ServerProcess(by_name(args.server), args.port) as server:
        if not server.wait_healthy(60):
            parser.exit(1, f"{args.server} did not come up\n")
        siege.run(args.port, args.users, 10)
        start = tree_cpu_seconds(server.process.pid)
        idle_after = wait_until_idle(server, timeout=30)
        idle = f"idle after {idle_after:.1f} s" if idle_after is not None else "still busy after 30 s"
        print(f"{args.server}: {tree_cpu_seconds(server.process.pid) - start:.1f} CPU s after siege stopped; {idle}")


if __name__ == "__main__":
    main()
