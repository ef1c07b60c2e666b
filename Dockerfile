# secure-borg-server: OpenSSH + borg + the enrollment API in one container.
# The same file builds for amd64 and arm64: no step depends on the architecture.
#
# With podman, build with `--format docker`: the OCI image format has no HEALTHCHECK,
# and podman drops it with a warning otherwise.

# The base image. A registry serves node:24-trixie-slim for every architecture; where no
# registry is reachable, a local stand-in of another architecture has a name of its own
# (scripts/test-arm64 passes --build-arg NODE_IMAGE=docker.io/arm64v8/node:24-trixie-slim).
ARG NODE_IMAGE=node:24-trixie-slim

# ---- build stage: compilers, dev dependencies and the TypeScript build stay here ----
FROM ${NODE_IMAGE} AS build

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

# better-sqlite3 compiles against the headers that come with node, not downloaded ones.
ENV npm_config_nodedir=/usr/local

WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci

COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
COPY migrations/ migrations/
COPY bin/ bin/
COPY container/ container/
RUN npm run build \
 && npm prune --omit=dev \
 # Only the compiled addon of better-sqlite3 is needed at run time, not its sources,
 # object files and static library (about 12 MB).
 && mv node_modules/better-sqlite3/build/Release/better_sqlite3.node /tmp/ \
 && rm -rf node_modules/better-sqlite3/build node_modules/better-sqlite3/deps node_modules/better-sqlite3/src \
 && mkdir -p node_modules/better-sqlite3/build/Release \
 && mv /tmp/better_sqlite3.node node_modules/better-sqlite3/build/Release/ \
 # Type declarations and source maps of dependencies are never loaded (about 17 MB).
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -name '*.map' \) -delete

# ---- final stage ----
FROM ${NODE_IMAGE}

# borg and sshd; tini is PID 1 (reaps zombies, forwards signals to borgctl serve).
# openssh-server needs a sysusers implementation (to create its privilege-separation
# user): naming systemd-standalone-sysusers keeps apt from choosing all of systemd.
# The SSH host keys that openssh-server generates while it installs are deleted: every
# container made from the image would otherwise share them. borgctl generates host keys
# once into the state volume instead.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      borgbackup openssh-server tini systemd-standalone-sysusers \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
           /var/log/apt /var/log/dpkg.log /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub \
 && mkdir -p /run/sshd \
 # The HTTP API runs as this unprivileged system user: no login shell, no home
 # directory. Its UID is fixed so that files it owns in the state volume keep their
 # owner across image upgrades.
 && groupadd --system --gid 900 borg-api \
 && useradd --system --uid 900 --gid borg-api --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin borg-api

WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/migrations/ migrations/
COPY --from=build /app/bin/ bin/
COPY --from=build /app/container/ container/

# /usr/local/sbin precedes /usr/sbin in PATH: `docker exec borg deluser NAME` runs our
# wrapper, not Debian's deluser (from the adduser package, if it is ever installed).
COPY --chmod=0755 container/createuser container/deluser /usr/local/sbin/
RUN ln -s /app/bin/borgctl /usr/local/bin/borgctl

ENV NODE_ENV=production \
    BORG_SERVER_STATE_DIR=/var/lib/secure-borg-server \
    BORG_SERVER_BACKUP_DIR=/backups \
    BORG_SERVER_SSH_PORT=22 \
    BORG_SERVER_HTTP_HOST=0.0.0.0 \
    BORG_SERVER_HTTP_PORT=8080

VOLUME ["/backups", "/var/lib/secure-borg-server"]
EXPOSE 22 8080

# Fails when sshd or the API is down, the state volume is not writable, or root has not reported
# its loops live for 60 s (BORG_SERVER_ROOT_STALL_SECONDS). The start period covers serve's start,
# before its first liveness report.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["borgctl", "healthcheck"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["borgctl", "serve"]
