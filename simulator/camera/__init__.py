"""The synthetic traffic camera: a road scene with ground truth, and its outputs.

``Scene(SceneConfig(seed=…))`` renders frames one by one (``step``) or as an
iterator (``frames``); each :class:`SimFrame` holds an ``agent.events.Frame``,
the frame's truth and the passes that ended with it. :class:`FrameSource`
wraps a scene as an in-process camera (optionally paced in real time, writing
the truth file); ``simulator.camera.mjpeg`` serves it as MJPEG over HTTP.
"""

from __future__ import annotations

from simulator.camera.scene import Light, Scene, SceneConfig, SimFrame
from simulator.camera.source import FrameSource
from simulator.camera.truth import (
    SCHEMA,
    FrameTruth,
    PassTruth,
    TruthWriter,
    VehicleInFrame,
    read_truth,
)

__all__ = [
    "SCHEMA",
    "FrameSource",
    "FrameTruth",
    "Light",
    "PassTruth",
    "Scene",
    "SceneConfig",
    "SimFrame",
    "TruthWriter",
    "VehicleInFrame",
    "read_truth",
]
