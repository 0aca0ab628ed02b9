"""The agent's telemetry endpoint on the robot: plain HTTP on the loopback address only.

``POST /dataports/<alias>/points`` with the body of the native API's points write
(``{"points": [{"timestamp": <Unix seconds>, "value": ...}, ...]}``) queues the points in the
outbox and answers 202 ``{"queued": <number of points>}`` at once, connected or not; the server
stores them when the agent reaches it. When the agent's buffer is full, the oldest buffered log
lines and then points make room (counted, and reported in the part's logs once the server is
reachable); a write larger than the whole buffer is refused with 507. ``GET /status`` tells
whether the agent is connected, how many messages wait, how full the buffer is and what it
dropped. One request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from fleetport.agent.outbox import BufferFull, Outbox

log = logging.getLogger("fleetport.agent")

MAX_BODY = 16 << 20
MAX_POINTS = 10_000
MAX_HEADER_LINES = 100
ALIAS_MAX = 200


class TelemetryEndpoint:
    def __init__(self, outbox: Outbox, wake: asyncio.Event, status: Callable[[], dict[str, Any]]) -> None:
        self.outbox = outbox
        self.wake = wake
        self.status = status

    async def serve(self, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._handle, "127.0.0.1", port, limit=64 * 1024)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, answer = await asyncio.wait_for(self._answer(reader), 30)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            status, answer = 400, {"error": "malformed or incomplete request"}
        body = json.dumps(answer).encode()
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + body)
            await writer.drain()
        writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        method, target, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        path = target.split("?", 1)[0]
        if path == "/status":
            return (200, self.status()) if method == "GET" else (405, {"error": "GET /status"})
        parts = path.split("/")
        if len(parts) != 4 or parts[1] != "dataports" or parts[3] != "points" or not parts[2]:
            return 404, {"error": "POST /dataports/<alias>/points or GET /status"}
        if method != "POST":
            return 405, {"error": "POST /dataports/<alias>/points"}
        length = int(headers.get("content-length", "-1"))
        if length < 0:
            return 411, {"error": "a Content-Length is required"}
        if length > MAX_BODY:
            return 413, {"error": f"the body is larger than {MAX_BODY} bytes"}
        alias = unquote(parts[2])
        if len(alias) > ALIAS_MAX:
            return 400, {"error": f"an alias has at most {ALIAS_MAX} characters"}
        try:
            body = json.loads(await reader.readexactly(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return 400, {"error": "the body is not JSON"}
        points = body.get("points") if isinstance(body, dict) and set(body) == {"points"} else None
        if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
            return 400, {
                "error": 'the body is {"points": [{"timestamp": <Unix seconds>, "value": ...}, ...]}'
            }
        if len(points) > MAX_POINTS:
            return 400, {"error": f"one write carries at most {MAX_POINTS} points"}
        try:
            self.outbox.add("points", json.dumps({"alias": alias, "points": points}))
        except BufferFull as exc:
            return 507, {"error": f"{exc} (--buffer-max-mb): send fewer points at a time"}
        self.wake.set()
        return 202, {"queued": len(points)}


_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    507: "Insufficient Storage",
}
