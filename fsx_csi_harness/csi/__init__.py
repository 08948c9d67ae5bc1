"""CSI v1.12.0 protocol bindings: generated; never edit by hand."""
