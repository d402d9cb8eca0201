"""The models the agent ships: each ONNX file beside its card, installed as package data.

``models/train/`` (in the source tree, never installed) reproduces them and
exports here; :mod:`agent.recognition.shipped` finds them at run time.
"""
