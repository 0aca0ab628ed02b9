"""rerobots dialect: the HTTP API of the ``rerobots`` Python client (remote access to robots:
workspace deployments, instances, reservations, firewall rules, add-ons), under ``/rerobots``."""
