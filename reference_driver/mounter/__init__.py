"""Mounters: `kernel` (real Lustre) and `emulated` (bind mounts of the emulation root), behind
the interface in `base`. Both detect mounts from /proc/self/mountinfo. The unit tests' recording
mounter lives with them (tests/reference_driver/fakes.py)."""
