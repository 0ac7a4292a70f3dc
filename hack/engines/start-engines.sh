#!/usr/bin/env bash
# start-engines.sh [DIR] - a private containerd (and with DOCKERD=1 a dockerd on top of it) for
# trying berth and containerd-shim-berth-v2 by hand; the tests start their own the same way.
# Everything lives in DIR (default /tmp/berth-engines): config, root, state, sockets, logs.
# Nothing is installed and the machine's own /run/containerd and /var/lib/docker are untouched.
#   containerd: DIR/containerd.sock, CRI plugin on, runtime handlers "berth" (our shim) and
#               "runc-berth" (containerd's runc shim, BinaryName=$RUNTIME); our shim on its PATH
#               (SHADOW_RUNC=1 also installs it as containerd-shim-runc-v2, as dockerd 20.10 needs)
#   dockerd:    DIR/docker.sock, runtime "berth" = $RUNTIME, no iptables (ports via docker-proxy)
#   images:     busybox (namespaces default and k8s.io, and dockerd), pause:3.6 stand-in (k8s.io)
# Settings: SHIM (default target/debug/containerd-shim-berth-v2), RUNTIME (default
# $BERTH_TEST_RUNTIME or /usr/sbin/runc), DOCKERD=1, SHADOW_RUNC=1.
# Then: . DIR/env; ctr run --rm --runtime io.containerd.berth.v2 docker.io/library/busybox:latest t echo hi
# Stop: stop-engines.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
D=${1:-/tmp/berth-engines}
SHIM=${SHIM:-${CARGO_TARGET_DIR:-$repo/target}/debug/containerd-shim-berth-v2}
RUNTIME=${RUNTIME:-${BERTH_TEST_RUNTIME:-/usr/sbin/runc}}
[ "$(id -u)" = 0 ] || { echo "start-engines.sh: must run as root" >&2; exit 1; }
[ -x "$SHIM" ] || { echo "start-engines.sh: $SHIM not found (cargo build -p containerd-shim-berth-v2)" >&2; exit 1; }
[ -x "$RUNTIME" ] || { echo "start-engines.sh: runtime $RUNTIME not found" >&2; exit 1; }
[ -e "$D/containerd.pid" ] && kill -0 "$(cat "$D/containerd.pid")" 2>/dev/null && { echo "already running in $D" >&2; exit 0; }
mkdir -p "$D/bin" "$D/cni" "$D/logs"
ln -sf "$SHIM" "$D/bin/containerd-shim-berth-v2"
[ "${SHADOW_RUNC:-0}" = 1 ] && ln -sf "$SHIM" "$D/bin/containerd-shim-runc-v2"
cat > "$D/cni/10-berth.conflist" <<EOF2
{"cniVersion":"1.0.0","name":"berth-engines","plugins":[{"type":"bridge","bridge":"berth-cni0","isGateway":true,"ipMasq":true,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.91.0.0/16"}]],"dataDir":"$D/ipam"}},{"type":"portmap","capabilities":{"portMappings":true}}]}
EOF2
cat > "$D/config.toml" <<EOF2
version = 2
root = "$D/root"
state = "$D/state"
[grpc]
  address = "$D/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$D/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
    runtime_type = "io.containerd.berth.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc-berth]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc-berth.options]
      BinaryName = "$RUNTIME"
EOF2
PATH=$D/bin:$PATH BERTH_SHIM_RUNTIME=$RUNTIME setsid containerd --config "$D/config.toml" \
  </dev/null >>"$D/logs/containerd.log" 2>&1 &
echo $! > "$D/containerd.pid"
for i in $(seq 1 100); do ctr --address "$D/containerd.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
ctr --address "$D/containerd.sock" version >/dev/null || { tail "$D/logs/containerd.log" >&2; exit 1; }
img=${CARGO_TARGET_DIR:-$repo/target}/engines/images
"$here/build-images.sh" "$img"
for ns in default k8s.io; do
  ctr --address "$D/containerd.sock" -n $ns images import --base-name docker.io/library/busybox "$img/busybox-oci.tar" >/dev/null
done
ctr --address "$D/containerd.sock" -n k8s.io images import --base-name registry.k8s.io/pause "$img/pause-oci.tar" >/dev/null
{
  echo "export CONTAINERD_ADDRESS=$D/containerd.sock"
  echo "export CONTAINERD_NAMESPACE=default"
} > "$D/env"
if [ "${DOCKERD:-0}" = 1 ]; then
  ip link show berth-dock0 >/dev/null 2>&1 || {
    ip link add berth-dock0 type bridge && ip addr add 10.92.0.1/24 dev berth-dock0 && ip link set berth-dock0 up; }
  printf '{"storage-driver":"overlay2","iptables":false,"ip-forward":false,"bridge":"berth-dock0","runtimes":{"berth":{"path":"%s"}}}\n' "$RUNTIME" > "$D/daemon.json"
  setsid dockerd --config-file "$D/daemon.json" --containerd "$D/containerd.sock" --data-root "$D/docker" \
    --exec-root "$D/docker-exec" --pidfile "$D/dockerd.pid" -H "unix://$D/docker.sock" \
    </dev/null >>"$D/logs/dockerd.log" 2>&1 &
  for i in $(seq 1 150); do docker -H "unix://$D/docker.sock" version >/dev/null 2>&1 && break; sleep 0.2; done
  docker -H "unix://$D/docker.sock" load -i "$img/busybox-docker.tar" >/dev/null
  echo "export DOCKER_HOST=unix://$D/docker.sock" >> "$D/env"
fi
echo "ready: . $D/env"
