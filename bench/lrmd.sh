#!/usr/bin/env bash
# lrmd benchmark: per-op overhead of lrmd vs a direct fork/exec of the same Dummy agent
# (sequential monitors), then lrmd's own CPU (utime+stime) and RSS while 1000 Dummy
# resources are monitored every 10 s.
#
# Usage: bench/lrmd.sh [--ours] [lrmd-bench options...]
#   default agent: Debian's /usr/lib/ocf/resource.d/heartbeat/Dummy
#   --ours: our ra-agents binary (target/release/ra-agents) via a symlink named Dummy
#   other options (see lrmd-bench --help): --resources N --interval MS --seconds S --ops N
#   Set LRM_BENCH_NO_BUILD=1 to use what is already built.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"

extra=()
if [ "${1:-}" = "--ours" ]; then
    shift
    if [ "${LRM_BENCH_NO_BUILD:-0}" != 1 ]; then
        cargo build --release -p ra-agents
    fi
    extra=(--agent "$PWD/$TARGET/release/ra-agents")
fi

if [ "${LRM_BENCH_NO_BUILD:-0}" != 1 ]; then
    echo "+ cargo build --release -p lrm --bins"
    cargo build --release -p lrm --bins
fi

echo "+ $TARGET/release/lrmd-bench ${extra[*]} $*"
exec "$TARGET/release/lrmd-bench" "${extra[@]}" "$@"
