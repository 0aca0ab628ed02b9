"""The shape every API of the server has.

Every API the server speaks, the native one included, is a :class:`Dialect`: the server mounts
them from one list (``fleetport.server.DIALECTS``). A dialect owns the HTTP paths it names, all of
them: its routes, its answers to unknown paths and wrong methods, its error bodies, its body size
limits and the body of a 500. Nothing of another dialect's shape reaches a caller of its paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from fleetport.core.fleet import Fleet
    from fleetport.edge import BodyLimit
    from fleetport.ports import Port
    from fleetport.settings import Settings


class Listener(Protocol):
    """A listener of a dialect's own (the Viam gRPC port), started and stopped with the server."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Dialect(Protocol):
    """One API the server speaks.

    ``name`` is also the name of its section of the settings (``FLEETPORT_<NAME>__...``) when it
    has one. ``paths`` are the HTTP paths it owns, each with everything beneath it (``/onep:v1``
    owns ``/onep:v1/rpc/process`` and ``/onep:v1/anything``); the root ``/`` owns only itself.
    No two dialects share a path."""

    name: str
    paths: tuple[str, ...]

    def enabled(self, settings: Settings) -> bool:
        """Whether the server serves it (a dialect's section can turn it off)."""
        ...

    def app(self, fleet: Fleet) -> ASGIApp | None:
        """The ASGI application that answers every HTTP request under ``paths``, in the dialect's
        own shape (unknown paths and wrong methods too); None for a dialect without HTTP paths.
        It sees the whole path, not the part after the prefix."""
        ...

    def body_limits(self, settings: Settings) -> Sequence[BodyLimit]:
        """Body size limits of its own routes, in place of the general one, each refused in its shape."""
        ...

    def fault(self, path: str, request_id: str) -> tuple[bytes, bytes]:
        """The answer (content type, body) to a request of one of its paths that failed unexpectedly."""
        ...

    def ports(self, settings: Settings) -> Sequence[Port]:
        """Ports of its own, bound with the HTTP and HTTPS ports before anything is written."""
        ...

    def listeners(
        self, fleet: Fleet, ports: Sequence[Port], certificate: tuple[Path, Path]
    ) -> Sequence[Listener]:
        """Its listeners on the ``ports`` it asked for (bound already), with the server's TLS
        certificate and key."""
        ...


class HttpOnly:
    """What a dialect that speaks only HTTP, on the server's own ports, has: no ports or
    listeners of its own."""

    def ports(self, settings: Settings) -> Sequence[Port]:
        return ()

    def listeners(
        self, fleet: Fleet, ports: Sequence[Port], certificate: tuple[Path, Path]
    ) -> Sequence[Listener]:
        return ()


def owns(prefix: str, path: str) -> bool:
    """Whether ``path`` is under ``prefix`` (the root ``/`` owns only itself)."""
    return path == prefix or (prefix != "/" and path.startswith(prefix) and path[len(prefix)] == "/")


def collisions(dialects: Sequence[Dialect]) -> list[str]:
    """The paths two dialects would both own, described (none in a well-formed list)."""
    owned = [(dialect.name, path) for dialect in dialects for path in dialect.paths]
    return [
        f"{first} {path} and {second} {other}"
        for index, (first, path) in enumerate(owned)
        for second, other in owned[index + 1 :]
        if owns(path, other) or owns(other, path)
    ]


def path_pattern(prefix: str) -> re.Pattern[str]:
    """The paths a prefix owns, as a pattern (for rules matched on the raw path)."""
    if prefix == "/":
        return re.compile(r"^/$")
    return re.compile(rf"^{re.escape(prefix)}(/|$)")


class Mounted(BaseRoute):
    """A route of the server that hands every request under a dialect's paths to the dialect's
    application, with the path unchanged, so that the dialect answers all of them."""

    def __init__(self, name: str, paths: Sequence[str], app: ASGIApp) -> None:
        self.name = name
        self.paths = tuple(paths)
        self.app = app

    @property
    def routes(self) -> list[BaseRoute]:
        """The dialect's own routes, when its application is a router (for the OpenAPI document)."""
        inner = getattr(self.app, "app", None)  # behind the dialect's error handlers
        return list(getattr(self.app, "routes", None) or getattr(inner, "routes", []))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] in ("http", "websocket") and any(owns(p, scope["path"]) for p in self.paths):
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return f"Mounted({self.name!r}, {self.paths!r})"
