"""Registry items and modules, with module file uploads."""

from __future__ import annotations

from typing import Any

from grpclib.server import Stream
from viam.proto import app as pb

from fleetport.core import errors
from fleetport.core.calls import Call
from fleetport.dialects.viam import convert as cv
from fleetport.dialects.viam.rpc import Area, bearer, errors_as_status, required, unary


class RegistryRpcs(Area):
    @unary
    async def GetRegistryItem(self, call: Call, req: pb.GetRegistryItemRequest) -> pb.GetRegistryItemResponse:
        item = await call(self.fleet.registry.get_item, required(req.item_id, "item_id"))
        return pb.GetRegistryItemResponse(item=cv.registry_item(item))

    @unary
    async def CreateRegistryItem(
        self, call: Call, req: pb.CreateRegistryItemRequest
    ) -> pb.CreateRegistryItemResponse:
        await call(
            self.fleet.registry.create_item,
            required(req.organization_id, "organization_id"),
            req.name,
            cv.package_type(req.type),
        )
        return pb.CreateRegistryItemResponse()

    @unary
    async def UpdateRegistryItem(
        self, call: Call, req: pb.UpdateRegistryItemRequest
    ) -> pb.UpdateRegistryItemResponse:
        await call(
            self.fleet.registry.update_item,
            required(req.item_id, "item_id"),
            type=cv.package_type(req.type),
            description=req.description,
            visibility=cv.visibility(req.visibility),
        )
        return pb.UpdateRegistryItemResponse()

    @unary
    async def ListRegistryItems(
        self, call: Call, req: pb.ListRegistryItemsRequest
    ) -> pb.ListRegistryItemsResponse:
        types = [cv.package_type(t) for t in req.types if t]
        visibilities = [cv.visibility(v) for v in req.visibilities if v]
        platforms = [platform for platform in req.platforms if platform]
        statuses = [cv.STATUS[s] for s in req.statuses if s in cv.STATUS]

        # Viam's answer has no next page: every match from the given page on
        items = await call(
            self.fleet.registry.list_all_items,
            req.organization_id or None,
            types=types,
            visibilities=visibilities,
            platforms=platforms,
            statuses=statuses,
            search_term=req.search_term,
            cursor=req.page_token or None,
        )
        return pb.ListRegistryItemsResponse(items=[cv.registry_item(i) for i in items])

    @unary
    async def DeleteRegistryItem(
        self, call: Call, req: pb.DeleteRegistryItemRequest
    ) -> pb.DeleteRegistryItemResponse:
        await call(self.fleet.registry.delete_item, required(req.item_id, "item_id"))
        return pb.DeleteRegistryItemResponse()

    @unary
    async def CreateModule(self, call: Call, req: pb.CreateModuleRequest) -> pb.CreateModuleResponse:
        module_id, url = await call(
            self.fleet.registry.create_module, required(req.organization_id, "organization_id"), req.name
        )
        return pb.CreateModuleResponse(module_id=module_id, url=url)

    @unary
    async def UpdateModule(self, call: Call, req: pb.UpdateModuleRequest) -> pb.UpdateModuleResponse:
        url = await call(
            self.fleet.registry.update_module,
            required(req.module_id, "module_id"),
            url=req.url,
            description=req.description,
            models=[{"api": m.api, "model": m.model} for m in req.models],
            entrypoint=req.entrypoint,
            visibility=cv.visibility(req.visibility),
        )
        return pb.UpdateModuleResponse(url=url)

    async def UploadModuleFile(self, stream: Stream[Any, Any]) -> None:
        """Client stream: the file's description first, then its content (in one or more messages)."""
        async with errors_as_status():
            call = Call(self.fleet, bearer(stream))
            first = await stream.recv_message()
            if first is None or not first.HasField("module_file_info"):
                raise errors.Invalid("the first message must carry module_file_info")
            info = first.module_file_info
            module_id = required(info.module_id, "module_file_info.module_id")
            await call(
                self.fleet.registry.check_upload, module_id, version=info.version, platform=info.platform
            )
            chunks = [first.file] if first.file else []
            async for message in stream:
                chunks.append(message.file)
            url = await call(
                self.fleet.registry.upload_module_file,
                module_id,
                version=info.version,
                platform=info.platform,
                content=b"".join(chunks),
            )
        await stream.send_message(pb.UploadModuleFileResponse(url=url))

    @unary
    async def GetModule(self, call: Call, req: pb.GetModuleRequest) -> pb.GetModuleResponse:
        module = await call(self.fleet.registry.get_module, required(req.module_id, "module_id"))
        return pb.GetModuleResponse(module=cv.module(module))

    @unary
    async def ListModules(self, call: Call, req: pb.ListModulesRequest) -> pb.ListModulesResponse:
        modules = await call(self.fleet.registry.list_modules, req.organization_id or None)
        return pb.ListModulesResponse(modules=[cv.module(m) for m in modules])
