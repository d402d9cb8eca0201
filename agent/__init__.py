"""anpr-edge: the edge agent that forks ANPR reads at the source.

Full reads go, signed and sealed, to the police back office; only anonymous,
disclosure-controlled counts go to the civil side.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
