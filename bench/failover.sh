#!/usr/bin/env bash
# Failover times of the Linux-HA tutorial cluster (VIP + web server), Debian
# heartbeat 3.0.6 vs ours with the same ha.cf (keepalive 1 s, deadtime 3 s): cold
# start, graceful handover, process kill, link cut and failback, each timed from a
# client namespace polling http://VIP/ every 10 ms; then ours at keepalive 50ms /
# deadtime 250ms (kill and link cut), and a count of false failovers while the CPUs
# are saturated for M minutes.
#
# Usage (as root): bench/failover.sh [--runs N] [--kind debian|ours|both] [--fast-minutes M]
#   Defaults: 5 runs, both kinds, 10 minutes (0 skips the fast part). Raw samples go
#   to target/bench/failover-<time>.json. Set HB_BENCH_NO_BUILD=1 to measure whatever
#   is already built.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"

if [ "$(id -u)" -ne 0 ]; then
    echo "error: bench/failover.sh needs root (network namespaces)" >&2
    exit 1
fi

if [ "${HB_BENCH_NO_BUILD:-0}" != 1 ]; then
    echo "+ cargo build --release -p hb-tests --bin bench_failover"
    cargo build --release -p hb-tests --bin bench_failover
    echo "+ cargo build --release -p heartbeat --bins -p lrm --bin lrmd -p ra-agents"
    # The tree is shared with work in progress: a daemon that does not build right
    # now leaves the last good binaries in place, which are then measured.
    if ! cargo build --release -p heartbeat --bins -p lrm --bin lrmd -p ra-agents; then
        echo "warning: the build failed; measuring the binaries already in $TARGET/release" >&2
    fi
fi

echo "+ $TARGET/release/bench_failover $*"
exec "$TARGET/release/bench_failover" "$@"
