#!/usr/bin/env bash
# The whole test suite: unit tests, end-to-end tests with real containers through berth,
# bay against a real registry, the shim under real containerd/dockerd, the conformance
# suite, and the cgroup v2 tests inside a qemu VM.
#   hack/test.sh            everything
#   hack/test.sh --no-vm    skip the cgroup v2 VM run
set -euo pipefail
cd "$(dirname "$0")/.."
vm=1
[ "${1:-}" = --no-vm ] && vm=0

bash hack/setup.sh
cargo build --workspace --all-targets
bash hack/rootfs.sh target/bundle >/dev/null
export BERTH_BIN=$PWD/target/debug/berth

status=0
cargo test --workspace --no-fail-fast || status=1
if [ "$vm" = 1 ]; then
  bash hack/vm/test-cgroup2.sh || status=1
fi
# Nothing may be left behind by the suite.
if [ -n "$(ls -A /run/berth 2>/dev/null)" ]; then
  echo "test.sh: containers left in /run/berth: $(ls /run/berth)" >&2
  status=1
fi
exit $status
