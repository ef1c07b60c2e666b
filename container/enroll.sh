#!/bin/sh
# secure-borg-server: enroll this machine as a backup host.
#
#   enroll=$(curl --pinnedpubkey PIN -fsS https://SERVER/enroll.sh) && printf '%s\n' "$enroll" | BORG_ENROLL_TOKEN=TOKEN sh -s -- --pin PIN [--name NAME] [--key FILE]
#
# PIN (sha256//…) is the server's TLS public key, handed over with the token:
# every request checks it before sending anything, so the token, this script
# and the SSH host keys it installs cannot come from a man in the middle.
# The token comes in the environment (BORG_ENROLL_TOKEN), never as an
# argument: any user of this machine can read every process's arguments.
# The exit status is 0 only when this machine was enrolled and approved.
#
# Makes an SSH key for backups (ed25519) if there is none, shows its
# fingerprint for the admin to compare, sends the public key with the one-time
# token, waits until the admin approves (a token minted with auto-approve is
# approved at once, and the script says so), then adds the server's SSH host
# keys to known_hosts and prints the BORG_REPO and BORG_RSH lines to use.
set -eu

# The whole script is one group: a shell that gets only part of it (a download
# cut off) finds the group unclosed and runs nothing.
{
SERVER_URL='@@SERVER_URL@@'
TOKEN="${BORG_ENROLL_TOKEN:-}"
NAME=''
KEY_FILE="${HOME}/.ssh/borg_ed25519"
KNOWN_HOSTS="${HOME}/.ssh/known_hosts"
ENROLLMENT_ID=''
PIN=''
POLL_SECONDS=5

usage() {
  cat >&2 <<USAGE
usage: BORG_ENROLL_TOKEN=TOKEN enroll.sh [--pin sha256//…] [--name NAME] [--key FILE] [--server URL]
       enroll.sh --resume ENROLLMENT_ID [--pin sha256//…] [--key FILE] [--server URL]
USAGE
  exit 2
}

fail() {
  printf 'enroll: %s\n' "$*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --token)
      [ $# -ge 2 ] || usage; TOKEN=$2; shift 2
      printf 'enroll: warning: --token shows the token to every user of this machine (ps); pass it as BORG_ENROLL_TOKEN\n' >&2
      ;;
    --name) [ $# -ge 2 ] || usage; NAME=$2; shift 2 ;;
    --key) [ $# -ge 2 ] || usage; KEY_FILE=$2; shift 2 ;;
    --server) [ $# -ge 2 ] || usage; SERVER_URL=$2; shift 2 ;;
    --resume) [ $# -ge 2 ] || usage; ENROLLMENT_ID=$2; shift 2 ;;
    --pin) [ $# -ge 2 ] || usage; PIN=$2; shift 2 ;;
    --known-hosts) [ $# -ge 2 ] || usage; KNOWN_HOSTS=$2; shift 2 ;;
    -h|--help) usage ;;
    *) printf 'enroll: unknown argument %s\n' "$1" >&2; usage ;;
  esac
done

case "$SERVER_URL" in
  http://*|https://*) ;;
  *) fail "no server URL: pass --server https://host:port" ;;
esac
[ -n "$TOKEN" ] || [ -n "$ENROLLMENT_ID" ] || usage
[ -z "$TOKEN" ] || case "$TOKEN" in *[!A-Za-z0-9._-]*) fail "the token has unexpected characters" ;; esac
command -v curl >/dev/null 2>&1 || fail "curl is needed"
command -v ssh-keygen >/dev/null 2>&1 || fail "ssh-keygen is needed (openssh-client)"

case "$PIN" in
  '') ;;
  sha256//*) ;;
  *) fail "--pin must look like sha256//BASE64" ;;
esac
case "$SERVER_URL" in
  https://*) ;;
  *)
    [ -z "$PIN" ] || fail "--pin needs an https:// server URL"
    printf 'enroll: warning: %s is plain HTTP; use it only on loopback or behind a TLS proxy you trust\n' "$SERVER_URL" >&2
    ;;
esac

