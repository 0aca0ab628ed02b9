"""The Viam dialect as the server mounts it: no HTTP paths, a gRPC listener of its own."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from starlette.types import ASGIApp

from fleetport.core.fleet import Fleet
from fleetport.dialect import Listener
from fleetport.edge import BodyLimit, native_fault
from fleetport.ports import Port
from fleetport.settings import Settings


class GrpcPort:
    """The gRPC listener on sockets bound at start-up."""

    def __init__(self, fleet: Fleet, sockets: list[socket.socket], certificate: tuple[Path, Path]) -> None:
        # viam-sdk's generated code loads only when the dialect listens
        from fleetport.dialects.viam.listener import GrpcListener, tls_context

        self.listener = GrpcListener(fleet, tls_context(*certificate))
        self.sockets = sockets

    async def start(self) -> None:
        await self.listener.start(self.sockets)

    async def stop(self) -> None:
        await self.listener.stop()


class Viam:
    name = "viam"
    paths: tuple[str, ...] = ()

    def enabled(self, settings: Settings) -> bool:
        return settings.viam.enabled

    def app(self, fleet: Fleet) -> ASGIApp | None:
        return None

    def body_limits(self, settings: Settings) -> Sequence[BodyLimit]:
        return ()

    def fault(self, path: str, request_id: str) -> tuple[bytes, bytes]:
        return native_fault(path, request_id)  # never asked: the dialect has no HTTP paths

    def ports(self, settings: Settings) -> Sequence[Port]:
        """The gRPC port (plaintext and TLS on one port); 0 turns it off."""
        port = settings.viam.grpc_port
        return [Port("gRPC", port, "grpc_port", owner=self.name)] if port else []

    def listeners(
        self, fleet: Fleet, ports: Sequence[Port], certificate: tuple[Path, Path]
    ) -> Sequence[Listener]:
        return [GrpcPort(fleet, port.sockets, certificate) for port in ports]


dialect = Viam()
