#!/usr/bin/env bash
# Installs (as root, on Debian 12) the system packages the server and its system
# tests run: OpenSSH and borg from Debian, plus the tools the tests call (Debian's
# chromium drives the admin page's tests through playwright-core, which never downloads one; libfaketime
# steps the server's clock in the fault tests).
# Idempotent: apt-get runs only when something is missing.
set -euo pipefail

required_packages=(openssh-server openssh-client borgbackup curl util-linux procps iproute2 ca-certificates ssh-audit chromium fonts-dejavu-core faketime)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-system-packages: must run as root" >&2
  exit 1
fi

missing_packages=()
for package in "${required_packages[@]}"; do
  if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
    missing_packages+=("$package")
  fi
done

if ((${#missing_packages[@]} > 0)); then
  echo "install-system-packages: installing ${missing_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing_packages[@]}"
fi
