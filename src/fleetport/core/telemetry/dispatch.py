"""Dispatches: the HTTP requests that http_get / http_post / http_put dispatch resources send when a
value reaches them. Sent by a small pool of worker threads after the write commits, so that a slow
or dead recipient never holds up a write; each outcome is logged."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
MAX_PENDING = 10_000  # sendings queued at most; beyond, new ones are dropped (and logged)


@dataclass(frozen=True)
class Sending:
    method: str  # http_get | http_post | http_put
    url: str
    body: str  # the dispatch's message, or the value when it has none
    subject: str
    value: Any
    timestamp: int
    content_type: str = "text/plain; charset=utf-8"  # of a POST or PUT body


class Dispatcher:
    def __init__(self, workers: int = 4) -> None:
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._pending = 0
        self.sent = 0
        self.failed = 0

    def _start(self) -> tuple[ThreadPoolExecutor, httpx.Client]:
        with self._lock:
            if self._pool is None or self._client is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="fleetport-dispatch")
                self._client = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
            return self._pool, self._client

    def send(self, sending: Sending) -> None:
        """Queues the request; returns at once."""
        pool, client = self._start()
        with self._lock:
            if self._pending >= MAX_PENDING:
                log.warning("dispatch to %s dropped: %d sendings are queued", sending.url, self._pending)
                return
            self._pending += 1
        pool.submit(self._perform, client, sending)

    def _perform(self, client: httpx.Client, sending: Sending) -> None:
        try:
            headers = {"X-Fleetport-Timestamp": str(sending.timestamp)}
            if sending.subject:
                headers["X-Fleetport-Subject"] = sending.subject[:1000]
            if sending.method == "http_get":
                response = client.get(sending.url, headers=headers)
            else:
                verb = "POST" if sending.method == "http_post" else "PUT"
                headers["Content-Type"] = sending.content_type
                response = client.request(verb, sending.url, content=sending.body.encode(), headers=headers)
            if response.status_code >= 400:
                raise httpx.HTTPStatusError(
                    f"answered {response.status_code}", request=response.request, response=response
                )
            self.sent += 1
        except (httpx.HTTPError, ValueError) as exc:
            self.failed += 1
            log.warning("dispatch %s %s failed: %s", sending.method, sending.url, exc)
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        with self._lock:
            pool, client = self._pool, self._client
            self._pool = self._client = None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if client is not None:
            client.close()
