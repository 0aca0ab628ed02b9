"""Core services: the domain, with no wire format in it."""
