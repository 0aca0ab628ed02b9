"""``proto.rpc.v1.AuthService/Authenticate``: an API key id and key in, an access token out.

The access token is the key's secret itself. The client never refreshes it, so it must live as long
as the key and no longer: rotating or deleting the key ends it, with nothing else to revoke. The
AppService accepts any Fleetport bearer credential (API key or session token) the same way.
"""

from __future__ import annotations

from typing import Any

from grpclib.server import Stream
from viam.proto.rpc.auth import AuthenticateResponse, UnimplementedAuthServiceBase

from fleetport.core import errors
from fleetport.core.calls import run_core
from fleetport.core.credentials import ApiKeySecret
from fleetport.core.fleet import Fleet
from fleetport.dialects.viam.rpc import errors_as_status


class AuthService(UnimplementedAuthServiceBase):
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    async def Authenticate(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        async with errors_as_status():
            kind = request.credentials.type
            if kind != "api-key":
                raise errors.Unauthenticated(
                    f"credentials of type {kind!r} are not accepted here; use 'api-key'"
                )
            if not request.entity or not request.credentials.payload:
                raise errors.Unauthenticated("entity (the API key id) and the key are both required")
            key_id, secret = request.entity, request.credentials.payload
            credential = ApiKeySecret(key_id, secret)
            await run_core(self.fleet, lambda: self.fleet.identity.authenticate(credential))
        await stream.send_message(AuthenticateResponse(access_token=secret))
