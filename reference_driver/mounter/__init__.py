"""Mounters: `kernel` (real Lustre), `emulated` (bind mounts of the emulation root), and a
recording mounter for unit tests. All detect mounts from /proc/self/mountinfo."""
