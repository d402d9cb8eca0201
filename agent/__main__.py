"""``python -m agent`` is ``anpr-agent``."""

import sys

from agent.cli import main

sys.exit(main())
