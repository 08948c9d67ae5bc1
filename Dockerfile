# syntax=docker/dockerfile:1
#
# The fsx-csi-harness image: one image runs the reference driver (`fsx-csi driver ...`, both the
# controller and the node plugin) and the FSx API emulator (`fsx-csi emulator ...`), so a kind
# cluster needs a single `docker build` + `kind load docker-image`.
#
# Two targets:
#
#   emulated (default, the last stage)  python:3.11-slim. Enough for kind and for any cluster
#       that runs the driver with `--mounter emulated` against the in-cluster emulator: the
#       emulated Lustre mount is a bind mount, which needs only util-linux `mount` (part of
#       Debian's required packages, so already in the slim image).
#
#   lustre  Amazon Linux 2023 plus the `lustre-client` package, for real FSx for Lustre mounts
#       (`--mounter kernel`, the aws overlay). `mount -t lustre` runs inside the node plugin's
#       container, so the container needs mount.lustre; the Lustre kernel modules come from the
#       node (EKS Amazon Linux AMIs ship them; the upstream Go driver's image is built the same
#       way). Build it with:  docker build --target lustre -t fsx-csi-harness:lustre .
#
# The build context is the repository root (see .dockerignore).

ARG PYTHON_IMAGE=python:3.11-slim
ARG AMAZON_LINUX_IMAGE=public.ecr.aws/amazonlinux/amazonlinux:2023

# ---------------------------------------------------------------------------------------------
FROM ${AMAZON_LINUX_IMAGE} AS lustre
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# lustre-client brings mount.lustre; util-linux brings mount/umount for the kernel mounter.
RUN dnf install -y python3.11 python3.11-pip lustre-client util-linux \
    && dnf clean all \
    && rm -rf /var/cache/dnf
WORKDIR /src
# README.m[d]: pyproject names README.md as the long description; the glob keeps the build
# working in a checkout where it is missing instead of failing the COPY.
COPY pyproject.toml README.m[d] ./
COPY fsx_csi_harness ./fsx_csi_harness
COPY reference_driver ./reference_driver
COPY sanity ./sanity
COPY e2e ./e2e
COPY fsx_emulator ./fsx_emulator
COPY qualify ./qualify
RUN python3.11 -m pip install . && rm -rf /src
WORKDIR /
ENTRYPOINT ["fsx-csi"]
CMD ["--help"]

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS emulated
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.m[d] ./
COPY fsx_csi_harness ./fsx_csi_harness
COPY reference_driver ./reference_driver
COPY sanity ./sanity
COPY e2e ./e2e
COPY fsx_emulator ./fsx_emulator
COPY qualify ./qualify
RUN pip install . && rm -rf /src
WORKDIR /
# The node plugin mounts (bind mounts for the emulation, mount -t lustre for real), so it runs
# as root; the manifests say so explicitly in each pod's securityContext.
ENTRYPOINT ["fsx-csi"]
CMD ["--help"]
