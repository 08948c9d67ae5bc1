"""The reference FSx for Lustre CSI driver: identity, controller and node services over gRPC.

Run it with `fsx-csi driver ...` (see reference_driver/README.md), or build it in-process with
`reference_driver.server.build_server(config, ...)`.
"""

DRIVER_NAME = "fsx.csi.aws.com"
