# Sourced by Tests/Benchmarks/images: podman, and the two base images template/Dockerfile is
# built on, made here because no image registry is reachable. Each is tagged with a hash of
# what it is made from, so a later run reuses it and a changed recipe makes a new one.
#   podman_ready          -> 0, or prints why podman cannot run here and returns 1
#   podman_base_images    -> sets RUNTIME_IMAGE and SWIFT_IMAGE
PODMAN=(podman --runtime runc)                       # crun fails here (see REFERENCE)
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
ROOTFS_CACHE="${MOVIEREC_ROOTFS_CACHE:-/var/cache/movierec-rootfs}"

podman_ready() {
    [ "$(id -u)" = 0 ] || { echo "podman runs here as root only, and this is uid $(id -u)"; return 1; }
    if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null) 2>&1 | tail -3
        command -v podman >/dev/null && command -v runc >/dev/null || { echo "podman and runc could not be installed from Debian's packages"; return 1; }
    fi
    "${PODMAN[@]}" info >/dev/null 2>&1 || { echo "podman cannot run here: $("${PODMAN[@]}" info 2>&1 | tail -1)"; return 1; }
}

# The equivalent of debian:bookworm-slim: debootstrap's minbase, without what slim leaves out
# (documentation, manuals, locales, apt's caches), dpkg told to keep leaving them out, and apt
# told to delete the packages it downloads, as the official image's docker-clean does (without
# it every image keeps its .deb files: 82 MB in ours).
RUNTIME_RECIPE='debootstrap --variant=minbase bookworm http://deb.debian.org/debian; slim excludes v1; docker-clean v1'
# The build image: that root filesystem with what the Swift toolchain needs to run and link;
# the toolchain itself (/opt/swift) is mounted during the build.
SWIFT_CONTAINERFILE='ARG BASE
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends binutils gcc libc6-dev libgcc-12-dev libstdc++-12-dev \
    libsqlite3-0 libncurses6 libxml2 libcurl4 zlib1g libedit2 libpython3.11 libicu72 libffi8 libuuid1 tzdata ca-certificates git \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

podman_base_images() {
    local key
    key=$(printf '%s' "$RUNTIME_RECIPE" | sha256sum | cut -c1-12)
    RUNTIME_IMAGE="localhost/movierec/bookworm-slim:$key"
    if ! "${PODMAN[@]}" image exists "$RUNTIME_IMAGE"; then
        local rootfs="$ROOTFS_CACHE/bookworm-slim-$key"
        if [ ! -f "$rootfs/.complete" ]; then
            rm -rf "$rootfs"; mkdir -p "$rootfs"
            echo "debootstrap of Debian bookworm (minbase) into $rootfs"
            debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/tmp/movierec-debootstrap.log 2>&1 \
                || { tail -20 /tmp/movierec-debootstrap.log; return 1; }
            rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
                   "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
            printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/man/*' \
                'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' > "$rootfs/etc/dpkg/dpkg.cfg.d/slim"
            printf 'APT::Install-Recommends "false";\n' > "$rootfs/etc/apt/apt.conf.d/slim"
            printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
                'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
                'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' > "$rootfs/etc/apt/apt.conf.d/docker-clean"
            printf 'Acquire::Languages "none";\n' > "$rootfs/etc/apt/apt.conf.d/docker-no-languages"
            touch "$rootfs/.complete"
        fi
        tar -C "$rootfs" --exclude=./.complete -c . | "${PODMAN[@]}" import - "$RUNTIME_IMAGE" >/dev/null
    fi
    key=$(printf '%s%s' "$RUNTIME_IMAGE" "$SWIFT_CONTAINERFILE" | sha256sum | cut -c1-12)
    SWIFT_IMAGE="localhost/movierec/swift-build:$key"
    if ! "${PODMAN[@]}" image exists "$SWIFT_IMAGE"; then
        local dir; dir=$(mktemp -d)
        printf '%s\n' "$SWIFT_CONTAINERFILE" > "$dir/Containerfile"
        "${PODMAN[@]}" build -q "${LIMITS[@]}" --build-arg BASE="$RUNTIME_IMAGE" -t "$SWIFT_IMAGE" "$dir" >/dev/null
        rm -rf "$dir"
    fi
}
