"""agentsync: SQL-first ELT for real-estate brokerages."""

__version__ = "0.1.0"