# Every request: no redirects to other schemes and, with a pin, only the
# server whose TLS key matches it (the pin replaces CA checks: -k).
api() {
  if [ -n "$PIN" ]; then
    curl -sS --proto '=https' --max-time 30 -k --pinnedpubkey "$PIN" "$@"
  else
    curl -sS --proto '=https,http' --max-time 30 "$@"
  fi
}

# The value of a string field in the API's compact JSON answers.
json_field() {
  sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"
}

# Check the server first (with a pin, its TLS key): against a man in the
# middle the script stops here, before it writes anything or sends the token.
api -f -o /dev/null "$SERVER_URL/v1/server" || fail "could not reach $SERVER_URL${PIN:+ with a TLS key matching $PIN}"

if [ ! -f "$KEY_FILE" ]; then
  KEY_DIR=$(dirname "$KEY_FILE")
  # Only a directory made here gets 0700: never change one that was there (--key /tmp/k).
  if [ ! -d "$KEY_DIR" ]; then
    mkdir -p "$KEY_DIR"
    chmod 700 "$KEY_DIR"
  fi
  ssh-keygen -q -t ed25519 -N '' -C "borg@$(hostname 2>/dev/null || echo host)" -f "$KEY_FILE"
  printf 'Made a new backup key: %s\n' "$KEY_FILE" >&2
fi
[ -f "$KEY_FILE.pub" ] || fail "public key $KEY_FILE.pub is missing"
FINGERPRINT=$(ssh-keygen -l -E sha256 -f "$KEY_FILE.pub" | awk '{print $2}')

if [ -z "$ENROLLMENT_ID" ]; then
  if [ -z "$NAME" ]; then
    DEFAULT_NAME=$(hostname 2>/dev/null | cut -d. -f1 | tr 'A-Z_' 'a-z-' | tr -cd 'a-z0-9-')
  fi
  case "$NAME" in
    *[!a-z0-9-]*) fail "--name may only use a-z, 0-9 and -" ;;
  esac
  PUBLIC_KEY=$(cut -d' ' -f1,2 "$KEY_FILE.pub")
  case "$PUBLIC_KEY" in
    *[!A-Za-z0-9+/=@.\ -]*) fail "unexpected characters in $KEY_FILE.pub" ;;
  esac
  if [ -n "$NAME" ]; then
    BODY=$(printf '{"hostname":"%s","publicKey":"%s"}' "$NAME" "$PUBLIC_KEY")
  else
    BODY=$(printf '{"defaultHostname":"%s","publicKey":"%s"}' "${DEFAULT_NAME:-}" "$PUBLIC_KEY")
  fi
  # The token goes in a header read from standard input, so it is not in the process list.
  RESPONSE=$(printf 'Authorization: Bearer %s\n' "$TOKEN" | api -H @- -H 'Content-Type: application/json' \
    --data-binary "$BODY" -w '\n%{http_code}' "$SERVER_URL/v1/enroll") || fail "could not reach $SERVER_URL"
  STATUS=$(printf '%s' "$RESPONSE" | tail -n 1)
  RESPONSE=$(printf '%s' "$RESPONSE" | sed '$d')
  if [ "$STATUS" != "202" ]; then
    fail "the server refused the enrollment (HTTP $STATUS): $(printf '%s' "$RESPONSE" | json_field message)"
  fi
  ENROLLMENT_ID=$(printf '%s' "$RESPONSE" | json_field id)
  [ -n "$ENROLLMENT_ID" ] || fail "unexpected answer from the server: $RESPONSE"
  ENROLL_STATUS=$(printf '%s' "$RESPONSE" | json_field status)
  APPROVED_HOW='was approved automatically: the token allowed it'
else
  # Resuming: the server says which host this enrollment is for, and where it stands.
  case "$ENROLLMENT_ID" in *[!A-Za-z0-9_-]*) fail "--resume takes an enrollment id (letters, digits, - and _)" ;; esac
  RESPONSE=$(api -f "$SERVER_URL/v1/enrollments/$ENROLLMENT_ID") || fail "the server knows no enrollment $ENROLLMENT_ID (or could not be reached)"
  ENROLL_STATUS=$(printf '%s' "$RESPONSE" | json_field status)
  APPROVED_HOW='is approved'
