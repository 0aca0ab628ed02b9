"""The asyncio Fleetport client: the same resources as Client, awaited."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from fleetport.client import models as m
from fleetport.client.operations import Async
from fleetport.client.resources import Api
from fleetport.client.ssh import AsyncSsh
from fleetport.client.transport import AsyncTransport, headers, settings, tls


class AsyncClient(Api[Async]):
    """Like ``Client``; every call is awaited and listings are async iterators::

    async with AsyncClient() as fp:
        async for machine in fp.machines.list():
            ...

    ``transport`` replaces the network with any ``httpx.AsyncBaseTransport``: an
    ``httpx.ASGITransport(app)`` serves the calls from an ASGI app in the same process, an
    ``httpx.MockTransport`` from a function.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        verify: Any = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url, self.api_key = settings(url, api_key)
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=headers(self.api_key),
            timeout=timeout,
            verify=tls(verify),
            transport=transport,
        )
        super().__init__(AsyncTransport(self._http))
        self.ssh = AsyncSsh(self._t)

    @classmethod
    async def login(cls, email: str, password: str, url: str | None = None, **kwargs: Any) -> AsyncClient:
        async with cls(url, api_key=None, **kwargs) as anonymous:
            session = await anonymous._t.call(
                "POST", "/auth/login", m.Session, json={"email": email, "password": password}
            )
        return cls(url, session.token, **kwargs)

    async def whoami(self) -> m.WhoAmI:
        return await self._t.call("GET", "/auth/whoami", m.WhoAmI)  # type: ignore[no-any-return]

    async def logout(self) -> None:
        await self._t.call("POST", "/auth/logout")

    async def health(self) -> dict[str, Any]:
        return (await self._http.get("/health")).json()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()
