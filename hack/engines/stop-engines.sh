#!/usr/bin/env bash
# stop-engines.sh [DIR] - stop what start-engines.sh started in DIR (default /tmp/berth-engines):
# dockerd (removing its containers), every task in every containerd namespace, containerd; then
# unmount what is left under DIR and remove DIR and the bridges.
set -uo pipefail
D=${1:-/tmp/berth-engines}
[ -d "$D" ] || exit 0
dp=$(cat "$D/dockerd.pid" 2>/dev/null || true)
if [ -n "$dp" ] && kill -0 "$dp" 2>/dev/null; then
  for c in $(docker -H "unix://$D/docker.sock" ps -aq 2>/dev/null); do docker -H "unix://$D/docker.sock" rm -f "$c" >/dev/null 2>&1; done
  kill "$dp"
  for i in $(seq 1 100); do kill -0 "$dp" 2>/dev/null || break; sleep 0.2; done
fi
if [ -f "$D/containerd.pid" ] && kill -0 "$(cat "$D/containerd.pid")" 2>/dev/null; then
  c() { ctr --address "$D/containerd.sock" "$@"; }
  for ns in $(c namespaces ls -q 2>/dev/null); do
    for t in $(c -n "$ns" tasks ls -q 2>/dev/null); do c -n "$ns" tasks kill -a -s SIGKILL "$t" >/dev/null 2>&1; done
    sleep 0.3
    for t in $(c -n "$ns" tasks ls -q 2>/dev/null); do c -n "$ns" tasks delete "$t" >/dev/null 2>&1; done
  done
  kill "$(cat "$D/containerd.pid")"
  for i in $(seq 1 100); do kill -0 "$(cat "$D/containerd.pid")" 2>/dev/null || break; sleep 0.1; done
fi
awk -v d="$D" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
for br in berth-dock0 berth-cni0; do ip link del "$br" 2>/dev/null; done
rm -rf "$D"
