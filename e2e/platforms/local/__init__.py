"""Platform `local`: no cluster. The harness plays external-provisioner, external-resizer and
kubelet over CSI gRPC against real driver processes and an FSx endpoint.

    platform.py      `LocalPlatform` (the `Platform` the CLI loads) and `run_local`
    driver_stack.py  `DriverStack`: the FSx endpoint and the driver processes (also used by
                     throughput, qualify's sanity target and the sanity benchmark)
    csi_roles.py     the Kubernetes components played over CSI: provisioner, resizer, kubelet
    pods.py          pods as processes, with /data isolated in a mount namespace
    operations.py    `LocalOperations`: the scenario runner's operations on this platform
"""

from __future__ import annotations

from e2e.platforms.local.platform import LocalPlatform, create_platform, run_local

__all__ = ["LocalPlatform", "create_platform", "run_local"]
