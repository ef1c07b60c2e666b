#!/usr/bin/env bash
# Backup throughput through the restricted path (restrict + forced
# `borg serve --restrict-to-repository … --append-only`) against plain
# `borg serve` for the same user over the same sshd, side by side; a third
# key with `borg serve --append-only` tells append-only's own cost apart
# from the rest of the restriction.
#   npm run build && bench/backup-throughput.sh [MEGABYTES] [ROUNDS]
# Runs the server in a private mount namespace (bench/in-namespace.sh).
set -euo pipefail
megabytes=${1:-200}
rounds=${2:-3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${SBS_IN_NAMESPACE:-} != 1 ]]; then
  exec "$here/in-namespace.sh" "$here/backup-throughput.sh" "$@"
fi

work=$(mktemp -d)
server_pid=''
cleanup() {
  [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

read -r ssh_port http_port < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
useradd --system --no-create-home --shell /usr/sbin/nologin borg-api
export BORG_SERVER_STATE_DIR=/srv/state BORG_SERVER_BACKUP_DIR=/srv/backups BORG_SERVER_SSH_PORT=$ssh_port \
  BORG_SERVER_HTTP_HOST=127.0.0.1 BORG_SERVER_HTTP_PORT=$http_port BORG_SERVER_PUBLIC_URL=http://127.0.0.1:$http_port \
  BORG_SERVER_SSH_HOST=127.0.0.1 BORG_SERVER_LOG_LEVEL=warn
"$here/../bin/borgctl" serve 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

ssh-keygen -q -t ed25519 -N '' -f "$work/restricted"
ssh-keygen -q -t ed25519 -N '' -f "$work/plain"
ssh-keygen -q -t ed25519 -N '' -f "$work/append-only"
"$here/../bin/borgctl" createuser bench "$(cat "$work/restricted.pub")" >/dev/null 2>&1
# The baseline: the same account, a second key whose forced command is plain `borg serve`.
# (Written by hand for the benchmark; the next reconcile would remove it.)
printf 'command="borg serve" %s\n' "$(cut -d' ' -f1,2 "$work/plain.pub")" >>/srv/state/ssh/authorized_keys/bench
printf 'command="borg serve --append-only" %s\n' "$(cut -d' ' -f1,2 "$work/append-only.pub")" >>/srv/state/ssh/authorized_keys/bench
ssh-keyscan -p "$ssh_port" 127.0.0.1 2>/dev/null >"$work/known_hosts"

mkdir -p "$work/data"
# Half random (incompressible), half repetitive text: borg's real work is both.
head -c $((megabytes * 512 * 1024)) /dev/urandom >"$work/data/random"
head -c $((megabytes * 512 * 1024)) < <(yes 'backup me') >"$work/data/text"

backup_seconds() {
  local key=$1 base
  base=$(mktemp -d)
  rm -rf /srv/backups/bench/repo/* /srv/backups/bench/repo/.[!.]* 2>/dev/null || true
  export BORG_RSH="ssh -i $work/$key -F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile=$work/known_hosts -o BatchMode=yes"
  export BORG_BASE_DIR=$base BORG_PASSPHRASE=bench BORG_REPO="ssh://bench@127.0.0.1:$ssh_port/./repo"
  borg init -e repokey-blake2 >/dev/null 2>&1
  local started ended
  started=$(date +%s.%N)
  borg create --compression lz4 ::bench "$work/data" >/dev/null
  ended=$(date +%s.%N)
  rm -rf "$base"
  echo "$ended - $started" | bc -l
}

restricted_total=0
plain_total=0
append_only_total=0
for round in $(seq "$rounds"); do
  restricted=$(backup_seconds restricted)
  plain=$(backup_seconds plain)
  append_only=$(backup_seconds append-only)
  printf 'round %d: restricted %.2f s, plain borg serve %.2f s, borg serve --append-only %.2f s\n' \
    "$round" "$restricted" "$plain" "$append_only"
  restricted_total=$(echo "$restricted_total + $restricted" | bc -l)
  plain_total=$(echo "$plain_total + $plain" | bc -l)
  append_only_total=$(echo "$append_only_total + $append_only" | bc -l)
done
printf 'data: %d MB; throughput restricted %.1f MB/s, plain %.1f MB/s, append-only %.1f MB/s\n' "$megabytes" \
  "$(echo "$megabytes * $rounds / $restricted_total" | bc -l)" "$(echo "$megabytes * $rounds / $plain_total" | bc -l)" \
  "$(echo "$megabytes * $rounds / $append_only_total" | bc -l)"
printf 'ratio restricted / plain time: %.3f\n' "$(echo "$restricted_total / $plain_total" | bc -l)"
printf 'ratio append-only / plain time: %.3f (what append-only alone costs)\n' "$(echo "$append_only_total / $plain_total" | bc -l)"
printf 'ratio restricted / append-only time: %.3f (what the rest of the restriction costs)\n' \
  "$(echo "$restricted_total / $append_only_total" | bc -l)"
