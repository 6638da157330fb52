#!/usr/bin/env bash
# Three nodes, "kill node1", Debian heartbeat 3.0.6 vs ours, same ha.cf (keepalive
# 1 s, deadtime 3 s, auto_failback on) and same resources (node1 IPaddr::VIP httpd):
# per run, who took the VIP, the most holders seen at once, and the failover time
# (kill to first HTTP answer from a survivor).
#
# Usage (as root): bench/three_nodes.sh [--runs K] [--kind debian|ours|both]
#                  [--ipaddr debian|ours] [--watch SECONDS]
#   K defaults to 5. Ours is measured when target/release/heartbeat builds; set
#   HB_BENCH_NO_BUILD=1 to measure whatever is already built.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"

if [ "$(id -u)" -ne 0 ]; then
    echo "error: bench/three_nodes.sh needs root (network namespaces)" >&2
    exit 1
fi

if [ "${HB_BENCH_NO_BUILD:-0}" != 1 ]; then
    echo "+ cargo build --release -p hb-tests --bin bench_three_nodes"
    cargo build --release -p hb-tests --bin bench_three_nodes
    echo "+ cargo build --release -p heartbeat --bins -p lrm --bin lrmd -p ra-agents"
    if ! cargo build --release -p heartbeat --bins -p lrm --bin lrmd -p ra-agents; then
        echo "warning: our heartbeat did not build; measuring what is in $TARGET/release" >&2
    fi
fi

echo "+ $TARGET/release/bench_three_nodes $*"
exec "$TARGET/release/bench_three_nodes" "$@"
