#!/usr/bin/env bash
# rootfs.sh [DIR] — build an OCI bundle at DIR (default: target/bundle) from Debian's busybox-static:
# DIR/rootfs with every applet linked, /etc/passwd and /etc/group (root and an unprivileged user
# "user" 1000:1000), and DIR/config.json equal to `berth spec` but running `sh -c 'echo ...'`.
# No network images are needed; tests and demos start from here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../target/bundle}
bb=/bin/busybox
[ -x "$bb" ] || { echo "rootfs.sh: $bb not found: run hack/setup.sh (busybox-static)" >&2; exit 1; }
"$bb" --list >/dev/null 2>&1 || { echo "rootfs.sh: $bb is not a busybox binary" >&2; exit 1; }
file_is_static=$(ldd "$bb" 2>&1 || true)
case "$file_is_static" in *"not a dynamic"*|*"statically linked"*) ;; *) echo "rootfs.sh: $bb is not static (install busybox-static)" >&2; exit 1;; esac

mkdir -p "$dir"
rootfs="$dir/rootfs"
rm -rf "$rootfs.tmp"
mkdir -p "$rootfs.tmp"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,home/user,run,var/tmp,mnt}
cp "$bb" "$rootfs.tmp/bin/busybox"
for a in $("$bb" --list-full); do
  [ "$a" = bin/busybox ] && continue
  [ -e "$rootfs.tmp/$a" ] || ln -s /bin/busybox "$rootfs.tmp/$a"
done
chmod 1777 "$rootfs.tmp/tmp" "$rootfs.tmp/var/tmp"
cat >"$rootfs.tmp/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat >"$rootfs.tmp/etc/group" <<'G'
root:x:0:
wheel:x:10:user
user:x:1000:
nogroup:x:65534:
G
chown 1000:1000 "$rootfs.tmp/home/user"
echo 'berth' >"$rootfs.tmp/etc/hostname"
touch "$rootfs.tmp/etc/hosts" "$rootfs.tmp/etc/resolv.conf"
rm -rf "$rootfs"
mv "$rootfs.tmp" "$rootfs"

cat >"$dir/config.json" <<'J'
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh", "-c", "echo hello from berth: $(hostname), pid $$, uid $(id -u)"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "berth",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
J
echo "$dir"
