"""Ingest: verify camera count streams and descriptors, store them, ack and ask for replays."""

from hub.ingest.core import Ingestor, IngestStats, window_problem
from hub.ingest.mqtt import MqttIngest

__all__ = ["IngestStats", "Ingestor", "MqttIngest", "window_problem"]
