"""The agent wire as the server mounts it: ``/agent/v1/connect`` (an agent's control connection)
and ``/agent/v1/streams/<id>`` (one relayed stream), WebSockets on the server's HTTP and HTTPS
ports, authenticated by the part's secret. Other requests under ``/agent/v1`` are answered 404 in
JSON."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from fleetport.core.fleet import Fleet
from fleetport.dialect import HttpOnly
from fleetport.dialects.agent.hub import hub_of
from fleetport.edge import BodyLimit, fault_message
from fleetport.settings import Settings

PREFIX = "/agent/v1"


async def _not_here(request: Request) -> Response:
    message = f"no agent endpoint at {request.url.path}: agents open WebSockets at {PREFIX}/connect"
    return JSONResponse({"error": {"code": "not_found", "message": message}}, status_code=404)


class AgentWire(HttpOnly):
    name = "agent"
    paths: tuple[str, ...] = (PREFIX,)

    def enabled(self, settings: Settings) -> bool:
        return settings.agent.enabled

    def app(self, fleet: Fleet) -> ASGIApp:
        hub = hub_of(fleet)

        async def connect(websocket: WebSocket) -> None:
            await hub.serve_control(websocket)

        async def stream(websocket: WebSocket) -> None:
            await hub.serve_stream(websocket, websocket.path_params["stream_id"])

        return Router(
            routes=[
                WebSocketRoute(f"{PREFIX}/connect", connect),
                WebSocketRoute(PREFIX + "/streams/{stream_id}", stream),
                Route(PREFIX + "/{rest:path}", _not_here, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
                Route(PREFIX, _not_here, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    def body_limits(self, settings: Settings) -> Sequence[BodyLimit]:
        return ()

    def fault(self, path: str, request_id: str) -> tuple[bytes, bytes]:
        body = {"error": {"code": "internal", "message": fault_message(request_id)}}
        return b"application/json", orjson.dumps(body)


dialect = AgentWire()
