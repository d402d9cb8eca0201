"""``python -m simulator`` is ``anpr-sim``."""

import sys

from simulator.cli import main

sys.exit(main())
