"""`python -m edgekit.cli` (the sweep's trials and some tests run the stages this way)."""

import sys

from . import main

sys.exit(main())
