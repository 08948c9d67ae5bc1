"""Closing gRPC channels on the way out, even after an interrupt.

Ctrl-C and SIGTERM (which the CLI turns into the same exception) can land while the main
thread is inside grpc's own channel bookkeeping; a later `channel.close()` then waits forever
for state the interrupted code will never release (seen: a SIGTERM during start-up left
`fsx-csi throughput` hanging in `Channel._close`). Clean-up must finish, so the close runs in a
daemon thread with a deadline; a channel that does not close in time is dropped with the
process.
"""

from __future__ import annotations

import threading

import grpc


def close_channel(channel: grpc.Channel, timeout_s: float = 5.0) -> bool:
    """Close `channel`; True when it closed within `timeout_s`."""
    closer = threading.Thread(target=channel.close, name="grpc-channel-close", daemon=True)
    closer.start()
    closer.join(timeout_s)
    return not closer.is_alive()
