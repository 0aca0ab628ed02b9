"""The registry (modules, ML models, ...) and module files.

Item and module ids contain a colon (``namespace:name``) and platforms a slash (``linux/amd64``):
both go into paths as they are. A module file is uploaded as the raw request body and may be as
large as ``max_upload_bytes``, not the general body limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.api.routing import api_router
from fleetport.client import models as m
from fleetport.core.errors import TooLarge
from fleetport.core.permissions import Principal
from fleetport.core.registry import RegistryItem
from fleetport.edge import BodyLimit, BodyTooLarge
from fleetport.settings import Settings

router = api_router()
items = api_router(tags=["registry"])
modules = api_router(tags=["modules"])
FILE_PATH = "/modules/{module_id}/versions/{version}/files/{platform:path}"
_CHUNK = 1 << 20


def body_limits(settings: Settings) -> list[BodyLimit]:
    """Module file uploads may be as large as ``max_upload_bytes``."""
    upload = re.compile(r"^/api/v1/modules/[^/]+/versions/[^/]+/files/.+$")
    return [BodyLimit("PUT", upload, settings.max_upload_bytes)]


# --- items --------------------------------------------------------------------------------------


@items.get("/registry/items", response_model=m.Page[m.RegistryItem])
async def list_items(
    fleet: FleetDep,
    caller: Caller,
    paging: PagingDep,
    organization_id: str | None = Query(
        None, max_length=64, description="This organization's items (and public ones)"
    ),
    type: list[s.ItemType] | None = Query(None, description="Any of these types"),
    visibility: list[s.Visibility] | None = Query(None, description="Any of these visibilities"),
    platform: list[str] | None = Query(None, description="Items with a module file for any of these"),
    status: list[str] | None = Query(None, description="in_development or published"),
    search: str = Query("", max_length=200, description="In the name or description, ignoring case"),
) -> object:
    """Items of the organization (without one: of every organization you read) and public items
    of every organization. Each filter matches any of its values; filters combine."""
    return await caller(
        fleet.registry.list_items,
        organization_id,
        paging,
        types=type or (),
        visibilities=visibility or (),
        platforms=platform or (),
        statuses=status or (),
        search_term=search,
    )


@items.post("/registry/items", response_model=m.RegistryItem, status_code=201)
async def create_item(body: s.RegistryItemIn, fleet: FleetDep, caller: Caller) -> object:
    """A new private item; its name is unique in the organization."""
    return await caller(fleet.registry.create_item, body.organization_id, body.name, body.type)


@items.get("/registry/items/{item_id}", response_model=m.RegistryItem)
async def get_item(item_id: str, fleet: FleetDep, caller: Caller) -> object:
    """``item_id``: namespace:name, organization-id:name, or the item's UUID."""
    return await caller(fleet.registry.get_item, item_id)


@items.patch("/registry/items/{item_id}", response_model=m.RegistryItem)
async def update_item(item_id: str, body: s.RegistryItemPatch, fleet: FleetDep, caller: Caller) -> object:
    def update(p: Principal) -> RegistryItem:
        current = fleet.registry.get_item(p, item_id)
        return fleet.registry.update_item(
            p,
            item_id,
            type=current.type if body.type is None else body.type,
            description=current.description if body.description is None else body.description,
            visibility=current.visibility if body.visibility is None else body.visibility,
        )

    return await caller(update)


@items.delete("/registry/items/{item_id}", status_code=204, response_model=None)
async def delete_item(item_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.registry.delete_item, item_id)


@items.put("/registry/items/{item_id}/deprecation", response_model=m.RegistryItem)
async def deprecate_item(item_id: str, body: s.DeprecationIn, fleet: FleetDep, caller: Caller) -> object:
    """Marks the item deprecated, with a message for its users."""
    return await caller(fleet.registry.deprecate_item, item_id, body.message)


@items.delete("/registry/items/{item_id}/deprecation", response_model=m.RegistryItem)
async def undeprecate_item(item_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.registry.undeprecate_item, item_id)


