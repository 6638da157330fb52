#!/usr/bin/env bash
# Idle cost of a 2-node cluster, Debian heartbeat 3.0.6 vs ours, same ha.cf
# (keepalive 1 s, bcast): CPU seconds, RSS and PSS per node over a window; and the
# machine's floor (bench_floor: only a heartbeat's I/O, one wake-up a second).
#
# Usage (as root): bench/idle.sh [SECONDS] [--kind debian|ours|floor|both|all]
#   SECONDS defaults to 60, --kind to all. Ours is measured when target/release/heartbeat builds;
#   set HB_BENCH_NO_BUILD=1 to measure whatever is already built.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"

if [ "$(id -u)" -ne 0 ]; then
    echo "error: bench/idle.sh needs root (network namespaces)" >&2
    exit 1
fi

if [ "${HB_BENCH_NO_BUILD:-0}" != 1 ]; then
    echo "+ cargo build --release -p hb-tests --bin bench_idle --bin bench_floor"
    cargo build --release -p hb-tests --bin bench_idle --bin bench_floor
    echo "+ cargo build --release -p heartbeat --bins"
    if ! cargo build --release -p heartbeat --bins; then
        echo "warning: our heartbeat did not build; the table will show Debian only" >&2
    fi
fi

echo "+ $TARGET/release/bench_idle ${*:-60}"
exec "$TARGET/release/bench_idle" "${@:-60}"
