"""Stage 2: the signed, hash-chained local journal (one SQLite file, two streams).

``store`` is the writer thread and the journal's interface; ``db`` the SQLite
schema and statements; ``records`` the record bodies (plate sealed, body signed,
hash-chained); ``verify`` the independent chain check; ``lock`` the one-process
lock on a journal; ``keyrotate`` the signing-key rotation.

May import: ``agent.core``, ``agent.config``, ``agent.security``.
"""
