"""Servers on the robot's side that the relayed add-ons reach, run by the tests on loopback: an
HTTP server that echoes each request (method, path, query, headers, body, the peer's port) with a
WebSocket echo at ``/pubsub`` (as a Misty robot serves its REST API and its WebSocket on one port),
and a stand-in VNC server (it sends the RFB protocol version, then echoes what it reads)."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fleetport.testing import free_port

RFB_VERSION = b"RFB 003.008\n"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def _echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": dict(request.headers),
            "body": body.decode("utf-8", "replace"),
            "peer": request.client.port if request.client else None,
        }
    )


async def _pubsub(websocket: WebSocket) -> None:
    await websocket.accept()
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message.get("bytes") or b"")


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    """The robot's HTTP and WebSocket echo on 127.0.0.1: its port."""
    app = Starlette(
        routes=[WebSocketRoute("/pubsub", _pubsub), Route("/{path:path}", _echo, methods=METHODS)]
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the robot's echo server did not start")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(15)


class _Vnc(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(RFB_VERSION)
        with contextlib.suppress(OSError):
            while data := self.request.recv(65536):
                self.request.sendall(data)


class _Threading(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def vnc_server() -> Iterator[int]:
    """The stand-in VNC server on 127.0.0.1: its port."""
    server = _Threading(("127.0.0.1", 0), _Vnc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(15)


def refused(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1 at ``port`` (the connection is refused)."""
    with socket.socket() as sock:
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        return False
