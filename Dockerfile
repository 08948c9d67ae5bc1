#
# Images of fsx-csi-harness. The project is built once into a wheel (stage `wheel`); each image
# installs that wheel with only the dependencies its processes need (pyproject.toml: the core
# dependencies are the driver's, the FSx emulator comes with the `emulator` extra; the harness
# itself, with kubernetes, PyYAML and pytest, is only in the `harness` image).
#
# It builds the same with Docker 20.10's legacy builder (Debian 12's docker.io, no buildx) and
# with BuildKit (DOCKER_BUILDKIT=1), from one base image and offline except for the package
# indexes (PyPI, Debian): no `# syntax=` line (BuildKit would fetch that frontend from Docker
# Hub), no `RUN --mount`. The legacy builder builds every stage before the target, so the
# stages are ordered for the targets the harness builds: `--target emulated` builds `wheel`
# and `emulated` only. benchmarks/docker_build.sh builds every target with both builders.
#
# Targets:
#
#   driver (default, the last stage)  python:3.11-slim plus the driver's dependencies only
#       (grpcio, protobuf, boto3): `fsx-csi driver ...`, controller and node plugin. No moto,
#       kubernetes, pytest or PyYAML.
#
#   emulated  the driver plus the `emulator` extra (moto's server): the same image runs the
#       driver and the in-cluster FSx API emulator (`fsx-csi emulator ...`), so a kind or K3s
#       cluster needs a single `docker build --target emulated` + load (the `emulated`
#       manifests overlay; e2e/platforms/manifests.py builds this target).
#
#   harness  the whole harness (the `harness` extra): `fsx-csi sanity` in a pod on a node of
#       a cluster whose driver is installed (qualify --driver installed; `--set
#       sanity-image=...` names it, default fsx-csi-harness:harness).
#       docker build --target harness --tag fsx-csi-harness:harness .
#
#   fio  the base image plus Debian's fio, for the throughput suite's pods on a cluster
#       (`--set fio-image=...` names another): pods install nothing at run time.
#       docker build --target fio --tag fsx-csi-harness:fio .
#
# The Lustre client image (Amazon Linux, `lustre-client`, real FSx mounts) is lustre.Dockerfile:
# another base image, so it is kept out of this file's builds.
#
# The build context is the repository root (see .dockerignore).

ARG PYTHON_IMAGE=python:3.11-slim

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
FROM ${PYTHON_IMAGE} AS emulated
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The driver and the FSx API emulator (the `emulator` extra: moto's server).
COPY --from=wheel /wheels /tmp/wheels
RUN set -- /tmp/wheels/*.whl && pip install "$1[emulator]" && rm -rf /tmp/wheels
# No mount.lustre here: on emulated AWS the harness patches the emulation's helper into
# every node plugin, ours or another driver's (e2e/platforms/kube/lustre_helper.py).
# The node plugin mounts (bind mounts for the emulation), so it runs as root; the manifests
# say so explicitly in each pod's securityContext.
ENTRYPOINT ["fsx-csi"]
CMD ["--help"]

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS fio
RUN apt-get update \
    && apt-get install -y --no-install-recommends fio \
    && rm -rf /var/lib/apt/lists/*
CMD ["fio", "--version"]

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS harness
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Sanity, e2e, qualify and the emulator: what the in-cluster sanity pod runs.
COPY --from=wheel /wheels /tmp/wheels
RUN set -- /tmp/wheels/*.whl && pip install "$1[harness]" && rm -rf /tmp/wheels
ENTRYPOINT ["fsx-csi"]
CMD ["--help"]

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS driver
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The driver's dependencies only: no extra.
COPY --from=wheel /wheels /tmp/wheels
RUN set -- /tmp/wheels/*.whl && pip install "$1" && rm -rf /tmp/wheels
# The node plugin mounts, so it runs as root; the manifests say so in each pod's
# securityContext.
ENTRYPOINT ["fsx-csi"]
CMD ["--help"]
