"""A real `fleetport serve` process, driven by the unmodified viam-sdk AppClient."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from grpclib.client import Channel
from viam.app.app_client import AppClient
from viam.app.viam_client import ViamClient
from viam.rpc.dial import DialOptions

from fleetport import Client
from fleetport.client.models import ApiKey, Organization
from tests.conftest import ADMIN_KEY, RunningServer, serving

T = TypeVar("T")
ROUTES = ("channel", "dial-tls", "dial-insecure")


@dataclass
class Viam:
    """How to reach the server's gRPC port with one owner key of one organization."""

    server: RunningServer
    org: Organization
    key: ApiKey
    route: str

    def run(
        self,
        scenario: Callable[[AppClient], Awaitable[T]],
        secret: str | None = None,
        key_id: str | None = None,
    ) -> T:
        """Runs ``scenario(app_client)`` in a fresh event loop (grpclib channels belong to the loop
        they are made in), with this key or the one given."""
        secret = secret or self.key.secret or ""
        key_id = key_id or self.key.id
        return asyncio.run(self._run(scenario, secret, key_id))

    async def _run(self, scenario: Callable[[AppClient], Awaitable[T]], secret: str, key_id: str) -> T:
        port = self.server.grpc_port
        if self.route == "channel":
            channel = Channel("127.0.0.1", port)
            try:
                return await scenario(AppClient(channel, {"authorization": f"Bearer {secret}"}))
            finally:
                channel.close()
        options = DialOptions.with_api_key(secret, key_id)
        if self.route == "dial-insecure":
            options.insecure = True
        client = await ViamClient.create_from_dial_options(options, app_url=f"localhost:{port}")
        try:
            return await scenario(client.app_client)
        finally:
            client.close()

    def native(self, key: str = ADMIN_KEY) -> Client:
        return Client(self.server.url, key)


@pytest.fixture(scope="package", params=["sqlite", "postgres"])
def viam_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One server per database engine: on PostgreSQL the core runs on worker threads."""
    with serving(request.param, tmp_path_factory.mktemp("viam")) as running:
        yield running


@pytest.fixture(params=ROUTES)
def viam(request: pytest.FixtureRequest, viam_server: RunningServer) -> Viam:
    """A fresh organization with an owner key, reached by one of the connection routes."""
    with Client(viam_server.url, ADMIN_KEY) as fp:
        org = fp.organizations.create(f"org {request.node.name}"[:200])
        key = fp.keys.create(
            org.id, "viam tests", [{"role": "owner", "resource_type": "organization", "resource_id": org.id}]
        )
    return Viam(viam_server, org, key, request.param)


def call(viam: Viam, method: str, *args: Any, **kwargs: Any) -> Any:
    """One AppClient method call."""

    async def scenario(app: AppClient) -> Any:
        return await getattr(app, method)(*args, **kwargs)

    return viam.run(scenario)
