"""anpr-hub: the civil hub between camera count streams and the cities that use them.

It ingests every camera's signed count windows from the civil broker(s),
keeps the camera inventory from their signed descriptors, and hands each
recipient only what a grant allows, through disclosure control.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
