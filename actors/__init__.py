"""Dramatiq actors, one module per domain: thin shells that load by id and call services."""
