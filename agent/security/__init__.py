"""Keys and the wire's protection: signing and sealing, key files, TLS contexts.

``crypto`` signs (Ed25519) and seals plates to the back office's key (HPKE);
``keyfiles`` loads keys and certificates and refuses private keys others can
read; ``tls`` builds the uplinks' ``SSLContext`` (TLS >= 1.2, the configured CA
only, host name checked, client certificate always presented).

May import: ``agent.core``, and ``agent.config.schema`` for the settings it applies.
"""
