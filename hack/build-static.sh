#!/usr/bin/env bash
# build-static.sh — release builds of berth and containerd-shim-berth-v2 linked statically
# (glibc static-pie is not needed: non-PIE static), the way to install them: no shared library
# pages, so an idle shim stays at about 2 MiB RSS and berth's peak RSS drops too
# (docs/containerd.md, docs/benchmarks.md). Binaries land in target/static/.
# --target is explicit so the static flags don't reach build scripts and proc macros.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}/static-build \
CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
  cargo build --release -q -p berth -p containerd-shim-berth-v2 --target "$target"
out=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$out/static"
for b in berth containerd-shim-berth-v2; do
  cp "$out/static-build/$target/release/$b" "$out/static/$b"
done
ls -la "$out/static"
