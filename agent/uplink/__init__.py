"""Stage 3: one MQTT 5 + mutual-TLS uplink that drains a journal stream, ack-driven.

``client`` runs the connection (failover, backoff, in-flight window, marks);
``wire`` is its side of the wire contract, pure (topics, status body, validation
of the back office's ``ack`` / ``replay``); ``probe`` the one-shot connect check;
``descriptor`` the camera's signed self-description.

May import: ``agent.core``, ``agent.config``, ``agent.security``, ``agent.journal``.
"""
