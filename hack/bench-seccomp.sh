#!/usr/bin/env bash
# bench-seccomp.sh — what seccomp costs in berth, measured on this machine.
#
# 1. berth-runtime alone (--release): parse, compile and install docker's default profile, and
#    the per-syscall overhead of the installed filter (src/runtime/tests/seccomp_bench.rs).
# 2. Whole containers: `run` of a busybox `true` bundle with and without docker's default
#    profile, for berth (when it can run containers), crun and runc, using hyperfine.
#
# Usage: hack/bench-seccomp.sh [RUNS]     (RUNS per container case, default 30; needs root)
# Env:   BERTH=path/to/berth (default target/release/berth, built if missing)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=${1:-30}
profile="$root/src/runtime/tests/seccomp_common/docker_default.json"

echo "== berth-runtime: docker's default profile (release build)"
(cd "$root" && cargo test --release -q -p berth-runtime --test seccomp_bench -- \
  --ignored --nocapture --test-threads=1 2>/dev/null) |
  grep -E '^(docker default|parse|compile|install|getppid)'

command -v hyperfine >/dev/null || { echo "hyperfine not installed: skipping container runs"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "not root: skipping container runs"; exit 0; }

work=$(mktemp -d /tmp/bench-seccomp.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$here/rootfs.sh" "$work/plain" >/dev/null
# Run `true`; one bundle without seccomp and one with docker's profile.
jq '.process.args = ["true"] | del(.linux.seccomp)' "$work/plain/config.json" >"$work/c.json"
mv "$work/c.json" "$work/plain/config.json"
mkdir -p "$work/docker"
jq --slurpfile p "$profile" --arg rootfs "$work/plain/rootfs" \
  '.linux.seccomp = $p[0] | .root.path = $rootfs' "$work/plain/config.json" >"$work/docker/config.json"

runtimes=()
# A runtime takes part if it runs the plain bundle (crun refuses this VM's hybrid cgroup layout
# until integration/start-engines.sh has moved hugetlb to v1; berth until it runs containers).
probe() { # name binary
  timeout -k 2 20 "$2" --root "$work/state-probe-$1" run -b "$work/plain" "probe-$1" >"$work/probe-$1.log" 2>&1
}
if [ -z "${BERTH:-}" ]; then
  (cd "$root" && cargo build --release -q -p berth 2>/dev/null) || true
fi
berth=${BERTH:-$root/target/release/berth}
cands=()
[ -x "$berth" ] && cands+=("berth=$berth")
for r in crun runc; do
  p=$(command -v "$r" 2>/dev/null || true)
  [ -n "$p" ] && cands+=("$r=$p")
done
for rt in "${cands[@]}"; do
  if probe "${rt%%=*}" "${rt#*=}"; then
    runtimes+=("$rt")
  else
    echo "(skipping ${rt%%=*}: $(tail -c 200 "$work/probe-${rt%%=*}.log" | tr '\n' ' '))"
    timeout 10 "${rt#*=}" --root "$work/state-probe-${rt%%=*}" delete -f "probe-${rt%%=*}" >/dev/null 2>&1 || true
    # A runtime that hung may leave its container process behind: end it by its recorded pid.
    pid=$(jq -r '.pid // empty' "$work/state-probe-${rt%%=*}/probe-${rt%%=*}/state.json" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -qa "probe-${rt%%=*}" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid"; fi
  fi
done
[ ${#runtimes[@]} -gt 0 ] || { echo "no runtime can run the bundle"; exit 0; }

echo
echo "== run (busybox true), $runs runs each: without seccomp vs docker's default profile"
args=()
for rt in "${runtimes[@]}"; do
  name=${rt%%=*} bin=${rt#*=}
  state="$work/state-$name"
  mkdir -p "$state"
  for b in plain docker; do
    args+=(-n "$name $b" "$bin --root $state run -b $work/$b bench-$name-$b")
  done
done
hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$work/result.md" "${args[@]}" >/dev/null
cat "$work/result.md"
