#!/usr/bin/env bash
# Builds the assistant's image on a host that reaches Debian's and PyPI's package mirrors but no container
# registry: the base image is made from Debian packages (debootstrap + docker import), then the project's
# Dockerfile builds on it (BASE_IMAGE build argument). On a normal host, `docker build -t kca .` is enough.
#
#   scripts/build-image.sh [TAG]        (default tag: kca:local; base image: kca-base:bookworm)
#
# Needs root, docker (a running daemon) and debootstrap. The host's CA bundle is copied into the base image
# so that pip inside the build trusts the same TLS roots as the host (some networks inspect TLS).
set -euo pipefail
tag=${1:-kca:local}
base=kca-base:bookworm
root_dir=$(cd "$(dirname "$0")/.." && pwd)

if ! docker image inspect "$base" >/dev/null 2>&1; then
  work=$(mktemp -d /var/tmp/kca-base.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "build-image: debootstrap bookworm into $work"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log"
  cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$base"
fi

echo "build-image: building $tag on $base"
docker build --network host \
  --build-arg BASE_IMAGE="$base" \
  --build-arg REVISION="$(git -C "$root_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  -t "$tag" "$root_dir"
docker image ls "$tag"
