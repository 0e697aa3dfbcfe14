#!/usr/bin/env bash
# Load one server with siege and print siege's summary: ./run_benchmark.sh HOST:PORT [extra siege options]
# CONCURRENCY (default 25 users) and DURATION (siege's -t syntax, default 60S) override the load.
set -u
if [ $# -lt 1 ] || [[ ! "$1" =~ ^[^/:]+:[0-9]+$ ]]; then
    echo "usage: $0 HOST:PORT [siege options...]   (env: CONCURRENCY=25 DURATION=60S)" >&2
    exit 2
fi
if ! command -v siege >/dev/null 2>&1; then
    echo "$0: siege is not installed; install it with: sudo apt-get install siege (or: make tools)" >&2
    exit 1
fi
target=$1
shift
# -R: our complete configuration, so ~/.siege cannot change what is measured or printed.
exec siege -R "$(dirname "$0")/siegerc" -b -c "${CONCURRENCY:-25}" -t "${DURATION:-60S}" "$@" "http://$target/"
