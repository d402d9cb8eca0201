"""Training code (torch, the ``train`` extra): never imported by the agent."""
