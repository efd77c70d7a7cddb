#!/bin/sh
# The container image's base, made from Debian's own packages (debootstrap), no container registry involved:
# Debian 12 (bookworm) minbase with its python3 (3.11) and python3-venv, imported into buildah's local storage
# as localhost/esat-exchange-base:bookworm. Prints the image's digest (the Containerfile's FROM pins it).
# Run as root (debootstrap, buildah's chroot isolation). Made once; `BASE_REBUILD=1` makes it again.
set -eu
for tool in debootstrap buildah; do  # Debian's packages, installed here when missing (root with apt)
  command -v "$tool" >/dev/null 2>&1 && continue
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap buildah >&2
  else
    echo "make image a besoin de debootstrap et buildah (paquets Debian), en root" >&2
    exit 1
  fi
done
NAME=localhost/esat-exchange-base:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ "${BASE_REBUILD:-0}" != 1 ] && buildah inspect --type image "$NAME" >/dev/null 2>&1; then
  buildah inspect --type image --format '{{.FromImageDigest}}' "$NAME"
  exit 0
fi
root=$(mktemp -d /var/tmp/esat-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$MIRROR" >&2
# what an image does not need: apt's lists and caches, man pages, docs
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/cache/debconf/*-old
ctr=$(buildah from scratch)
mnt=$(buildah mount "$ctr")
cp -a "$root"/. "$mnt"/
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
  --label org.opencontainers.image.description="Debian 12 minbase + python3, debootstrap" "$ctr"
buildah commit --quiet "$ctr" "$NAME" >&2
buildah rm "$ctr" >/dev/null
buildah inspect --type image --format '{{.FromImageDigest}}' "$NAME"
