#!/usr/bin/env bash
# Installs (as root, on Debian 12) the system packages the server and its system
# tests run: OpenSSH and borg from Debian, plus the tools the tests call (Debian's
# chromium drives the admin page's tests through playwright-core, which never downloads one; libfaketime
# steps the server's clock in the fault tests; prometheus for its promtool, with which the tests check
# and run the example alert rules).
# Idempotent: apt-get runs only when something is missing.
set -euo pipefail

required_packages=(openssh-server openssh-client borgbackup curl util-linux procps iproute2 ca-certificates ssh-audit chromium fonts-dejavu-core faketime prometheus)

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
  # The tests need only promtool, but Debian's package also starts a Prometheus server on port 9090
  # unless a policy-rc.d forbids it (as containers' usually does): stop and disable the one this run
  # installed, and leave alone one that was installed before.
  if [[ " ${missing_packages[*]} " == *" prometheus "* ]]; then
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now prometheus.service
    elif pgrep -x prometheus >/dev/null; then
      /etc/init.d/prometheus stop
      update-rc.d prometheus disable
    fi
  fi
fi
