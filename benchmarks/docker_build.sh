#!/bin/bash
# Build the images of the Dockerfile with both of Docker's builders, the way CI can: the
# legacy builder (Docker 20.10 as Debian 12 ships it, no buildx) and BuildKit
# (DOCKER_BUILDKIT=1); then check that each image holds what it runs and report its size.
#
#   benchmarks/docker_build.sh [--make-base]
#
# DOCKER names the client (default: docker on PATH; Debian's is /usr/bin/docker: a newer client
# without the buildx plugin cannot use BuildKit, and the BuildKit pass then says so and is
# skipped). Needs a Docker engine; without one it says so and exits 0 (nothing to check). The one
# base image, python:3.11-slim, must be in the local engine: no image is pulled. With
# --make-base (and debootstrap on PATH, as root), a base image of that name is built from
# Debian 12's own packages (python3 3.11, pip) when the engine does not have it.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=python:3.11-slim
DOCKER=${DOCKER:-docker}
docker() { command "$DOCKER" "$@"; }
make_base=false
[[ "${1:-}" == "--make-base" ]] && make_base=true

say() { echo "docker-build: $*" >&2; }

if ! command -v "$DOCKER" >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    say "no Docker engine answers here (docker info failed): image builds not checked"
    exit 0
fi

make_local_base() {
    # Debian's python3 (3.11 in bookworm) and pip, laid out as the official slim image is
    # for what the Dockerfile uses: `python`, `pip`, and pip allowed to install system-wide.
    local root
    root=$(mktemp -d)
    trap 'rm -rf "$root"' RETURN
    debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
        bookworm "$root/fs" http://deb.debian.org/debian >/dev/null
    # This machine's own trust anchors too (it may reach the package indexes through a TLS
    # proxy of its own), as the host's pip and apt trust them.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/fs/usr/local/share/ca-certificates/"
        chroot "$root/fs" update-ca-certificates >/dev/null
    fi
    ln -sf python3 "$root/fs/usr/bin/python"
    ln -sf pip3 "$root/fs/usr/bin/pip"
    rm -f "$root"/fs/usr/lib/python3.*/EXTERNALLY-MANAGED
    rm -rf "$root"/fs/var/cache/apt/archives/*.deb "$root"/fs/var/lib/apt/lists/*
    tar -C "$root/fs" -c . | docker import --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
}

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    if $make_base && command -v debootstrap >/dev/null 2>&1; then
        say "building a local $BASE_IMAGE from Debian 12 packages (debootstrap)"
        started=$SECONDS
        make_local_base
        say "local $BASE_IMAGE built in $((SECONDS - started)) s"
    else
        say "the base image $BASE_IMAGE is not in the local engine and none can be pulled" \
            "here: image builds not checked (--make-base builds one from Debian packages)"
        exit 0
    fi
fi

status=0
check() {
    # check TAG COMMAND...: the image runs COMMAND, or the build is failed.
    local tag=$1
    shift
    if ! docker run --rm --entrypoint "$1" "$tag" "${@:2}" >/dev/null 2>&1; then
        say "FAILED: $tag cannot run: $*"
        status=1
    fi
}
lacks() {
    # lacks TAG PACKAGE...: none of these Python distributions is installed in the image.
    local tag=$1
    shift
    for package in "$@"; do
        if docker run --rm --entrypoint pip "$tag" show -q "$package" >/dev/null 2>&1; then
            say "FAILED: $tag holds $package, which it never runs"
            status=1
        fi
    done
}

for builder in legacy buildkit; do
    if [[ $builder == buildkit ]]; then export DOCKER_BUILDKIT=1; else export DOCKER_BUILDKIT=0; fi
    log=$(mktemp)
    for target in driver emulated fio harness; do
        tag="fsx-csi-harness:$target-$builder"
        started=$SECONDS
        if ! docker build --network host --target "$target" --tag "$tag" . >"$log" 2>&1; then
            if grep -q "buildx component is missing" "$log"; then
                say "BuildKit not checked: the client $DOCKER has no buildx plugin" \
                    "(DOCKER=/usr/bin/docker uses Debian's, whose BuildKit needs none)"
                continue 2
            fi
            tail -20 "$log" >&2
            say "FAILED: docker build --target $target with the $builder builder"
            status=1
            continue
        fi
        size=$(docker image inspect --format '{{.Size}}' "$tag")
        say "$builder $target: built in $((SECONDS - started)) s, $((size / 1000000)) MB"
    done
    check "fsx-csi-harness:driver-$builder" fsx-csi driver --help
    lacks "fsx-csi-harness:driver-$builder" moto kubernetes pytest PyYAML
    check "fsx-csi-harness:emulated-$builder" fsx-csi emulator --help
    lacks "fsx-csi-harness:emulated-$builder" kubernetes pytest
    check "fsx-csi-harness:fio-$builder" fio --version
done
exit $status
