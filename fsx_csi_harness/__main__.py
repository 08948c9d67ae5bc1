import sys

from fsx_csi_harness.cli import main

sys.exit(main())
