#!/usr/bin/env bash
# bench-shim.sh - containerd-shim-berth-v2 against containerd's Go containerd-shim-runc-v2, on a
# private containerd (state in a temp dir, stopped at the end):
#   1. memory of idle shims: N containers running `sleep` under each shim; average RSS, PSS
#      (shared pages split between the shims) and USS (pages only that shim has) per shim
#   2. `ctr run --rm busybox true` latency, both shims in one hyperfine run
# Both shims drive the same runtime binary: $BERTH_TEST_RUNTIME (default /usr/sbin/runc).
# Settings: N=10 idle containers per shim, RUNS=20 hyperfine runs, SHIM=path (default: a release
# build, `cargo build --release -p containerd-shim-berth-v2`), STATIC=1 (build it statically
# linked instead, into target/shim-static).
# RSS counts every page mapped, shared or not (on this kernel a dynamically linked `sleep` has
# 1.7 MiB); PSS splits shared pages among the processes mapping them: the memory each extra
# container really costs.
# Needs: containerd, hyperfine, umoci, skopeo, busybox-static; root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
N=${N:-10}
RUNS=${RUNS:-20}
RUNTIME=${BERTH_TEST_RUNTIME:-/usr/sbin/runc}
IMAGE=docker.io/library/busybox:latest
for t in containerd ctr hyperfine; do command -v $t >/dev/null || { echo "bench-shim.sh: $t not found" >&2; exit 1; }; done
[ -x "$RUNTIME" ] || { echo "bench-shim.sh: runtime $RUNTIME not found" >&2; exit 1; }
if [ -z "${SHIM:-}" ] && [ "${STATIC:-0}" = 1 ]; then
  # statically linked, non-PIE, size-optimised: no libc.so/ld.so pages and no start-up
  # relocation in every shim's RSS, and fewer code pages mapped
  (cd "$repo" && CARGO_TARGET_DIR=$repo/target/shim-static CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
     RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
     cargo build -q --release -p containerd-shim-berth-v2 --target x86_64-unknown-linux-gnu)
  SHIM=$repo/target/shim-static/x86_64-unknown-linux-gnu/release/containerd-shim-berth-v2
elif [ -z "${SHIM:-}" ]; then
  (cd "$repo" && cargo build -q --release -p containerd-shim-berth-v2)
  SHIM=${CARGO_TARGET_DIR:-$repo/target}/release/containerd-shim-berth-v2
fi
[ -x "$SHIM" ] || { echo "bench-shim.sh: shim $SHIM not found" >&2; exit 1; }
GOSHIM=$(command -v containerd-shim-runc-v2)

img=${CARGO_TARGET_DIR:-$repo/target}/engines/images
"$repo/hack/engines/build-images.sh" "$img"

D=$(mktemp -d /tmp/bench-shim.XXXXXX)
mkdir -p "$D/bin"; ln -s "$SHIM" "$D/bin/containerd-shim-berth-v2"
cat > "$D/config.toml" <<TOML
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
root = "$D/root"
state = "$D/state"
[grpc]
  address = "$D/c.sock"
TOML
PATH=$D/bin:$PATH BERTH_SHIM_RUNTIME=$RUNTIME containerd --config "$D/config.toml" </dev/null >"$D/containerd.log" 2>&1 &
cpid=$!
ctr() { command ctr --address "$D/c.sock" --namespace bench "$@"; }
cleanup() {
  for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
  sleep 0.5
  for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks delete "$t" >/dev/null 2>&1 || true; done
  for c in $(ctr containers ls -q 2>/dev/null); do ctr containers delete "$c" >/dev/null 2>&1 || true; done
  kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null || true
  # containerd may still be writing its state as it exits: wait for it, then remove.
  for _ in $(seq 1 50); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
  grep -o " $D[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$D" 2>/dev/null || { sleep 1; rm -rf "$D"; }
}
trap cleanup EXIT
for i in $(seq 1 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done
ctr images import --base-name docker.io/library/busybox "$img/busybox-oci.tar" >/dev/null

echo "# containerd-shim-berth-v2 vs containerd-shim-runc-v2 ($(containerd --version | awk '{print $3}')), runtime $RUNTIME"
echo "shim: $SHIM ($(stat -c %s "$SHIM") bytes)"
echo
echo "## idle shim memory, $N containers per shim (KiB per shim)"
echo
echo "| shim | RSS | PSS | USS | threads |"
echo "| --- | --- | --- | --- | --- |"
for rt in berth runc; do
  for i in $(seq 1 "$N"); do ctr run -d --runtime "io.containerd.$rt.v2" "$IMAGE" "idle-$rt-$i" sleep 100000 >/dev/null; done
done
sleep 2
for rt in berth runc; do
  pids=$(pgrep -f "containerd-shim-$rt-v2 -namespace bench -id idle-$rt-" || true)
  n=0; rss=0; pss=0; uss=0; thr=0
  for p in $pids; do
    read -r r q u < <(awk '/^Rss:/{r+=$2} /^Pss:/{q+=$2} /^Private_(Clean|Dirty):/{u+=$2} END{print r, q, u}' "/proc/$p/smaps")
    t=$(awk '/^Threads:/{print $2}' "/proc/$p/status")
    n=$((n+1)); rss=$((rss+r)); pss=$((pss+q)); uss=$((uss+u)); thr=$((thr+t))
  done
  [ $n -gt 0 ] || { echo "no $rt shims found" >&2; exit 1; }
  name=containerd-shim-$rt-v2
  echo "| $name | $((rss/n)) | $((pss/n)) | $((uss/n)) | $((thr/n)) |"
done
for t in $(ctr tasks ls -q); do ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
sleep 1
for t in $(ctr tasks ls -q); do ctr tasks delete "$t" >/dev/null 2>&1; done
for c in $(ctr containers ls -q); do ctr containers delete "$c" >/dev/null; done

echo
echo "## ctr run --rm $IMAGE true"
echo
C="command ctr --address $D/c.sock --namespace bench run --rm"
hyperfine -N -w 3 -r "$RUNS" --export-markdown "$D/lat.md" \
  -n berth "sh -c '$C --runtime io.containerd.berth.v2 $IMAGE lat-\$\$ true'" \
  -n runc-v2 "sh -c '$C --runtime io.containerd.runc.v2 $IMAGE lat-\$\$ true'" >/dev/null
cat "$D/lat.md"
