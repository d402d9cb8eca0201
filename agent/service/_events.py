"""The read source of a camera that reads plates itself: the event intake, wired.

The intake (``agent.intake``) turns events into reads; here it gets the
recognition package's syntax check, so a read that came as an event is fitted
exactly like one our reader made, and the service's metrics registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.intake import EventSource, IntakeError, build_event_source
from agent.recognition.syntax import check
from agent.service._source import SourceUnavailableError

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

    from agent.config.schema import AgentConfig
    from agent.core.clock import Clock
    from agent.intake import Fit

__all__ = ["event_source", "syntax_fit"]


def syntax_fit(countries: tuple[str, ...]) -> Fit:
    """The configured syntaxes as the intake's fit.

    A country the camera names is tried alone (its look-alike swaps, no
    other country's); without one, the configured countries are tried as for
    our own reads. A text no syntax fits is kept as the camera read it.
    """

    def fit(text: str, country: str | None) -> tuple[str, str | None]:
        if country is not None:
            match = check(text, (country,))
            return (match.text if match.country is not None else text), country
        match = check(text, countries)
        return match.text, match.country

    return fit


def event_source(
    config: AgentConfig, clock: Clock, registry: CollectorRegistry | None = None
) -> EventSource:
    """The intake a config describes; :class:`~agent.service.SourceUnavailableError` if not."""
    try:
        return build_event_source(
            config, fit=syntax_fit(config.recognition.countries), clock=clock, registry=registry
        )
    except IntakeError as exc:
        raise SourceUnavailableError(str(exc)) from None
