#!/usr/bin/env bash
# test-cgroup2.sh — run berth's cgroup tests on a real cgroup v2 kernel.
#
# Builds the cgroups_* test binaries of berth-runtime (and, when they exist, the
# integration crate's cgroups_* tests with the berth binary), then boots ONE throw-away
# QEMU VM (hack/vm/cgroup2-vm.sh: cgroup2 only, every controller enabled, TCG) and runs
# them all there. Exit status is non-zero if any test fails.
#
# Usage: hack/vm/test-cgroup2.sh [--timeout SECS] [-- TEST-FILTER-ARGS...]
#   e.g. hack/vm/test-cgroup2.sh -- freeze       (only tests whose name contains "freeze")
# Environment: CARGO (default cargo), CARGO_TARGET_DIR, C2VM_QUIET, CGROUP2_VM_* (see cgroup2-vm.sh)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TIMEOUT=900
while (($#)); do
  case $1 in
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "test-cgroup2: unknown option $1" >&2; exit 2 ;;
  esac
done

cd "$ROOT"
start=$(date +%s)
"$HERE/cgroup2-vm.sh" --prepare >/dev/null

# Test binaries: berth-runtime's cgroups_* files, plus integration/tests/cgroups_*.rs if any.
tests=()
for f in src/runtime/tests/cgroups_*.rs; do tests+=(--test "$(basename "$f" .rs)"); done
bins=$(${CARGO:-cargo} test -p berth-runtime "${tests[@]}" --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    try: m = json.loads(l)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])')
[[ -n $bins ]] || { echo "test-cgroup2: building the test binaries failed; run: cargo test -p berth-runtime ${tests[*]} --no-run" >&2; exit 1; }

envs=()
integ=()
for f in integration/tests/cgroups_*.rs; do [[ -e $f ]] && integ+=(--test "$(basename "$f" .rs)"); done
if ((${#integ[@]})); then
  if ! out=$(${CARGO:-cargo} build -p berth 2>&1); then echo "$out" >&2; exit 1; fi
  ibins=$(${CARGO:-cargo} test -p berth-integration "${integ[@]}" --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    try: m = json.loads(l)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])')
  bins="$bins"$'\n'"$ibins"
  target=$(dirname "$(dirname "$(dirname "$(echo "$bins" | head -1)")")")
  envs+=(--env "BERTH_BIN=$target/debug/berth")
fi
target=$(dirname "$(dirname "$(echo "$bins" | head -1)")")
# A busybox bundle for the side-by-side tests (making one under TCG takes ~30 s).
work=$(mktemp -d /tmp/berth-c2vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
bash hack/rootfs.sh "$work/bundle" >/dev/null
envs+=(--env "BERTH_TEST_BUNDLE=$work/bundle")
echo "test-cgroup2: built in $(( $(date +%s) - start ))s; booting the VM" >&2

# In the guest: a block device for io.max tests, then every binary (they clean up after
# themselves; a failing binary does not stop the others).
guest='modprobe null_blk >/dev/null 2>&1 || true
rc=0
for b in $BINS; do
  echo "=== $(basename "$b")"
  "$b" --test-threads=2 "$@" || rc=1
done
exit $rc'
vmstart=$(date +%s)
set +e
"$HERE/cgroup2-vm.sh" --ro "$ROOT" --ro "$target" --ro "$work" --timeout "$TIMEOUT" \
  --env "BINS=$(echo $bins)" "${envs[@]}" --cwd "$ROOT" -- sh -c "$guest" sh "$@"
rc=$?
set -e
echo "test-cgroup2: VM run took $(( $(date +%s) - vmstart ))s, total $(( $(date +%s) - start ))s, exit $rc" >&2
exit $rc
