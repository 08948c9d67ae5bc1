"""The mounter: `mount -t lustre` (kernel.py), behind the interface in `base`, detecting mounts
from /proc/self/mountinfo. Where there is no Lustre, the harness installs the Lustre
emulation's mount.lustre helper (fsx_emulator/lustre) and this same mounter runs it. The unit
tests' recording mounter lives with them (tests/reference_driver/fakes.py)."""
