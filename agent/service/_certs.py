"""Client certificate expiry: days left per uplink, an alarm inside the warning horizon.

Checked at start and every hour (a certificate renewed on disk is seen
without a restart, as the uplinks also rebuild their TLS context at each
connection); the warning goes to the log at most once a day per uplink, and
stays visible as an alarm, a metric and a status field until renewed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from agent.security.keyfiles import KeyFileError, load_certificates

if TYPE_CHECKING:
    from agent.config.schema import AgentConfig

__all__ = ["CertWatch"]

log = logging.getLogger("anpr.service")

_DAY_S = 86_400


class CertWatch:
    """Days until each client certificate expires, and the alarms they raise."""

    def __init__(self) -> None:
        self.days: dict[str, int | None] = {}
        self.alarms: dict[str, str] = {}
        self._logged_at: dict[str, float] = {}

    def check(self, config: AgentConfig, wall: float) -> None:
        """Read both client certificates and update days and alarms."""
        now = dt.datetime.fromtimestamp(wall, dt.UTC)
        for name, up in (("police", config.police), ("civil", config.civil)):
            try:
                cert = load_certificates(up.cert)[0]
            except KeyFileError as exc:
                self.days[name] = None
                self._raise(name, f"{name}: client certificate unreadable: {exc}", logging.ERROR)
                continue
            days = int((cert.not_valid_after_utc - now).total_seconds() // _DAY_S)
            self.days[name] = days
            if days <= config.service.cert_warn_days:
                line = (
                    f"{name}: client certificate {up.cert} expires in {days} day(s) "
                    f"({cert.not_valid_after_utc:%Y-%m-%d}): renew it"
                )
                self._raise(name, line, logging.WARNING)
            else:
                self.alarms.pop(name, None)
                self._logged_at.pop(name, None)

    def _raise(self, name: str, line: str, level: int) -> None:
        self.alarms[name] = line
        now = time.monotonic()
        if now - self._logged_at.get(name, -_DAY_S) >= _DAY_S:
            self._logged_at[name] = now
            log.log(level, "%s", line)
