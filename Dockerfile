# syntax=docker/dockerfile:1
#
# Images of fsx-csi-harness. The project is built once into a wheel (stage `wheel`); each image
# installs that wheel with only the dependencies its processes need (pyproject.toml: the core
# dependencies are the driver's, the FSx emulator comes with the `emulator` extra; the harness
# itself, with kubernetes, PyYAML and pytest, is never in an image).
#
# Three targets:
#
#   driver (default, the last stage)  python:3.11-slim plus the driver's dependencies only
#       (grpcio, protobuf, boto3): `fsx-csi driver ...`, controller and node plugin, with
#       `--mounter emulated` (bind mounts need only util-linux `mount`, already in the slim
#       image). No moto, kubernetes, pytest or PyYAML.
#
#   emulated  the driver image plus the `emulator` extra (moto's server): the same image runs
#       the driver and the in-cluster FSx API emulator (`fsx-csi emulator ...`), so a kind or
#       K3s cluster needs a single `docker build --target emulated` + load (the `emulated`
#       manifests overlay; e2e/platforms/manifests.py builds this target).
#
#   lustre  Amazon Linux 2023 plus the `lustre-client` package and the driver's dependencies
#       only, for real FSx for Lustre mounts (`--mounter kernel`, the aws overlay). `mount -t
#       lustre` runs inside the node plugin's container, so the container needs mount.lustre;
#       the Lustre kernel modules come from the node (EKS Amazon Linux AMIs ship them; the
#       upstream Go driver's image is built the same way). Build it with:
#       docker build --target lustre -t fsx-csi-harness:lustre .
#
# The build context is the repository root (see .dockerignore).

ARG PYTHON_IMAGE=python:3.11-slim
ARG AMAZON_LINUX_IMAGE=public.ecr.aws/amazonlinux/amazonlinux:2023

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS wheel
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# README.m[d]: pyproject names README.md as the long description; the glob keeps the build
# working in a checkout where it is missing instead of failing the COPY.
COPY pyproject.toml setup.py README.m[d] ./
COPY fsx_csi_harness ./fsx_csi_harness
COPY reference_driver ./reference_driver
COPY sanity ./sanity
COPY e2e ./e2e
COPY fsx_emulator ./fsx_emulator
COPY qualify ./qualify
# The wheel carries the data files (setup.py maps them to fsx_csi_harness/fixtures).
COPY fixtures ./fixtures
RUN pip wheel --no-deps --wheel-dir /wheels .

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
# The driver's dependencies only: no extra.
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    set -- /wheels/*.whl && python3.11 -m pip install "$1"
ENTRYPOINT ["fsx-csi"]
CMD ["--help"]

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS emulated
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The driver and the FSx API emulator (the `emulator` extra: moto's server).
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    set -- /wheels/*.whl && pip install "$1[emulator]"
# The node plugin mounts (bind mounts for the emulation), so it runs as root; the manifests
# say so explicitly in each pod's securityContext.
ENTRYPOINT ["fsx-csi"]
CMD ["--help"]

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS driver
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The driver's dependencies only: no extra.
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    set -- /wheels/*.whl && pip install "$1"
# The node plugin mounts, so it runs as root; the manifests say so in each pod's
# securityContext.
ENTRYPOINT ["fsx-csi"]
CMD ["--help"]
