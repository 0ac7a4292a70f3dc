#!/usr/bin/env bash
# setup-cri-client.sh [DIR] - a CRI (runtime.v1) client without crictl (not packaged in Debian
# bookworm). Builds once into DIR (default: <repo>/target/engines/cri), idempotent:
#   - the CRI proto from the k8s-cri crate (crates.io, Apache-2.0), via `cargo fetch`
#   - Python grpc stubs from grpcio-tools (PyPI) in DIR/venv, generated into DIR/gen
# Then: DIR/venv/bin/python hack/engines/cri_lifecycle.py --socket S --handler H
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
D=${1:-$here/../../target/engines/cri}
mkdir -p "$D/gen" "$D/fetch/src"
D=$(cd "$D" && pwd)
if [ -f "$D/gen/api_pb2_grpc.py" ] && [ -x "$D/venv/bin/python" ]; then
  echo "$D"; exit 0
fi
cat > "$D/fetch/Cargo.toml" <<'TOML'
[package]
name = "cri-proto-fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
k8s-cri = "=0.11.0"
[workspace]
TOML
echo 'fn main() {}' > "$D/fetch/src/main.rs"
(cd "$D/fetch" && cargo fetch -q)
proto=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*k8s-cri-0.11.0/proto/v1.proto' | head -1)
[ -n "$proto" ] || { echo "setup-cri-client.sh: v1.proto not found after cargo fetch" >&2; exit 1; }
cp "$proto" "$D/gen/api.proto"
[ -x "$D/venv/bin/python" ] || python3 -m venv "$D/venv"
"$D/venv/bin/pip" install -q grpcio grpcio-tools
"$D/venv/bin/python" -m grpc_tools.protoc -I"$D/gen" --python_out="$D/gen" --grpc_python_out="$D/gen" "$D/gen/api.proto"
echo "$D"
