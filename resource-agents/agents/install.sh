#!/bin/sh
# Installs ra-agents and its agent links.
#
#   install.sh [--binary PATH] [--provider NAME] [--with-resource-d] [--force] PREFIX
#
# PREFIX=/usr gives:
#   /usr/libexec/rust-ha/ra-agents              the multi-call binary
#   /usr/lib/ocf/resource.d/rustha/<Agent>      symlinks: Dummy IPaddr2 IPaddr SendArp anything webserver
#   /etc/init.d/httpd                           LSB script for haresources' "httpd"
#   /etc/ha.d/resource.d/IPaddr                 only with --with-resource-d (heartbeat class)
# Other prefixes put etc under PREFIX/etc. DESTDIR is honoured; OCF_ROOT
# overrides PREFIX/lib/ocf. Debian's "heartbeat" provider is never touched.
set -eu

usage() {
    echo "usage: $0 [--binary PATH] [--provider NAME] [--with-resource-d] [--force] PREFIX" >&2
    exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
binary=""
provider=rustha
with_resource_d=0
force=0
prefix=""
while [ $# -gt 0 ]; do
    case $1 in
        --binary) [ $# -ge 2 ] || usage; binary=$2; shift 2 ;;
        --provider) [ $# -ge 2 ] || usage; provider=$2; shift 2 ;;
        --with-resource-d) with_resource_d=1; shift ;;
        --force) force=1; shift ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) [ -z "$prefix" ] || usage; prefix=$1; shift ;;
    esac
done
[ -n "$prefix" ] || usage
if [ -z "$binary" ]; then
    for b in "$here/../../target/release/ra-agents" "$here/../../target/debug/ra-agents"; do
        if [ -x "$b" ]; then binary=$b; break; fi
    done
fi
[ -n "$binary" ] && [ -x "$binary" ] || { echo "$0: no ra-agents binary (build it or pass --binary)" >&2; exit 1; }
if [ "$provider" = heartbeat ] && [ $force -eq 0 ]; then
    echo "$0: refusing to install into Debian's heartbeat provider without --force" >&2
    exit 1
fi

destdir=${DESTDIR:-}
if [ "$prefix" = /usr ]; then etcdir=/etc; else etcdir=$prefix/etc; fi
ocf_root=${OCF_ROOT:-$prefix/lib/ocf}
bindir=$prefix/libexec/rust-ha
target=$bindir/ra-agents

install -d -m 755 "$destdir$bindir" "$destdir$ocf_root/resource.d/$provider" "$destdir$etcdir/init.d"
install -m 755 "$binary" "$destdir$target"
for agent in Dummy IPaddr2 IPaddr SendArp anything webserver; do
    ln -sfn "$target" "$destdir$ocf_root/resource.d/$provider/$agent"
done
lsb=$destdir$etcdir/init.d/httpd
if [ -e "$lsb" ] && ! grep -q 'ra-agents' "$lsb" && [ $force -eq 0 ]; then
    echo "$0: $lsb exists and is not ours; left alone (use --force)" >&2
else
    sed "s|@RA_AGENTS@|$target|" "$here/lsb/httpd" > "$lsb.tmp"
    chmod 755 "$lsb.tmp"
    mv "$lsb.tmp" "$lsb"
fi
if [ $with_resource_d -eq 1 ]; then
    rd=$destdir$etcdir/ha.d/resource.d
    install -d -m 755 "$rd"
    if [ -e "$rd/IPaddr" ] && [ ! -L "$rd/IPaddr" ] && [ $force -eq 0 ]; then
        echo "$0: $rd/IPaddr exists (heartbeat's wrapper?); left alone (use --force)" >&2
    else
        ln -sfn "$target" "$rd/IPaddr"
    fi
fi
echo "installed $target; agents in $ocf_root/resource.d/$provider"
