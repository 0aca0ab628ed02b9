"""HTTP plumbing shared by Client and AsyncClient: configuration, errors, paging."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, BinaryIO, Generic, TypeVar

import httpx
from pydantic import TypeAdapter

from fleetport.client.errors import FleetportError, InvalidServerURL, UntrustedCertificate, from_response

T = TypeVar("T")
DEFAULT_URL = "http://localhost:8080"
API = "/api/v1"


def settings(url: str | None, api_key: str | None) -> tuple[str, str | None]:
    base = server_url((url or os.environ.get("FLEETPORT_URL") or DEFAULT_URL).strip().rstrip("/"))
    return base, api_key or os.environ.get("FLEETPORT_API_KEY") or None


def server_url(url: str) -> str:
    """The URL as given when it starts with http:// or https://; otherwise an error that says
    what to write instead."""
    scheme, separator, host = url.partition("://")
    if url.lower().rstrip(":/") in ("", "http", "https") or (separator and not host):
        raise InvalidServerURL(f"the server URL {url!r} has no host: give one like {DEFAULT_URL}")
    if not separator:
        raise InvalidServerURL(f"the server URL {url!r} has no scheme: use http://{url} or https://{url}")
    if scheme.lower() not in ("http", "https"):
        raise InvalidServerURL(f"the server URL {url!r} must start with http:// or https://")
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidServerURL(f"the server URL {url!r} is not valid ({exc})") from None
    return url


def tls(verify: Any) -> Any:
    """``verify`` as httpx takes it: True, False, an SSLContext, or a CA bundle path (a server's
    self-signed ``tls/cert.pem``), made into an SSLContext here."""
    if isinstance(verify, (str, os.PathLike)):
        try:
            return ssl.create_default_context(cafile=os.fspath(verify))
        except (OSError, ssl.SSLError) as exc:
            raise FleetportError(f"cannot load the CA bundle {os.fspath(verify)!r}: {exc}") from exc
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


Progress = Callable[[int, int | None], None]  # bytes so far, total bytes when known


def _raw_headers(size: int | None) -> dict[str, str]:
    headers = {"Content-Type": "application/octet-stream"}
    if size is not None:
        headers["Content-Length"] = str(size)  # sent as is, not chunked
    return headers


def _certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed under a transport error, if that is what it was."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _unreachable(http: httpx.Client | httpx.AsyncClient, exc: httpx.TransportError) -> FleetportError:
    failure = _certificate_failure(exc)
    if failure is not None:
        return UntrustedCertificate(str(http.base_url), failure.verify_message or str(failure))
    if isinstance(exc, httpx.WriteError):
        return FleetportError(
            f"the Fleetport server at {http.base_url} closed the connection while the body was sent "
            f"(is it over the server's size limit?): {exc}"
        )
    return FleetportError(f"cannot reach the Fleetport server at {http.base_url}: {exc}")


def _total(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


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
            raise _unreachable(self.http, exc) from exc
        return decode(response, model)

    def pages(self, path: str, model: Any, params: dict[str, Any] | None = None) -> Iterator[Any]:
        from fleetport.client.models import Page

        query = dict(params or {})
        while True:
            page = self.call("GET", path, Page[model], params=query)
            yield from page.items
            if not page.next_cursor:
                return
            query["cursor"] = page.next_cursor

    def upload(
        self, method: str, path: str, model: Any, content: bytes | Iterable[bytes], *, size: int | None = None
    ) -> Any:
        """Sends raw bytes (or chunks of them) as the request body."""
        try:
            response = self.http.request(method, API + path, content=content, headers=_raw_headers(size))
        except httpx.TransportError as exc:
            raise _unreachable(self.http, exc) from exc
        return decode(response, model)

    def download(self, path: str, sink: BinaryIO, progress: Progress | None = None) -> int:
        """Streams a response body into ``sink``; returns the number of bytes written."""
        written = 0
        try:
            with self.http.stream("GET", API + path) as response:
                if response.status_code >= 400:
                    response.read()
                    decode(response, None)
                total = _total(response)
                for chunk in response.iter_bytes():
                    sink.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(written, total)
        except httpx.TransportError as exc:
            raise _unreachable(self.http, exc) from exc
        return written

    def stream(self, path: str, model: Any, params: dict[str, Any] | None = None) -> EventStream[Any]:
        """Opens a Server-Sent Events stream; errors the server answers with are raised here."""
        request = self.http.build_request(
            "GET",
            API + path,
            params=_params(params),
            headers=_SSE_HEADERS,
            timeout=_streaming(self.http.timeout),
        )
        try:
            response = self.http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _unreachable(self.http, exc) from exc
        if response.status_code >= 400:
            try:
                response.read()
            finally:
                response.close()
            decode(response, None)
        return EventStream(response, model)


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
            raise _unreachable(self.http, exc) from exc
        return decode(response, model)

    async def pages(self, path: str, model: Any, params: dict[str, Any] | None = None) -> AsyncIterator[Any]:
        from fleetport.client.models import Page

        query = dict(params or {})
        while True:
            page = await self.call("GET", path, Page[model], params=query)
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            query["cursor"] = page.next_cursor

    async def upload(
        self,
        method: str,
        path: str,
        model: Any,
        content: bytes | Iterable[bytes] | AsyncIterable[bytes],
        *,
        size: int | None = None,
    ) -> Any:
        body: bytes | AsyncIterable[bytes] = (
            content if isinstance(content, bytes | AsyncIterable) else _aiter_chunks(content)
        )
        try:
            response = await self.http.request(method, API + path, content=body, headers=_raw_headers(size))
        except httpx.TransportError as exc:
            raise _unreachable(self.http, exc) from exc
        return decode(response, model)

    async def download(self, path: str, sink: BinaryIO, progress: Progress | None = None) -> int:
        written = 0
        try:
            async with self.http.stream("GET", API + path) as response:
                if response.status_code >= 400:
                    await response.aread()
                    decode(response, None)
                total = _total(response)
                async for chunk in response.aiter_bytes():
                    sink.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(written, total)
        except httpx.TransportError as exc:
            raise _unreachable(self.http, exc) from exc
        return written

    async def stream(
        self, path: str, model: Any, params: dict[str, Any] | None = None
    ) -> AsyncEventStream[Any]:
        """Opens a Server-Sent Events stream; errors the server answers with are raised here."""
        request = self.http.build_request(
            "GET",
            API + path,
            params=_params(params),
            headers=_SSE_HEADERS,
            timeout=_streaming(self.http.timeout),
        )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _unreachable(self.http, exc) from exc
        if response.status_code >= 400:
            try:
                await response.aread()
            finally:
                await response.aclose()
            decode(response, None)
        return AsyncEventStream(response, model)


async def _aiter_chunks(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


# --- Server-Sent Events -------------------------------------------------------------------------

STREAM_READ_TIMEOUT = 60.0  # the server sends a keep-alive comment every 15 seconds
_SSE_HEADERS = {"Accept": "text/event-stream"}


def _streaming(timeout: httpx.Timeout) -> httpx.Timeout:
    """The client's timeouts, with a read timeout long enough for the pauses of a live stream."""
    read = None if timeout.read is None else max(timeout.read, STREAM_READ_TIMEOUT)
    return httpx.Timeout(connect=timeout.connect, read=read, write=timeout.write, pool=timeout.pool)


