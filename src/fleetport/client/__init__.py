"""Fleetport SDK."""
