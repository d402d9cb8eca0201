"""The daemon (``anpr-agent run``): threads, signals, sd_notify, health, redacted logs.

- :class:`ReadSource` / :class:`Intake` — the seam where reads come in (the
  recognition pipeline of issue 7 plugs in here);
- :class:`Service` — wires journal, uplinks, civil flux and the source;
- :func:`run_service` — what ``anpr-agent run`` does: logging, signals, run;
- :func:`configure_logging` / :class:`Redactor` — the one redaction point.

May import: every stage package (``core``, ``config``, ``security``,
``recognition``, ``journal``, ``uplink``, ``civil``, ``intake``); never ``agent.cli``.
"""

from agent.service._events import event_source, syntax_fit
from agent.service._health import Snapshot, UplinkFigures, status_fields
from agent.service._logs import Redactor, configure_logging, redact
from agent.service._notify import Notifier, watchdog_interval
from agent.service._preflight import preflight
from agent.service._run import run_service
from agent.service._service import Service, ServiceOptions
from agent.service._source import Intake, ReadSource, SourceUnavailableError

__all__ = [
    "Intake",
    "Notifier",
    "ReadSource",
    "Redactor",
    "Service",
    "ServiceOptions",
    "Snapshot",
    "SourceUnavailableError",
    "UplinkFigures",
    "configure_logging",
    "event_source",
    "preflight",
    "redact",
    "run_service",
    "status_fields",
    "syntax_fit",
    "watchdog_interval",
]
