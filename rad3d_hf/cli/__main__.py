import sys

from rad3d_hf.cli import main

sys.exit(main())
