#!/usr/bin/env bash
# Installs the system packages berth's build, tests and benchmarks need. Idempotent: packages
# already present are skipped, so a warm machine returns in well under a second.
set -euo pipefail

pkgs=(busybox-static runc crun hyperfine jq strace iproute2 util-linux procps psmisc python3 time)
[ "${BERTH_SETUP_ENGINES:-0}" = 1 ] && pkgs+=(containerd docker.io docker-registry skopeo umoci iptables containernetworking-plugins)

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
  apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" ||
    { apt-get -o DPkg::Lock::Timeout=600 update && apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"; }
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
