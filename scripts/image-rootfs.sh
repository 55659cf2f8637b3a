#!/usr/bin/env bash
# Stages the root filesystem of the `prebuilt` image target (see Dockerfile): a binary cargo
# built, the shared libraries it links (as `ldd` resolves them on this machine, so build it on
# the distribution the image is for), a passwd entry for the non-root user 65532, the CA
# certificates when this machine has them, and the default config.
#
#   scripts/image-rootfs.sh [BINARY] [OUT]   # defaults: target/release/faultline target/image-root
#
# OUT/rootfs is copied to / and OUT/state (empty) to /var/lib/faultline, owned by 65532.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/faultline}
OUT=${2:-target/image-root}
[ -x "$BIN" ] || { echo "image-rootfs.sh: $BIN is not an executable (cargo build --release first)" >&2; exit 2; }
rm -rf "$OUT"
mkdir -p "$OUT/rootfs/usr/local/bin" "$OUT/rootfs/etc/faultline" "$OUT/state"
cp "$BIN" "$OUT/rootfs/usr/local/bin/faultline"
cp config/faultline.yaml "$OUT/rootfs/etc/faultline/faultline.yaml"
# Every library the binary needs, and the dynamic loader, at the paths it expects.
ldd "$BIN" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | while read -r lib; do
  mkdir -p "$OUT/rootfs$(dirname "$lib")"
  cp -L "$lib" "$OUT/rootfs$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$OUT/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$OUT/rootfs/etc/group"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$OUT/rootfs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$OUT/rootfs/etc/ssl/certs/"
fi
echo "$OUT"