@items.put("/registry/items/{item_id}/versions/{version}/deprecation", response_model=m.RegistryItem)
async def deprecate_version(
    item_id: str, version: str, body: s.DeprecationIn, fleet: FleetDep, caller: Caller
) -> object:
    return await caller(fleet.registry.deprecate_version, item_id, version, body.message)


@items.delete("/registry/items/{item_id}/versions/{version}/deprecation", response_model=m.RegistryItem)
async def undeprecate_version(item_id: str, version: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.registry.undeprecate_version, item_id, version)


# --- modules ------------------------------------------------------------------------------------


@modules.get("/modules", response_model=m.Page[m.RegistryItem])
async def list_modules(
    fleet: FleetDep,
    caller: Caller,
    organization_id: str | None = Query(
        None, max_length=64, description="This organization's modules (and public ones)"
    ),
) -> object:
    """Modules of the organization and public modules of every organization, all in one page."""
    return {"items": await caller(fleet.registry.list_modules, organization_id), "next_cursor": None}


@modules.post("/modules", response_model=m.ModuleRef, status_code=201)
async def create_module(body: s.ModuleIn, fleet: FleetDep, caller: Caller) -> object:
    module_id, url = await caller(fleet.registry.create_module, body.organization_id, body.name)
    return {"module_id": module_id, "url": url}


@modules.get("/modules/{module_id}", response_model=m.RegistryItem)
async def get_module(module_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.registry.get_module, module_id)


@modules.patch("/modules/{module_id}", response_model=m.ModuleRef)
async def update_module(module_id: str, body: s.ModulePatch, fleet: FleetDep, caller: Caller) -> object:
    """Sets the module's source URL, description, models, entrypoint or visibility."""

    def update(p: Principal) -> dict[str, Any]:
        current = fleet.registry.get_module(p, module_id)
        url = fleet.registry.update_module(
            p,
            module_id,
            url=current.url if body.url is None else body.url,
            description=current.description if body.description is None else body.description,
            models=current.models if body.models is None else body.models,
            entrypoint=current.entrypoint if body.entrypoint is None else body.entrypoint,
            visibility=current.visibility if body.visibility is None else body.visibility,
        )
        return {"module_id": current.id, "url": url}

    return await caller(update)


_BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
_RAW_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/octet-stream": _BINARY}}
}


@modules.put(FILE_PATH, response_model=m.ModuleUpload, openapi_extra=_RAW_BODY)
async def upload_module_file(
    module_id: str, version: str, platform: str, request: Request, fleet: FleetDep, caller: Caller
) -> object:
    """Uploads one version's file for one platform (``linux/amd64``, ``any``, ...) as the raw
    body, replacing an earlier upload of the same version and platform. The version is created if
    new and the module becomes published. Bodies up to ``max_upload_bytes`` are taken."""
    await caller(fleet.registry.check_upload, module_id, version=version, platform=platform)
    with fleet.blobs.writer() as blob:
        try:
            async for chunk in request.stream():
                blob.write(chunk)
        except BodyTooLarge:
            limit = fleet.settings.max_upload_bytes
            raise TooLarge(f"the file is larger than the upload limit of {limit} bytes") from None
        digest, size = await run_in_threadpool(blob.commit)
    url = await caller(
        fleet.registry.add_module_file, module_id, version=version, platform=platform, blob=digest, size=size
    )
    return {"version": version, "platform": platform, "size": size, "sha256": digest, "url": url}


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(_CHUNK):
            yield chunk


@modules.get(
    FILE_PATH,
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": _BINARY}}},
)
async def download_module_file(
    module_id: str, version: str, platform: str, fleet: FleetDep, caller: Caller
) -> StreamingResponse:
    """The file's content, streamed, with its Content-Length."""
    file, size = await caller(fleet.registry.open_module_file, module_id, version, platform)
    name = f"{module_id.rsplit(':', 1)[-1]}-{version}-{platform.replace('/', '-')}.tar.gz"
    headers = {
        "Content-Length": str(size),
        "Content-Disposition": f'attachment; filename="{re.sub(r"[^A-Za-z0-9._+-]", "_", name)}"',
    }
    return StreamingResponse(_chunks(file), media_type="application/octet-stream", headers=headers)


router.routes.extend([*items.routes, *modules.routes])
