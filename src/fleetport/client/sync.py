"""The synchronous Fleetport client."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from fleetport.client import models as m
from fleetport.client.operations import Sync
from fleetport.client.resources import Api
from fleetport.client.ssh import Ssh
from fleetport.client.transport import SyncTransport, headers, settings, tls


class Client(Api[Sync]):
    """A connection to a Fleetport server.

    ``url`` and ``api_key`` default to ``FLEETPORT_URL`` and ``FLEETPORT_API_KEY``. ``verify`` is
    passed to httpx: a CA bundle path (a server's self-signed ``tls/cert.pem``) or False.
    ``transport`` replaces the network with any ``httpx.BaseTransport``, e.g. an
    ``httpx.MockTransport`` in a test.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        verify: Any = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, self.api_key = settings(url, api_key)
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers(self.api_key),
            timeout=timeout,
            verify=tls(verify),
            transport=transport,
        )
        super().__init__(SyncTransport(self._http))
        self.ssh = Ssh(self._t)

    @classmethod
    def login(cls, email: str, password: str, url: str | None = None, **kwargs: Any) -> Client:
        """A client authenticated by a session token obtained with an email and password."""
        with cls(url, api_key=None, **kwargs) as anonymous:
            session = anonymous._t.call(
                "POST", "/auth/login", m.Session, json={"email": email, "password": password}
            )
        return cls(url, session.token, **kwargs)

    def whoami(self) -> m.WhoAmI:
        return self._t.call("GET", "/auth/whoami", m.WhoAmI)  # type: ignore[no-any-return]

    def logout(self) -> None:
        self._t.call("POST", "/auth/logout")

    def health(self) -> dict[str, Any]:
        return self._http.get("/health").json()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
