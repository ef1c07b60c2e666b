#!/usr/bin/env bash
# Prepare a Debian 12 machine (as root) to build and run the project's image with podman.
#
# Idempotent: installs only the missing packages, and runs `apt-get update` only
# when something is missing. Writes nothing under /etc itself: podman's settings
# live in test/image/containers.conf and every podman call passes that file through
# the CONTAINERS_CONF environment variable.
#
# Usage: sudo scripts/setup-podman.sh
set -euo pipefail

repository_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repository_root/test/image/containers.conf}"

# podman, its runtime and network stack (netavark, aardvark-dns, iptables for
# published ports), debootstrap for the base-image stand-in, podman-compose for
# compose.yaml, uidmap for podman's user-namespace helpers.
required_packages=(
  podman
  runc
  netavark
  aardvark-dns
  iptables
  debootstrap
  podman-compose
  uidmap
)

if [[ $(id -u) -ne 0 ]]; then
  echo "setup-podman: must run as root" >&2
  exit 1
fi

is_installed() {
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

missing_packages=()
for package in "${required_packages[@]}"; do
  if ! is_installed "$package"; then
    missing_packages+=("$package")
  fi
done

if ((${#missing_packages[@]} > 0)); then
  echo "setup-podman: installing ${missing_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y "${missing_packages[@]}"
else
  echo "setup-podman: packages already installed (${required_packages[*]})"
fi

# The base-image recipe packs node and npm from the npm registry with the host's npm.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup-podman: npm is required on the host (scripts/build-base-image.sh runs npm pack)" >&2
  exit 1
fi

if [[ ! -r $CONTAINERS_CONF ]]; then
  echo "setup-podman: $CONTAINERS_CONF is missing" >&2
  exit 1
fi

# Check that podman reads our configuration rather than the machine's.
runtime=$(podman info --format '{{.Host.OCIRuntime.Name}}')
if [[ $runtime != runc ]]; then
  echo "setup-podman: podman uses runtime '$runtime', expected runc from $CONTAINERS_CONF" >&2
  exit 1
fi

echo "setup-podman: ready (podman $(podman version --format '{{.Client.Version}}'), runtime $runtime, CONTAINERS_CONF=$CONTAINERS_CONF)"
