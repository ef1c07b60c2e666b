#!/usr/bin/env bash
# Runs a command as root in a private mount namespace with an overlay over /etc
# and a tmpfs at /srv, so that benchmarks may create users and repositories
# without touching this machine's own /etc or /backups.
#   bench/in-namespace.sh COMMAND [ARGS...]
set -euo pipefail
if [[ ${SBS_IN_NAMESPACE:-} != 1 ]]; then
  exec env SBS_IN_NAMESPACE=1 unshare --mount --propagation private --fork "$0" "$@"
fi
# The overlay's own directories live in the private /srv, so that nothing is left
# behind on this machine's disk when the namespace ends.
mount -t tmpfs -o mode=0755 tmpfs /srv
mkdir -p /srv/.etc-overlay/upper /srv/.etc-overlay/work
mount -t overlay overlay -o "lowerdir=/etc,upperdir=/srv/.etc-overlay/upper,workdir=/srv/.etc-overlay/work" /etc
"$@"
