"""Fragments and their history."""

from __future__ import annotations

from viam.proto import app as pb

from fleetport.core import errors
from fleetport.core.calls import Call
from fleetport.core.pages import PageRequest
from fleetport.dialects.viam import convert as cv
from fleetport.dialects.viam.rpc import Area, request_time, required, unary


class FragmentRpcs(Area):
    @unary
    async def ListFragments(self, call: Call, req: pb.ListFragmentsRequest) -> pb.ListFragmentsResponse:
        # Viam: the visibilities asked for; without any, show_public (the default) lists only
        # public fragments and show_public=False only private ones
        visibilities = [
            cv.FRAGMENT_VISIBILITY[v] for v in req.fragment_visibility if v in cv.FRAGMENT_VISIBILITY
        ] or ["public" if req.show_public else "private"]
        found = await call(
            self.fleet.fragments.list,
            required(req.organization_id, "organization_id"),
            show_public="public" in visibilities,
            visibilities=visibilities,
        )
        return pb.ListFragmentsResponse(fragments=[cv.fragment(f) for f in found])

    @unary
    async def GetFragment(self, call: Call, req: pb.GetFragmentRequest) -> pb.GetFragmentResponse:
        if req.HasField("version") and req.version:
            raise errors.Invalid("fragment versions are not kept: ask for the fragment without a version")
        return pb.GetFragmentResponse(
            fragment=cv.fragment(await call(self.fleet.fragments.get, required(req.id, "id")))
        )

    @unary
    async def CreateFragment(self, call: Call, req: pb.CreateFragmentRequest) -> pb.CreateFragmentResponse:
        made = await call(
            self.fleet.fragments.create,
            required(req.organization_id, "organization_id"),
            req.name,
            cv.from_struct(req.config) if req.HasField("config") else None,
        )
        return pb.CreateFragmentResponse(fragment=cv.fragment(made))

    @unary
    async def UpdateFragment(self, call: Call, req: pb.UpdateFragmentRequest) -> pb.UpdateFragmentResponse:
        visibility = None
        if req.HasField("visibility") and req.visibility in cv.FRAGMENT_VISIBILITY:
            visibility = cv.FRAGMENT_VISIBILITY[req.visibility]
        elif req.HasField("public"):
            visibility = "public" if req.public else "private"
        updated = await call(
            self.fleet.fragments.update,
            required(req.id, "id"),
            name=req.name,
            config=cv.from_struct(req.config) if req.HasField("config") else None,
            visibility=visibility,
            unchanged_since=request_time(req, "last_known_update"),
        )
        return pb.UpdateFragmentResponse(fragment=cv.fragment(updated))

    @unary
    async def DeleteFragment(self, call: Call, req: pb.DeleteFragmentRequest) -> pb.DeleteFragmentResponse:
        await call(self.fleet.fragments.delete, required(req.id, "id"))
        return pb.DeleteFragmentResponse()

    @unary
    async def GetFragmentHistory(
        self, call: Call, req: pb.GetFragmentHistoryRequest
    ) -> pb.GetFragmentHistoryResponse:
        found = await call(
            self.fleet.fragments.history_of,
            required(req.id, "id"),
            PageRequest(req.page_limit or None, req.page_token),  # page_limit 0: the default
        )
        return pb.GetFragmentHistoryResponse(
            history=[cv.fragment_history_entry(found.fragment, r) for r in found.revisions.items],
            next_page_token=found.revisions.next_cursor or "",
        )
