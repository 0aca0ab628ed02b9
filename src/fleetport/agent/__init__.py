"""``fleetport agent``: the program on a robot's computer that connects its part to the server.

It holds one outbound WebSocket to the server (``/agent/v1/connect`` on the HTTP or HTTPS port,
authenticated by the part's secret), keeps it up with backoff and jitter, beats so that its
machine shows online, writes the part's config to a file on every change (and runs a reload
command), ships its own log and followed files as the part's logs, takes dataport points from
robot programs on a loopback HTTP endpoint, and opens streams to local targets when the server
asks. Logs and points wait in a SQLite outbox while the server is away and are delivered in order,
each stored once. It imports nothing of the server: ``pip install fleetport`` is enough.
"""

from fleetport.agent.main import Agent, AgentOptions, run

__all__ = ["Agent", "AgentOptions", "run"]
