#!/usr/bin/env bash
# build-images.sh DIR - build the test images offline from Debian's busybox-static into DIR:
#   DIR/busybox-oci.tar     OCI layout, ref "latest" (ctr images import --base-name docker.io/library/busybox)
#   DIR/pause-oci.tar       busybox with Entrypoint ["/bin/sleep"], Cmd ["2147483647"], ref "3.6"
#                           (stands in for registry.k8s.io/pause:3.6 for the CRI plugin)
#   DIR/busybox-docker.tar  docker-archive of docker.io/library/busybox:latest (docker load)
# Idempotent: does nothing when all three exist. Needs busybox-static, umoci, skopeo.
set -euo pipefail
dir=${1:?usage: build-images.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -f "$dir/busybox-oci.tar" ] && [ -f "$dir/pause-oci.tar" ] && [ -f "$dir/busybox-docker.tar" ]; then
  exit 0
fi
for t in umoci skopeo; do
  command -v "$t" >/dev/null || { echo "build-images.sh: $t not found (apt-get install $t)" >&2; exit 1; }
done
bb=/bin/busybox
[ -x "$bb" ] && ! ldd "$bb" >/dev/null 2>&1 || { echo "build-images.sh: static $bb not found (apt-get install busybox-static)" >&2; exit 1; }

work=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,var/www}
cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list-full); do
  [ "$a" = bin/busybox ] && continue
  mkdir -p "$root/$(dirname "$a")"; ln -sf /bin/busybox "$root/$a"
done
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
echo '<h1>hello from busybox httpd</h1>' > "$root/var/www/index.html"
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$work/rootfs.tar" .
(
  cd "$work"
  umoci init --layout oci
  umoci new --image oci:latest
  umoci unpack --image oci:latest bundle
  tar -C bundle/rootfs -xf rootfs.tar
  umoci repack --image oci:latest bundle
  umoci config --image oci:latest --os linux --architecture amd64 --config.cmd /bin/sh \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --config.workingdir /
  cp -a oci oci-pause
  umoci config --image oci-pause:latest --tag 3.6 --config.entrypoint /bin/sleep --config.cmd 2147483647
  umoci rm --image oci-pause:latest
  umoci gc --layout oci-pause
  tar -C oci -cf busybox-oci.tar .
  tar -C oci-pause -cf pause-oci.tar .
  skopeo copy -q oci:oci:latest docker-archive:busybox-docker.tar:docker.io/library/busybox:latest
) > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; echo "build-images.sh: image build failed" >&2; exit 1; }
mv "$work/busybox-oci.tar" "$work/pause-oci.tar" "$work/busybox-docker.tar" "$dir/"
