"""``anpr-agent run`` with a fake read source, for tests that signal a real process.

usage: python tests/agent_harness.py CONFIG READS RATE — hands READS ground-truth
reads (see service_rig.plates) at RATE/s, then idles until SIGTERM; prints
``emitted N`` on stdout's last line when it exits.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import make_read
from service_rig import plates

from agent.config.load import load_config
from agent.service import run_service
from simulator.fakes import FakeReadSource


def main() -> int:
    config, count, rate = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    source = FakeReadSource([make_read(p) for p in plates(count)], rate=rate)
    code = run_service(load_config(config, os.environ), source)
    print(f"emitted {source.emitted}", flush=True)  # noqa: T201
    return code


if __name__ == "__main__":
    sys.exit(main())
