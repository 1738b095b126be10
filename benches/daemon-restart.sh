#!/usr/bin/env bash
# Daemon restart (issue 12): a paired client pushes SIZE (default 1 GiB) to `pcp serve` over
# loopback with --retries; the daemon gets SIGTERM after 4 s and is restarted on the same
# address; the client finishes. Prints both exit codes, whether the copy is identical, and how
# many chunk bytes were sent beyond the file's size (what the restart cost).
#
# Usage: benches/daemon-restart.sh [SIZE]   (SIZE for head -c, e.g. 1G, 256M)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
P=${PCP:-$here/target/release/pcp}
SIZE=${1:-1G}
W=$(mktemp -d /var/tmp/pcp-restart.XXXXXX)
trap 'kill $S2 2>/dev/null; rm -rf "$W"' EXIT
A="env HOME=$W/a XDG_CONFIG_HOME=$W/a/c XDG_STATE_HOME=$W/a/s PCP_NO_MDNS=1"
B="env HOME=$W/b XDG_CONFIG_HOME=$W/b/c XDG_STATE_HOME=$W/b/s PCP_NO_MDNS=1"
ADDR=127.0.0.1:7451
mkdir -p "$W/src" "$W/srv"; echo small >"$W/src/small"
PCP_CODE=abandon-ability-able-about $B "$P" serve --listen $ADDR "$W/srv" 2>"$W/serve1.err" & S=$!
sleep 0.5
PCP_CODE=abandon-ability-able-about $A "$P" sync -a -q "$W/src/" nas:d/ --addr $ADDR </dev/null || { echo "pairing failed"; exit 1; }
head -c "$SIZE" /dev/urandom >"$W/src/big.bin"
$A "$P" sync -a --stats --retries 30 --bwlimit 128M --addr $ADDR "$W/src/" nas:d/ </dev/null >"$W/client.out" 2>"$W/client.err" & C=$!
sleep 4; kill -TERM $S; wait $S; echo "daemon exit after SIGTERM: $? (20 expected)"
$B "$P" serve --listen $ADDR "$W/srv" 2>"$W/serve2.err" & S2=$!
wait $C; echo "client exit: $?"
cmp -s "$W/src/big.bin" "$W/srv/d/big.bin" && echo "copy: identical" || echo "copy: DIFFERS"
size=$(stat -c %s "$W/src/big.bin")
sent=$(sed -n 's/^Literal data: \([0-9]*\) bytes.*/\1/p' "$W/client.out")
echo "file $size bytes; chunk bytes sent $sent; resent $((sent - size)) bytes ($(python3 -c "print('%.2f' % (100*($sent-$size)/$size))")%)"
