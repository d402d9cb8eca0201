"""Models the agent ships, and the code that trains them (``models/train``)."""
