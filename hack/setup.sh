#!/usr/bin/env bash
# Installs the system packages berth's build, tests, demo and benchmarks need. Idempotent:
# packages already present are skipped, so a warm machine returns in well under a second.
#   hack/setup.sh          everything the test suite needs (engines, registry, VM, ...)
#   hack/setup.sh --base   only what building berth and running the demo need
set -euo pipefail

base=(busybox-static runc crun jq iproute2 util-linux procps psmisc python3 git ca-certificates)
full=(hyperfine strace time
      containerd docker.io docker-registry skopeo umoci iptables containernetworking-plugins
      netavark aardvark-dns bzip2
      openssl apache2-utils zstd xz-utils gzip python3-venv libc6-dev uidmap
      qemu-system-x86)
pkgs=("${base[@]}")
[ "${1:-}" = --base ] || pkgs+=("${full[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  # Keep package init scripts from starting daemons (containerd, dockerd) on install.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  echo "setup: installing ${missing[*]}" >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/tmp/berth-setup-apt.log 2>&1 ||
    { apt-get -o DPkg::Lock::Timeout=600 update -q >>/tmp/berth-setup-apt.log 2>&1 &&
      apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >>/tmp/berth-setup-apt.log 2>&1; } ||
    { tail -20 /tmp/berth-setup-apt.log >&2; echo "setup: apt-get install failed" >&2; exit 1; }
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
