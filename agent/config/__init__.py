"""Configuration: the frozen pydantic tree, how it is loaded, and the checks that need files.

``schema`` holds the tree and its pure validators; ``load`` reads TOML, applies
``ANPR_…`` environment overrides and resolves ``credential:`` paths; ``files``
checks what only the file system can tell (keys private, certificates valid,
the two fluxes' identities apart).

May import: ``agent.core``, ``agent.security``, and of ``agent.recognition`` only
``syntax`` (the plate countries ``recognition.countries`` may name).
"""
