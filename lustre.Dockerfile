# The reference driver for real FSx for Lustre mounts: Amazon Linux 2023 plus the
# `lustre-client` package and the driver's dependencies only (`--mounter kernel`, the aws
# overlay). `mount -t lustre` runs inside the node plugin's container, so the container needs
# mount.lustre; the Lustre kernel modules come from the node (EKS Amazon Linux AMIs ship them;
# the upstream Go driver's image is built the same way).
#
# Its own file because it has its own base image: kept out of the Dockerfile, whose builds
# (legacy builder: every stage before the target) then never pull Amazon Linux. The wheel
# comes from the Dockerfile's `wheel` stage, built once:
#
#   docker build --target wheel --tag fsx-csi-harness:wheel .
#   docker build --file lustre.Dockerfile --tag fsx-csi-harness:lustre .

ARG AMAZON_LINUX_IMAGE=public.ecr.aws/amazonlinux/amazonlinux:2023
ARG WHEEL_IMAGE=fsx-csi-harness:wheel

FROM ${WHEEL_IMAGE} AS wheel

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
COPY --from=wheel /wheels /tmp/wheels
RUN set -- /tmp/wheels/*.whl && python3.11 -m pip install "$1" && rm -rf /tmp/wheels
ENTRYPOINT ["fsx-csi"]
CMD ["--help"]
