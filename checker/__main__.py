"""``python -m checker check ...`` / ``python -m checker rule TB101``."""

import sys

from checker.cli import main

sys.exit(main())
