"""``anpr-agent``: the command line (run, read, check-config, check-connect, journal ...).

``main`` parses and dispatches; ``run``, ``read`` and ``journal`` hold their
sub-commands.

May import: anything under ``agent``.
"""
