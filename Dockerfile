# secure-borg-server: OpenSSH + borg + the enrollment API in one container.
# The same file builds for amd64 and arm64. The build stage runs on the build machine's
# own architecture; only better-sqlite3's native module is built for the image's
# (TARGETARCH), cross-compiled when the two differ. The final stage is the target's.
#
# With podman, build with `--format docker`: the OCI image format has no HEALTHCHECK,
# and podman drops it with a warning otherwise.

# The base image. A registry serves node:24-trixie-slim for every architecture; where no
# registry is reachable, a local stand-in of another architecture has a name of its own
# (scripts/test-arm64 passes --build-arg NODE_IMAGE=docker.io/arm64v8/node:24-trixie-slim).
ARG NODE_IMAGE=node:24-trixie-slim
# The build stage's image, of the build machine's architecture (a registry's node:24-trixie-slim
# serves every one; here, the local stand-in of this machine's).
ARG BUILD_NODE_IMAGE=node:24-trixie-slim
# BUILDPLATFORM and TARGETPLATFORM below are the builder's automatic arguments (declared here,
# BuildKit blanks them). TARGETPLATFORM is the image's platform, from --platform (default: this
# machine's). BUILDPLATFORM is the build machine's: docker sets it; podman 4.3 (Debian 12's)
# leaves it empty, which means the target's, so a build for another architecture passes it
# (scripts/test-arm64: --platform linux/arm64 --build-arg BUILDPLATFORM=linux/amd64).

# ---- build stage: compilers, dev dependencies and the TypeScript build stay here ----
# npm and tsc run natively even for another architecture's image, never under emulation.
FROM --platform=${BUILDPLATFORM} ${BUILD_NODE_IMAGE} AS build
# The image's architecture: docker and podman set it from --platform (default: this machine's).
ARG TARGETARCH

# python3, make and g++ build better-sqlite3's native module; for another architecture,
# Debian's cross compiler for it too. /usr/local/etc/native-target.env keeps what the
# module's build below needs: the compilers, node-gyp's architecture, the ELF machine.
RUN set -eu; \
    build_architecture=$(dpkg --print-architecture); \
    target_architecture=${TARGETARCH:-$build_architecture}; \
    case $target_architecture in \
      amd64) elf_machine='Advanced Micro Devices X86-64' ;; \
      arm64) elf_machine=AArch64 ;; \
      *) echo "TARGETARCH=$target_architecture: the image builds for amd64 and arm64" >&2; exit 1 ;; \
    esac; \
    cross_packages=; \
    echo "expected_elf_machine='$elf_machine'" >/usr/local/etc/native-target.env; \
    if [ "$target_architecture" != "$build_architecture" ]; then \
      case $build_architecture/$target_architecture in \
        amd64/arm64) triple=aarch64-linux-gnu ;; \
        *) echo "no cross compiler for $target_architecture on $build_architecture: build on a $target_architecture machine" >&2; exit 1 ;; \
      esac; \
      cross_packages=g++-$triple; \
      echo "export CC=$triple-gcc CXX=$triple-g++ LINK=$triple-g++ AR=$triple-ar npm_config_arch=$target_architecture" \
        >>/usr/local/etc/native-target.env; \
    fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 make g++ $cross_packages; \
    rm -rf /var/lib/apt/lists/*

# better-sqlite3 compiles against the headers that come with node, not downloaded ones
# (they serve every architecture: node-gyp is told the target's).
ENV npm_config_nodedir=/usr/local

WORKDIR /app

COPY package.json package-lock.json ./
# Without install scripts: better-sqlite3's is the one the image needs (the others belong to
# dev tools tsc does not use), and it runs next, for the target.
RUN npm ci --ignore-scripts
# A module of the wrong machine fails here, not when the container starts.
RUN . /usr/local/etc/native-target.env \
 && npm rebuild better-sqlite3 \
 && elf_machine=$(readelf -h node_modules/better-sqlite3/build/Release/better_sqlite3.node | sed -n 's/^ *Machine: *//p') \
 && if [ "$elf_machine" != "$expected_elf_machine" ]; then \
      echo "better_sqlite3.node is built for '$elf_machine', the image needs '$expected_elf_machine'" >&2; exit 1; \
    fi

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
# Named, not left to the default: podman 4.3 would give it the build stage's platform.
FROM --platform=${TARGETPLATFORM} ${NODE_IMAGE}

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
