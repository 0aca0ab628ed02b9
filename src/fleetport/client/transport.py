"""HTTP plumbing shared by Client and AsyncClient: configuration, errors, paging."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter

from fleetport.client.errors import FleetportError, from_response

T = TypeVar("T")
DEFAULT_URL = "http://localhost:8080"
API = "/api/v1"


def settings(url: str | None, api_key: str | None) -> tuple[str, str | None]:
    base = (url or os.environ.get("FLEETPORT_URL") or DEFAULT_URL).rstrip("/")
    return base, api_key or os.environ.get("FLEETPORT_API_KEY") or None


def tls(verify: Any) -> Any:
    """``verify`` as httpx takes it: True, False, an SSLContext, or a CA bundle path (a server's
    self-signed ``tls/cert.pem``), made into an SSLContext here."""
    if isinstance(verify, (str, os.PathLike)):
        return ssl.create_default_context(cafile=os.fspath(verify))
    return verify


def headers(api_key: str | None) -> dict[str, str]:
    h = {"Accept": "application/json", "User-Agent": "fleetport-sdk"}
    if api_key:
        h["Authorization"] = f"Bearer {api_key}"
    return h


def decode(response: httpx.Response, model: Any) -> Any:
    rid = response.headers.get("x-request-id")
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        raise from_response(response.status_code, body, rid)
    if model is None or response.status_code == 204:
        return None
    try:
        return _adapter(model).validate_python(response.json())
    except ValueError as exc:
        raise FleetportError(
            f"unexpected answer from the server: {exc}", status=response.status_code, request_id=rid
        ) from exc


_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(model: Any) -> TypeAdapter[Any]:
    adapter = _adapters.get(model)
    if adapter is None:
        adapter = _adapters[model] = TypeAdapter(model)
    return adapter


def _params(params: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (params or {}).items() if v is not None}


class SyncTransport:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(
        self,
        method: str,
        path: str,
        model: Any = None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        try:
            response = self.http.request(method, API + path, json=json, params=_params(params))
        except httpx.TransportError as exc:
            raise FleetportError(f"cannot reach the Fleetport server at {self.http.base_url}: {exc}") from exc
        return decode(response, model)

    def pages(self, path: str, model: Any, params: dict[str, Any] | None = None) -> Iterator[Any]:
        from fleetport.client.models import Page

        query = dict(params or {})
        while True:
            page = self.call("GET", path, Page[model], params=query)  # type: ignore[valid-type]
            yield from page.items
            if not page.next_cursor:
                return
            query["cursor"] = page.next_cursor


class AsyncTransport:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        model: Any = None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        try:
            response = await self.http.request(method, API + path, json=json, params=_params(params))
        except httpx.TransportError as exc:
            raise FleetportError(f"cannot reach the Fleetport server at {self.http.base_url}: {exc}") from exc
        return decode(response, model)

    async def pages(self, path: str, model: Any, params: dict[str, Any] | None = None) -> AsyncIterator[Any]:
        from fleetport.client.models import Page

        query = dict(params or {})
        while True:
            page = await self.call("GET", path, Page[model], params=query)  # type: ignore[valid-type]
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            query["cursor"] = page.next_cursor