fi
NAME=$(printf '%s' "$RESPONSE" | json_field hostname)

if [ "$ENROLL_STATUS" = pending ]; then
  cat >&2 <<EOF_INFO

  Enrollment $ENROLLMENT_ID for host "$NAME" is waiting for approval.
  Give the admin this fingerprint to compare:

    $FINGERPRINT

  Waiting for approval (Ctrl-C stops waiting; resume with --resume $ENROLLMENT_ID${PIN:+ --pin $PIN}) ...
EOF_INFO
elif [ "$ENROLL_STATUS" = approved ]; then
  printf '\n  Enrollment %s for host "%s" %s (key %s).\n' "$ENROLLMENT_ID" "$NAME" "$APPROVED_HOW" "$FINGERPRINT" >&2
fi

while :; do
  RESPONSE=$(api -f "$SERVER_URL/v1/enrollments/$ENROLLMENT_ID") || fail "could not reach $SERVER_URL"
  STATUS=$(printf '%s' "$RESPONSE" | json_field status)
  case "$STATUS" in
    pending) sleep "$POLL_SECONDS" ;;
    approved)
      if printf '%s' "$RESPONSE" | grep -q '"repoUrl"'; then break; fi
      fail "the enrollment was approved, but this host's key has since been replaced"
      ;;
    denied) fail "the admin denied this enrollment" ;;
    expired) fail "the enrollment expired before an admin approved it" ;;
    *) fail "unexpected answer from the server: $RESPONSE" ;;
  esac
done

NAME=$(printf '%s' "$RESPONSE" | json_field hostname)
REPO_URL=$(printf '%s' "$RESPONSE" | json_field repoUrl)
HOST_KEYS=$(api -f "$SERVER_URL/v1/enrollments/$ENROLLMENT_ID/known_hosts") || fail "could not fetch the server's host keys"
mkdir -p "$(dirname "$KNOWN_HOSTS")"
touch "$KNOWN_HOSTS"
printf '%s\n' "$HOST_KEYS" | while IFS= read -r line; do
  [ -n "$line" ] || continue
  grep -qxF "$line" "$KNOWN_HOSTS" || printf '%s\n' "$line" >> "$KNOWN_HOSTS"
done

cat >&2 <<EOF_DONE

  Approved: host "$NAME". The server's SSH host keys are in $KNOWN_HOSTS.
  Use these settings with borg (the repository is append-only unless the admin changed that):

EOF_DONE
# The client's cipher order decides (RFC 4253 §7.1), and OpenSSH clients put
# chacha20-poly1305 first: where this CPU has AES instructions (x86's flags,
# arm64's Features), AES-GCM costs both ends less CPU per byte. Only ciphers the
# server offers (src/root/sshd/ssh-algorithms.ts), and only those this ssh knows.
if grep -Eq '^(flags|Features)[[:space:]]*:(.*[[:space:]])?aes([[:space:]]|$)' /proc/cpuinfo 2>/dev/null; then
  PREFERRED='aes128-gcm@openssh.com aes256-gcm@openssh.com chacha20-poly1305@openssh.com'
else
  PREFERRED='chacha20-poly1305@openssh.com aes128-gcm@openssh.com aes256-gcm@openssh.com'
fi
KNOWN_CIPHERS=$(ssh -Q cipher 2>/dev/null || true)
CIPHERS=''
for cipher in $PREFERRED; do
  if [ -z "$KNOWN_CIPHERS" ] || printf '%s\n' "$KNOWN_CIPHERS" | grep -qxF "$cipher"; then
    CIPHERS="${CIPHERS:+$CIPHERS,}$cipher"
  fi
done

printf "export BORG_REPO='%s'\n" "$REPO_URL"
printf "export BORG_RSH='ssh -i %s -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s%s'\n" \
  "$KEY_FILE" "$KNOWN_HOSTS" "${CIPHERS:+ -o Ciphers=$CIPHERS}"
cat >&2 <<'EOF_NEXT'

  Then: borg init --encryption=repokey-blake2   (once; keep the passphrase and `borg key export` safe)
        borg create ::'{hostname}-{now}' /etc /home
EOF_NEXT
exit 0
}
