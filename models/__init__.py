"""The code that trains the models the agent ships (``models/train``).

The shipped ONNX files and their cards are package data in ``agent/recognition/models/``.
"""
