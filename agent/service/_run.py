"""``run_service``: logging, signal handlers, the service's life, the exit code."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

from agent.config.load import ConfigError
from agent.service._logs import configure_logging
from agent.service._service import Service, ServiceOptions

if TYPE_CHECKING:
    from agent.config.load import LoadedConfig
    from agent.service._source import ReadSource

__all__ = ["run_service"]

EXIT_USAGE = 2


def run_service(
    loaded: LoadedConfig, source: ReadSource | None = None, options: ServiceOptions | None = None
) -> int:
    """Run the agent in this (main) thread until SIGTERM/SIGINT; SIGHUP reloads.

    A problem that stops the start (config, keys, journal, models, metrics
    port) is printed as one line each on stderr and gives exit code 2.
    """
    cfg = loaded.config.service
    configure_logging(cfg.log_level, cfg.log_format)
    try:
        service = Service(loaded, source, options=options)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"anpr-agent: {loaded.source}: {problem}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    signal.signal(signal.SIGTERM, lambda *_: service.request_stop())
    signal.signal(signal.SIGINT, lambda *_: service.request_stop())
    signal.signal(signal.SIGHUP, lambda *_: service.request_reload())
    return service.run()
