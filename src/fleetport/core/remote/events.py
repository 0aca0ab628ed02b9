"""A reservation's event URL: what it may be, and the events POSTed to it after a commit (on the
telemetry dispatcher's worker threads, so a slow or dead recipient holds nothing up; one attempt,
the outcome logged).

* ``INSTANCE_LAUNCH`` (``reservation``, ``id``, ``deployment``, ``status``): the reservation
  started as an instance (INIT; READY once its agent has set it up).
* ``RESERVATION_DROPPED`` (``reservation``, ``deployment``, ``reason``): its turn came and its
  holder may no longer launch there.

Each is JSON with the headers ``X-Fleetport-Subject`` and ``X-Fleetport-Timestamp`` (Unix ms)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import orjson

from fleetport.core import validate
from fleetport.core.errors import Invalid
from fleetport.core.models import utcnow
from fleetport.core.remote.lifecycle import Dropped, Started
from fleetport.core.telemetry.dispatch import Dispatcher, Sending

URL_MAX = 2048
JSON = "application/json"
SHAPE = "the event URL (eurl) must be an absolute http:// or https:// URL, like https://example.com/hook"


def event_url(value: object) -> str:
    """An event URL: absolute http:// or https:// with a host, at most ``URL_MAX`` characters, no
    spaces or control characters. Any host is taken, private and loopback addresses too (a
    self-hosted server's users often listen on its own network); the POST's answer is never shown
    to the caller, and redirects are not followed."""
    if not isinstance(value, str):
        raise Invalid(SHAPE)
    validate.bounded_text(value, "event URL", URL_MAX)
    if any(c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise Invalid("the event URL (eurl) may not hold spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
        httpx.URL(value)  # what sends it must take it too
    except (ValueError, httpx.InvalidURL) as exc:
        raise Invalid(f"the event URL (eurl) is malformed: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port == 0:
        raise Invalid(SHAPE)
    return value


def announce(dispatcher: Dispatcher, effect: Started | Dropped) -> None:
    """POSTs what happened to a reservation to its event URL, if it has one."""
    if isinstance(effect, Started):
        if effect.instance.event_url and effect.reservation_id:
            _post(
                dispatcher,
                effect.instance.event_url,
                f"instance {effect.instance.id}",
                event="INSTANCE_LAUNCH",
                reservation=effect.reservation_id,
                id=effect.instance.id,
                deployment=effect.instance.deployment_id,
                status=effect.instance.status,
            )
    elif effect.event_url:
        _post(
            dispatcher,
            effect.event_url,
            f"reservation {effect.reservation_id}",
            event="RESERVATION_DROPPED",
            reservation=effect.reservation_id,
            deployment=effect.deployment_id,
            reason=effect.reason,
        )


def _post(dispatcher: Dispatcher, url: str, subject: str, **body: str) -> None:
    stamp = int(utcnow().timestamp() * 1000)
    dispatcher.send(Sending("http_post", url, orjson.dumps(body).decode(), subject, None, stamp, JSON))
