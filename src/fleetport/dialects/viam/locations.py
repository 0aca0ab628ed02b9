"""Locations: their robot counts, sharing and secrets."""

from __future__ import annotations

from viam.proto import app as pb

from fleetport.core.calls import Call
from fleetport.dialects.viam import convert as cv
from fleetport.dialects.viam.rpc import Area, required, unary


class LocationRpcs(Area):
    @unary
    async def CreateLocation(self, call: Call, req: pb.CreateLocationRequest) -> pb.CreateLocationResponse:
        loc = await call(
            self.fleet.locations.create,
            required(req.organization_id, "organization_id"),
            req.name,
            parent_id=req.parent_location_id or None,
        )
        return pb.CreateLocationResponse(location=cv.location(loc, robot_count=0))  # a new one has none

    @unary
    async def GetLocation(self, call: Call, req: pb.GetLocationRequest) -> pb.GetLocationResponse:
        found = await call(self.fleet.locations.summary, required(req.location_id, "location_id"))
        return pb.GetLocationResponse(location=cv.location_summary(found))

    @unary
    async def UpdateLocation(self, call: Call, req: pb.UpdateLocationRequest) -> pb.UpdateLocationResponse:
        # Viam: name "" keeps the name; parent_location_id "" makes it a top-level location and
        # leaving it out keeps the parent
        found = await call(
            self.fleet.locations.edit,
            required(req.location_id, "location_id"),
            name=req.name or None,
            parent_id=req.parent_location_id if req.HasField("parent_location_id") else None,
        )
        return pb.UpdateLocationResponse(location=cv.location_summary(found))

    @unary
    async def DeleteLocation(self, call: Call, req: pb.DeleteLocationRequest) -> pb.DeleteLocationResponse:
        await call(self.fleet.locations.delete, required(req.location_id, "location_id"))
        return pb.DeleteLocationResponse()

    @unary
    async def ListLocations(self, call: Call, req: pb.ListLocationsRequest) -> pb.ListLocationsResponse:
        found = await call(self.fleet.locations.summaries, required(req.organization_id, "organization_id"))
        return pb.ListLocationsResponse(locations=[cv.location_summary(s) for s in found])

    @unary
    async def ShareLocation(self, call: Call, req: pb.ShareLocationRequest) -> pb.ShareLocationResponse:
        await call(
            self.fleet.locations.share,
            required(req.location_id, "location_id"),
            required(req.organization_id, "organization_id"),
        )
        return pb.ShareLocationResponse()

    @unary
    async def UnshareLocation(self, call: Call, req: pb.UnshareLocationRequest) -> pb.UnshareLocationResponse:
        await call(
            self.fleet.locations.unshare,
            required(req.location_id, "location_id"),
            required(req.organization_id, "organization_id"),
        )
        return pb.UnshareLocationResponse()

    @unary
    async def LocationAuth(self, call: Call, req: pb.LocationAuthRequest) -> pb.LocationAuthResponse:
        location_id = required(req.location_id, "location_id")
        secrets = await call(self.fleet.locations.secrets, location_id)
        return pb.LocationAuthResponse(auth=cv.location_auth(location_id, secrets))

    @unary
    async def CreateLocationSecret(
        self, call: Call, req: pb.CreateLocationSecretRequest
    ) -> pb.CreateLocationSecretResponse:
        location_id = required(req.location_id, "location_id")
        secrets = await call(self.fleet.locations.add_secret, location_id)
        return pb.CreateLocationSecretResponse(auth=cv.location_auth(location_id, secrets))

    @unary
    async def DeleteLocationSecret(
        self, call: Call, req: pb.DeleteLocationSecretRequest
    ) -> pb.DeleteLocationSecretResponse:
        await call(
            self.fleet.locations.delete_secret,
            required(req.location_id, "location_id"),
            required(req.secret_id, "secret_id"),
        )
        return pb.DeleteLocationSecretResponse()
