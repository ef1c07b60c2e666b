#!/usr/bin/env bash
# Runs a command as root in a private mount namespace with an overlay over /etc
# and a tmpfs at /srv, so that benchmarks may create users and repositories
# without touching this machine's own /etc or /backups.
#   bench/in-namespace.sh COMMAND [ARGS...]
set -euo pipefail
if [[ ${SBS_IN_NAMESPACE:-} != 1 ]]; then
  exec env SBS_IN_NAMESPACE=1 unshare --mount --propagation private --fork "$0" "$@"
fi
scratch=$(mktemp -d)
mount -t tmpfs -o mode=0755 tmpfs "$scratch"
mkdir -p "$scratch/upper" "$scratch/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$scratch/upper,workdir=$scratch/work" /etc
mount -t tmpfs -o mode=0755 tmpfs /srv
"$@"
