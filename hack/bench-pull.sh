#!/usr/bin/env bash
# bench-pull.sh — pull and push of a locally made multi-layer image (~200 MB) through a local
# Debian docker-registry: bay vs skopeo copy (vs docker, when a dockerd answers), with hyperfine.
#
#   hack/bench-pull.sh            # 5 layers: busybox + 4 x 48 MiB, 5 runs each
#   LAYER_MB=16 RUNS=3 hack/bench-pull.sh
#
# Needs: docker-registry, skopeo, hyperfine, busybox-static (apt), a release build of bay
# (built here). Everything runs on 127.0.0.1 in a temp dir removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
LAYER_MB=${LAYER_MB:-48}
LAYERS=${LAYERS:-4}
RUNS=${RUNS:-5}
for t in docker-registry skopeo hyperfine sha256sum gzip; do
  command -v "$t" >/dev/null || { echo "bench-pull.sh: $t not found (apt install docker-registry skopeo hyperfine)" >&2; exit 1; }
done

(cd "$repo" && cargo build -q --release -p bay)
bay="${CARGO_TARGET_DIR:-$repo/target}/release/bay"

work=$(mktemp -d /tmp/bay-bench.XXXXXX)
reg_pid= dockerd_pid=
cleanup() {
  [ -n "$dockerd_pid" ] && kill "$dockerd_pid" 2>/dev/null && wait "$dockerd_pid" 2>/dev/null || true
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- registry on a free loopback port, no blob descriptor cache (so deleting its storage
# between push runs really forces uploads)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
host=127.0.0.1:$port

# --- the image: a busybox layer plus $LAYERS layers of $LAYER_MB MiB (half random, half text,
# so gzip has something to do), as an OCI layout
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
diffs=() descs=()
add_layer() { # dir
  local dir=$1 tar="$1.tar"
  tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$dir" -cf "$tar" .
  local diff; diff=$(sha256sum "$tar" | cut -d' ' -f1)
  gzip -1 -n -c "$tar" >"$tar.gz"
  local dg; dg=$(sha256sum "$tar.gz" | cut -d' ' -f1)
  local size; size=$(stat -c %s "$tar.gz")
  mv "$tar.gz" "$layout/blobs/sha256/$dg"
  rm -f "$tar"
  diffs+=("\"sha256:$diff\"")
  descs+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dg\",\"size\":$size}")
}
mkdir -p "$work/l0/bin" "$work/l0/etc"
cp /bin/busybox "$work/l0/bin/busybox"; ln -s busybox "$work/l0/bin/sh"
add_layer "$work/l0"
for i in $(seq "$LAYERS"); do
  mkdir -p "$work/l$i/data"
  head -c $((LAYER_MB * 512 * 1024)) /dev/urandom >"$work/l$i/data/random$i"
  (yes "layer $i: the quick brown fox jumps over the lazy dog $RANDOM" || true) | head -c $((LAYER_MB * 512 * 1024)) >"$work/l$i/data/text$i"
  add_layer "$work/l$i"
  rm -rf "$work/l$i"
done
IFS=,
config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[${diffs[*]}]}}"
unset IFS
printf '%s' "$config" >"$work/config.json"
cd_=$(sha256sum "$work/config.json" | cut -d' ' -f1); cs=$(stat -c %s "$work/config.json")
mv "$work/config.json" "$layout/blobs/sha256/$cd_"
IFS=,
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cd_\",\"size\":$cs},\"layers\":[${descs[*]}]}"
unset IFS
printf '%s' "$manifest" >"$work/manifest.json"
md=$(sha256sum "$work/manifest.json" | cut -d' ' -f1); ms=$(stat -c %s "$work/manifest.json")
mv "$work/manifest.json" "$layout/blobs/sha256/$md"
echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$md\",\"size\":$ms,\"annotations\":{\"org.opencontainers.image.ref.name\":\"bench\"}}]}" >"$layout/index.json"
skopeo copy -q --dest-tls-verify=false "oci:$layout:bench" "docker://$host/bench:1"
total=$(du -sb "$layout/blobs" | cut -f1)
echo "image: $host/bench:1, $((LAYERS + 1)) layers, $((total / 1000000)) MB compressed"

# docker: the running daemon if one answers, else a private dockerd (overlay2) in $work
have_docker=0 docker=(docker)
if command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1; then
  have_docker=1
elif command -v docker >/dev/null && [ -x /usr/sbin/dockerd ] && [ "${BENCH_PRIVATE_DOCKERD:-1}" = 1 ]; then
  /usr/sbin/dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$work/docker.sock" \
    --pidfile "$work/docker.pid" --bridge none --iptables=false --ip6tables=false --storage-driver overlay2 \
    >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  docker=(docker -H "unix://$work/docker.sock")
  for _ in $(seq 100); do "${docker[@]}" version >/dev/null 2>&1 && { have_docker=1; break; }; sleep 0.1; done
fi
dk="${docker[*]}"

# --- pull: bay (download + verify + unpack), skopeo (download + verify into an OCI dir), docker
pull_cmds=(-n "bay pull" --prepare "rm -rf $work/bayroot; sync" "$bay --root $work/bayroot pull -q $host/bench:1"
           -n "skopeo copy" --prepare "rm -rf $work/skopeo-out; sync" "skopeo copy -q --src-tls-verify=false docker://$host/bench:1 oci:$work/skopeo-out:bench")
if [ $have_docker = 1 ]; then
  pull_cmds+=(-n "docker pull" --prepare "$dk rmi -f $host/bench:1 >/dev/null 2>&1; sync" "$dk pull -q $host/bench:1")
fi
hyperfine --runs "$RUNS" --warmup 1 --export-markdown "$work/pull.md" "${pull_cmds[@]}"

# --- push: the registry's storage is wiped before each run so every layer is uploaded
"$bay" --root "$work/bayroot" pull -q "$host/bench:1" >/dev/null
"$bay" --root "$work/bayroot" tag "$host/bench:1" "$host/pushed:1"
wipe="rm -rf $work/registry/docker/registry/v2/repositories/pushed $work/registry/docker/registry/v2/blobs; sync"
restore="skopeo copy -q --dest-tls-verify=false oci:$layout:bench docker://$host/bench:1"
push_cmds=(-n "bay push" --prepare "$wipe" "$bay --root $work/bayroot push -q $host/pushed:1"
           -n "skopeo copy (push)" --prepare "$wipe" "skopeo copy -q --dest-tls-verify=false oci:$layout:bench docker://$host/pushed:1")
if [ $have_docker = 1 ]; then
  "${docker[@]}" pull -q "$host/bench:1" >/dev/null && "${docker[@]}" tag "$host/bench:1" "$host/pushed:1"
  push_cmds+=(-n "docker push" --prepare "$wipe" "$dk push -q $host/pushed:1")
fi
hyperfine --runs "$RUNS" --export-markdown "$work/push.md" "${push_cmds[@]}"
$restore
echo; cat "$work/pull.md"; echo; cat "$work/push.md"
[ $have_docker = 1 ] || echo "(docker not measured: no dockerd)"
