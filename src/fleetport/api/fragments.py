"""Fragments: configuration an organization keeps once and machine parts reuse, with history."""

from __future__ import annotations

from fastapi import Query

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.api.routing import api_router
from fleetport.client import models as m
from fleetport.core.fragments import Fragment
from fleetport.core.permissions import Principal

router = api_router(tags=["fragments"])


@router.get("/fragments", response_model=m.Page[m.Fragment])
async def list_fragments(
    fleet: FleetDep,
    caller: Caller,
    organization_id: str = Query(max_length=64),
    show_public: bool = Query(True, description="Also public fragments of other organizations"),
    visibility: list[s.Visibility] | None = Query(None, description="Only these visibilities"),
) -> object:
    """The organization's fragments and, with ``show_public``, every organization's public ones
    (never the unlisted ones of others), all in one page."""
    items = await caller(
        fleet.fragments.list,
        organization_id,
        show_public=show_public,
        visibilities=None if visibility is None else list(visibility),
    )
    return {"items": items, "next_cursor": None}


@router.post("/fragments", response_model=m.Fragment, status_code=201)
async def create_fragment(body: s.FragmentIn, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.fragments.create, body.organization_id, body.name, body.config, body.visibility)


@router.get("/fragments/{fragment_id}", response_model=m.Fragment)
async def get_fragment(fragment_id: str, fleet: FleetDep, caller: Caller) -> object:
    """Public and unlisted fragments are readable by anyone signed in."""
    return await caller(fleet.fragments.get, fragment_id)


@router.patch("/fragments/{fragment_id}", response_model=m.Fragment)
async def update_fragment(fragment_id: str, body: s.FragmentPatch, fleet: FleetDep, caller: Caller) -> object:
    """Changes the name, config or visibility; the fragment as it was goes into its history."""

    def update(p: Principal) -> Fragment:
        name = body.name if body.name is not None else fleet.fragments.get(p, fragment_id).name
        return fleet.fragments.update(
            p, fragment_id, name=name, config=body.config, visibility=body.visibility
        )

    return await caller(update)


@router.delete("/fragments/{fragment_id}", status_code=204, response_model=None)
async def delete_fragment(fragment_id: str, fleet: FleetDep, caller: Caller) -> None:
    """Refused (409) while a machine part's config uses the fragment."""
    await caller(fleet.fragments.delete, fragment_id)


@router.get("/fragments/{fragment_id}/history", response_model=m.Page[m.FragmentRevision])
async def fragment_history(fragment_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    """Newest edit first; each entry holds the fragment as it was before that edit."""
    return await caller(fleet.fragments.history, fragment_id, paging)