class _EventParser:
    """Turns the lines of a text/event-stream into (event type, data) pairs."""

    def __init__(self) -> None:
        self.event = ""
        self.data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        if not line:  # a blank line dispatches the event
            event, data = self.event or "message", self.data
            self.event, self.data = "", []
            return (event, "\n".join(data)) if data else None
        if line.startswith(":"):  # a comment: keep-alive
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None


def _event_value(event: str, data: str, model: Any, response: httpx.Response) -> tuple[bool, Any]:
    """(True, the decoded data) for a message; raises for an error event; (False, None) for any
    other event."""
    rid = response.headers.get("x-request-id")
    if event == "error":
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        raise from_response(0, body, rid)
    if event != "message":
        return False, None
    try:
        return True, _adapter(model).validate_json(data)
    except ValueError as exc:
        raise FleetportError(f"unexpected event from the server: {exc}", request_id=rid) from exc


def _stream_broken(response: httpx.Response, exc: Exception) -> FleetportError:
    return FleetportError(
        f"the stream from the Fleetport server broke off: {exc}",
        request_id=response.headers.get("x-request-id"),
    )


class EventStream(Generic[T]):
    """The events of a Server-Sent Events stream, decoded: iterate until the server ends it; an
    ``error`` event raises. Close it (or use ``with``) to stop listening."""

    def __init__(self, response: httpx.Response, model: Any) -> None:
        self._response = response
        self._model = model
        self._lines = response.iter_lines()
        self._parser = _EventParser()
        self._closed = False

    def __iter__(self) -> EventStream[T]:
        return self

    def __next__(self) -> T:
        if self._closed:
            raise StopIteration
        try:
            for line in self._lines:
                found = self._parser.feed(line)
                if found is not None:
                    is_value, value = _event_value(*found, self._model, self._response)
                    if is_value:
                        return value  # type: ignore[no-any-return]
        except httpx.TransportError as exc:
            self.close()
            raise _stream_broken(self._response, exc) from exc
        except FleetportError:
            self.close()
            raise
        self.close()
        raise StopIteration

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._response.close()

    def __enter__(self) -> EventStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncEventStream(Generic[T]):
    """Like EventStream, with ``async for`` and ``async with``."""

    def __init__(self, response: httpx.Response, model: Any) -> None:
        self._response = response
        self._model = model
        self._lines = response.aiter_lines()
        self._parser = _EventParser()
        self._closed = False

    def __aiter__(self) -> AsyncEventStream[T]:
        return self

    async def __anext__(self) -> T:
        if self._closed:
            raise StopAsyncIteration
        try:
            async for line in self._lines:
                found = self._parser.feed(line)
                if found is not None:
                    is_value, value = _event_value(*found, self._model, self._response)
                    if is_value:
                        return value  # type: ignore[no-any-return]
        except httpx.TransportError as exc:
            await self.aclose()
            raise _stream_broken(self._response, exc) from exc
        except FleetportError:
            await self.aclose()
            raise
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._response.aclose()

    async def __aenter__(self) -> AsyncEventStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
