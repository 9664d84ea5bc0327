"""`python -m zkbench` is the `zkbench` command."""

import sys

from zkbench.cli import main

sys.exit(main())
