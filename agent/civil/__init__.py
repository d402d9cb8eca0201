"""Stage 4: the civil flux, anonymous and disclosure-controlled counts only.

``counts`` is pure (window counter, disclosure control, the civil message: the
only way from reads to the civil side); ``flux`` feeds it reads and appends its
closed windows to the journal's ``counts`` stream.

May import: ``agent.core``, ``agent.config``, ``agent.journal``. Never the
recognition stage's plate text beyond the coarse labels ``counts`` derives.
"""
