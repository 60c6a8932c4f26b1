"""`python -m keyops`: the same entry point as the `keyops` script."""

import sys

from keyops.cli.launcher import main

sys.exit(main())
