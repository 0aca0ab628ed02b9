"""Publish/subscribe for live events (log lines, new points, credential changes).

Two implementations of one interface: ``Bus`` delivers within this process (the default);
``RedisBus`` also carries every event through Redis pub/sub to the other server processes sharing
the database, so that a tail or a One Platform ``wait`` on one process hears a write made through
another. Either way a message reaches the subscribers of its own process directly.

Publishers are core services, which run on the event loop's thread (SQLite) or on worker threads
(PostgreSQL), and publish after their transaction committed; subscribers are async iterators on the
event loop (an SSE log tail, a gRPC stream) or callbacks (``watch``).
``publish`` never blocks and never waits for a subscriber: each subscription queues at most
``max_pending`` messages, and one that falls further behind is closed and raises
``SubscriberTooSlow`` from its iterator, so that the writer and the other subscribers go on at full
speed. Messages are shared between subscribers, never copied: publish immutable values.

Messages published by one thread reach each subscriber in the order they were published.

Between processes an event travels in an explicit wire form: each topic family (the part of the
topic before ``:``) is ``define``d with an encoder to JSON-able plain data and a decoder that
checks that data and rebuilds the event; a message from another process that does not decode is
logged and dropped. Nothing is ever unpickled.
"""

from __future__ import annotations

from fleetport.bus.local import Bus, BusUnavailable, SubscriberTooSlow, Subscription, Watcher
from fleetport.bus.wire import Codec, Undecodable

__all__ = [
    "Bus",
    "BusUnavailable",
    "Codec",
    "SubscriberTooSlow",
    "Subscription",
    "Undecodable",
    "Watcher",
    "open_bus",
]


def open_bus(redis_url: str = "", prefix: str = "fleetport:") -> Bus:
    """The in-process bus, or with ``redis_url`` the bus shared through Redis (its channels named
    ``prefix`` + topic)."""
    if not redis_url:
        return Bus()
    from fleetport.bus.redis import RedisBus

    return RedisBus(redis_url, prefix)
