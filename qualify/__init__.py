"""Qualification: runs the suites against one target driver and writes one report bundle.

This layer sits above every suite (sanity, e2e, throughput): it imports them, nothing imports
it. `qualify.report` reads and writes the bundle; `qualify.cli`, `qualify.throughput_cli` and
`qualify.report.cli` are the `fsx-csi qualify`, `throughput` and `report` commands.
"""
