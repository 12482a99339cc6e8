#!/usr/bin/env bash
# Build the Firehook image without a container registry, then check it serves.
#
# A Debian bookworm base is made with debootstrap (python3, its venv module and CA
# certificates, from the Debian archive) and imported into buildah; the Dockerfile
# is built on top of it (BASE_IMAGE), with vfs storage and chroot isolation, so no
# daemon, no registry and no privileges beyond root are needed. The image then runs
# `firehook dev` and the script waits for /readyz.
#
#   sudo scripts/build-image.sh            # tags localhost/firehook:<version>
#   DEBIAN_MIRROR=http://mirror.local/debian sudo scripts/build-image.sh
#
# Needs the Debian packages debootstrap and buildah (installed when missing, on Debian
# or Ubuntu, as root) and curl.
set -euo pipefail

cd "$(dirname "$0")/.."
VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=localhost/firehook-base:$SUITE
IMAGE=localhost/firehook:$VERSION
PORT=${PORT:-18080}
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot

missing=()
for tool in debootstrap buildah curl; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi

work=$(mktemp -d)
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "${container:-}" ] && buildah rm "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  echo "== base: debootstrap $SUITE from $MIRROR"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*.bin \
    "$work"/rootfs/var/cache/apt/archives/*.deb
  tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  base=$(buildah from scratch)
  buildah add "$base" "$work/rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label "org.opencontainers.image.description=Debian $SUITE (debootstrap minbase) with python3" \
    "$base"
  buildah commit --quiet --rm "$base" "$BASE" >/dev/null
fi
echo "== base: $BASE $(buildah inspect --type image --format '{{.FromImageDigest}}' "$BASE")"

echo "== image: $IMAGE"
# Behind a TLS-inspecting proxy the build's pip needs this machine's CA bundle.
trust=()
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
if [ -f "$ca" ]; then
  trust=(--volume "$ca:/run/firehook-build-ca.crt:ro" --build-arg PIP_CERT=/run/firehook-build-ca.crt)
fi
[ -n "${PIP_INDEX_URL:-}" ] && trust+=(--build-arg PIP_INDEX_URL="$PIP_INDEX_URL")
buildah build --isolation chroot --layers "${trust[@]}" \
  --build-arg BASE_IMAGE="$BASE" \
  --build-arg VERSION="$VERSION" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$IMAGE" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
echo "   $(buildah inspect --type image --format '{{.FromImageDigest}}' "$IMAGE")"

echo "== run: firehook dev on 127.0.0.1:$PORT"
container=$(buildah from "$IMAGE")
buildah run --isolation chroot --user 10001:10001 --workingdir /var/lib/firehook \
  "$container" -- firehook dev --host 127.0.0.1 --port "$PORT" >"$work/dev.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >"$work/readyz" 2>/dev/null; then
    echo "   /readyz: $(cat "$work/readyz")"
    grep -m1 "company:" "$work/dev.log" >/dev/null && echo "   the dev server printed its admin key"
    echo "ok: $IMAGE"
    exit 0
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.5
done
echo "the image did not become ready:"; tail -30 "$work/dev.log"
exit 1
