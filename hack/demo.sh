#!/usr/bin/env bash
# The demo: build berth, make a busybox bundle, and walk a container through its lifecycle.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/setup.sh --base
cargo build --release -q -p berth
berth=$PWD/target/release/berth
bundle=$PWD/target/demo-bundle
bash hack/rootfs.sh "$bundle" >/dev/null
root=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap '"$berth" --root "$root" delete -f demo >/dev/null 2>&1; rm -rf "$root"' EXIT
cd "$bundle"
set -x
"$berth" --version
"$berth" --root "$root" run demo-run
"$berth" --root "$root" create demo
"$berth" --root "$root" state demo
"$berth" --root "$root" list
"$berth" --root "$root" start demo
sleep 0.1
"$berth" --root "$root" state demo
"$berth" --root "$root" delete demo
