"""fsx-csi-harness: shared pieces of the harness (CLI, CSI bindings, FSx facts)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fsx-csi-harness")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
