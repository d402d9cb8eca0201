"""Everything that stands in for the world around the agent: PKI, brokers, cameras, back offices."""
