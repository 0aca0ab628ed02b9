"""The native API's operations, written once. Under ``Client`` each method returns its result;
under ``AsyncClient`` the same method returns an awaitable, and listings an async iterator."""

from __future__ import annotations

import builtins
import dataclasses
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, BinaryIO, Generic, Literal
from urllib.parse import quote

from pydantic import BeforeValidator

from fleetport.client import models as m
from fleetport.client.ci import CiJobs, CiProjects
from fleetport.client.errors import InvalidArgument
from fleetport.client.operations import Mode, Resource, call, listing, stream
from fleetport.client.remote import Deployments, Instances, Reservations
from fleetport.client.transport import EventStream

GrantLike = m.Grant | Mapping[str, str]


def _grants(grants: Iterable[GrantLike]) -> builtins.list[dict[str, str]]:
    out = []
    for g in grants:
        d = g.model_dump() if isinstance(g, m.Grant) else dict(g)
        out.append({"role": d["role"], "resource_type": d["resource_type"], "resource_id": d["resource_id"]})
    return out


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class Users(Resource[Mode]):
    @listing
    def list(self, *, limit: int | None = None) -> Iterator[m.User]:
        return self._t.pages("/users", m.User, {"limit": limit})

    @call
    def create(
        self, email: str, password: str | None = None, *, name: str = "", is_admin: bool = False
    ) -> m.User:
        body = {"email": email, "name": name, "password": password, "is_admin": is_admin}
        return self._t.call("POST", "/users", m.User, json=body)

    @call
    def get(self, user_id: str = "me") -> m.User:
        return self._t.call("GET", f"/users/{user_id}", m.User)

    @call
    def delete(self, user_id: str) -> None:
        return self._t.call("DELETE", f"/users/{user_id}")

    @call
    def set_password(self, user_id: str, password: str) -> None:
        return self._t.call("PUT", f"/users/{user_id}/password", json={"password": password})


class Organizations(Resource[Mode]):
    @listing
    def list(self, *, limit: int | None = None) -> Iterator[m.Organization]:
        return self._t.pages("/organizations", m.Organization, {"limit": limit})

    @call
    def create(
        self,
        name: str,
        *,
        public_namespace: str | None = None,
        region: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> m.Organization:
        body = _given(name=name, public_namespace=public_namespace, region=region, metadata=metadata)
        return self._t.call("POST", "/organizations", m.Organization, json=body)

    @call
    def get(self, org_id: str) -> m.Organization:
        return self._t.call("GET", f"/organizations/{org_id}", m.Organization)

    @call
    def update(
        self,
        org_id: str,
        *,
        name: str | None = None,
        public_namespace: str | None = None,
        region: str | None = None,
        cid: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> m.Organization:
        body = _given(name=name, public_namespace=public_namespace, region=region, cid=cid, metadata=metadata)
        return self._t.call("PATCH", f"/organizations/{org_id}", m.Organization, json=body)

    @call
    def delete(self, org_id: str) -> None:
        return self._t.call("DELETE", f"/organizations/{org_id}")

    @listing
    def members(self, org_id: str) -> Iterator[m.Member]:
        return self._t.pages(f"/organizations/{org_id}/members", m.Member)

    @call
    def remove_member(self, org_id: str, user_id: str) -> None:
        return self._t.call("DELETE", f"/organizations/{org_id}/members/{user_id}")

    @listing
    def invites(self, org_id: str) -> Iterator[m.Invite]:
        return self._t.pages(f"/organizations/{org_id}/invites", m.Invite)

    @call
    def invite(self, org_id: str, email: str, authorizations: Iterable[GrantLike]) -> m.Invite:
        body = {"email": email, "authorizations": _grants(authorizations)}
        return self._t.call("POST", f"/organizations/{org_id}/invites", m.Invite, json=body)

    @call
    def update_invite(
        self, org_id: str, invite_id: str, *, add: Iterable[GrantLike] = (), remove: Iterable[GrantLike] = ()
    ) -> m.Invite:
        body = {"add": _grants(add), "remove": _grants(remove)}
        return self._t.call("PATCH", f"/organizations/{org_id}/invites/{invite_id}", m.Invite, json=body)

    @call
    def resend_invite(self, org_id: str, invite_id: str) -> m.Invite:
        return self._t.call("POST", f"/organizations/{org_id}/invites/{invite_id}/resend", m.Invite)

    @call
    def delete_invite(self, org_id: str, invite_id: str) -> None:
        return self._t.call("DELETE", f"/organizations/{org_id}/invites/{invite_id}")

    @call
    def accept_invite(self, invite_id: str) -> builtins.list[m.Authorization]:
        return self._t.call("POST", f"/invites/{invite_id}/accept", builtins.list[m.Authorization])


class Authorizations(Resource[Mode]):
    @listing
    def list(self, org_id: str) -> Iterator[m.Authorization]:
        return self._t.pages(f"/organizations/{org_id}/authorizations", m.Authorization)

    @call
    def add(
        self,
        org_id: str,
        *,
        subject_type: str,
        subject_id: str,
        role: str,
        resource_type: str,
        resource_id: str,
    ) -> m.Authorization:
        body = {
            "subject_type": subject_type,
            "subject_id": subject_id,
            "role": role,
            "resource_type": resource_type,
            "resource_id": resource_id,
        }
        return self._t.call("POST", f"/organizations/{org_id}/authorizations", m.Authorization, json=body)

    @call
    def remove(self, org_id: str, authorization_id: str) -> None:
        return self._t.call("DELETE", f"/organizations/{org_id}/authorizations/{authorization_id}")

    @call
    def check(self, resource_type: str, resource_id: str, permissions: Iterable[str]) -> m.PermissionCheck:
        body = {"resource_type": resource_type, "resource_id": resource_id, "permissions": list(permissions)}
        return self._t.call("POST", "/permissions/check", m.PermissionCheck, json=body)


class Keys(Resource[Mode]):
    @listing
    def list(self, org_id: str) -> Iterator[m.ApiKey]:
        return self._t.pages(f"/organizations/{org_id}/keys", m.ApiKey)

    @call
    def create(self, org_id: str, name: str, authorizations: Iterable[GrantLike]) -> m.ApiKey:
        """The returned key's ``secret`` is shown only here."""
        body = {"name": name, "authorizations": _grants(authorizations)}
        return self._t.call("POST", f"/organizations/{org_id}/keys", m.ApiKey, json=body)

    @call
    def get(self, key_id: str) -> m.ApiKey:
        return self._t.call("GET", f"/keys/{key_id}", m.ApiKey)

    @call
    def delete(self, key_id: str) -> None:
        return self._t.call("DELETE", f"/keys/{key_id}")

    @call
    def rotate(self, key_id: str) -> m.ApiKey:
        return self._t.call("POST", f"/keys/{key_id}/rotate", m.ApiKey)

    @call
    def clone(self, key_id: str, name: str | None = None) -> m.ApiKey:
        return self._t.call("POST", f"/keys/{key_id}/clone", m.ApiKey, json=_given(name=name))


class Locations(Resource[Mode]):
    @listing
    def list(self, *, organization_id: str | None = None, limit: int | None = None) -> Iterator[m.Location]:
        return self._t.pages("/locations", m.Location, {"organization_id": organization_id, "limit": limit})

    @call
    def create(
        self,
        organization_id: str,
        name: str,
        *,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> m.Location:
        body = _given(organization_id=organization_id, name=name, parent_id=parent_id, metadata=metadata)
        return self._t.call("POST", "/locations", m.Location, json=body)

    @call
    def get(self, location_id: str) -> m.Location:
        return self._t.call("GET", f"/locations/{location_id}", m.Location)

    @call
    def update(
        self,
        location_id: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> m.Location:
        """``parent_id=""`` makes the location top-level."""
        body = _given(name=name, parent_id=parent_id, metadata=metadata)
        return self._t.call("PATCH", f"/locations/{location_id}", m.Location, json=body)

    @call
    def delete(self, location_id: str) -> None:
        return self._t.call("DELETE", f"/locations/{location_id}")

    @call
    def share(self, location_id: str, organization_id: str) -> None:
        return self._t.call(
            "POST", f"/locations/{location_id}/shares", json={"organization_id": organization_id}
        )

    @call
    def unshare(self, location_id: str, organization_id: str) -> None:
        return self._t.call("DELETE", f"/locations/{location_id}/shares/{organization_id}")

    @call
    def secrets(self, location_id: str) -> builtins.list[m.Secret]:
        return self._t.call("GET", f"/locations/{location_id}/secrets", builtins.list[m.Secret])

    @call
    def create_secret(self, location_id: str) -> m.Secret:
        return self._t.call("POST", f"/locations/{location_id}/secrets", m.Secret)

    @call
    def delete_secret(self, location_id: str, secret_id: str) -> None:
        return self._t.call("DELETE", f"/locations/{location_id}/secrets/{secret_id}")


class Machines(Resource[Mode]):
    @listing
    def list(
        self,
        *,
        location_id: str | None = None,
        organization_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[m.Machine]:
        params = {"location_id": location_id, "organization_id": organization_id, "limit": limit}
        return self._t.pages("/machines", m.Machine, params)

    @call
    def create(self, location_id: str, name: str, *, metadata: dict[str, Any] | None = None) -> m.Machine:
        body = _given(location_id=location_id, name=name, metadata=metadata)
        return self._t.call("POST", "/machines", m.Machine, json=body)

    @call
    def get(self, machine_id: str) -> m.Machine:
        return self._t.call("GET", f"/machines/{machine_id}", m.Machine)

    @call
    def update(
        self,
        machine_id: str,
        *,
        name: str | None = None,
        location_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> m.Machine:
        body = _given(name=name, location_id=location_id, metadata=metadata)
        return self._t.call("PATCH", f"/machines/{machine_id}", m.Machine, json=body)

    @call
    def delete(self, machine_id: str) -> None:
        return self._t.call("DELETE", f"/machines/{machine_id}")

    @listing
    def parts(self, machine_id: str, *, limit: int | None = None) -> Iterator[m.Part]:
        """The machine's parts, oldest first, fetched ``limit`` at a time."""
        return self._t.pages(f"/machines/{machine_id}/parts", m.Part, {"limit": limit})


class Parts(Resource[Mode]):
    @call
    def create(self, machine_id: str, name: str) -> m.Part:
        return self._t.call("POST", f"/machines/{machine_id}/parts", m.Part, json={"name": name})

    @call
    def get(self, part_id: str) -> m.Part:
        return self._t.call("GET", f"/parts/{part_id}", m.Part)

    @call
    def update(
        self,
        part_id: str,
        *,
        name: str | None = None,
        main_part: bool | None = None,
        metadata: dict[str, Any] | None = None,
        restart_required: bool | None = None,
    ) -> m.Part:
        body = _given(name=name, main_part=main_part, metadata=metadata, restart_required=restart_required)
        return self._t.call("PATCH", f"/parts/{part_id}", m.Part, json=body)

    @call
    def delete(self, part_id: str) -> None:
        return self._t.call("DELETE", f"/parts/{part_id}")

    @call
    def restart(self, part_id: str) -> m.Part:
        return self._t.call("POST", f"/parts/{part_id}/restart", m.Part)

    @call
    def get_config(self, part_id: str) -> m.PartConfig:
        return self._t.call("GET", f"/parts/{part_id}/config", m.PartConfig)

    @call
    def set_config(self, part_id: str, config: dict[str, Any]) -> m.Part:
        return self._t.call("PUT", f"/parts/{part_id}/config", m.Part, json={"config": config})

    @listing
    def config_history(self, part_id: str, *, limit: int | None = None) -> Iterator[m.ConfigRevision]:
        """Newest first; each entry is the config as it was before that edit."""
        return self._t.pages(f"/parts/{part_id}/config/history", m.ConfigRevision, {"limit": limit})

    @call
    def secrets(self, part_id: str) -> builtins.list[m.Secret]:
        return self._t.call("GET", f"/parts/{part_id}/secrets", builtins.list[m.Secret])

    @call
    def create_secret(self, part_id: str) -> m.Secret:
        return self._t.call("POST", f"/parts/{part_id}/secrets", m.Secret)

    @call
    def delete_secret(self, part_id: str, secret_id: str) -> None:
        return self._t.call("DELETE", f"/parts/{part_id}/secrets/{secret_id}")

    @call
    def agent_config(self, part_id: str) -> m.AgentConfig:
        """The server's address, the part's id and a secret: what ``fleetport agent --config`` reads."""
        return self._t.call("GET", f"/parts/{part_id}/agent-config", m.AgentConfig)


LogEntryLike = m.LogEntry | Mapping[str, Any]
# The answer of an append, {"count": n}, read as n.
_COUNT = Annotated[int, BeforeValidator(lambda body: body.get("count") if isinstance(body, dict) else body)]


def _log_entry(entry: Any) -> dict[str, Any]:
    """An entry as the API takes it, from a mapping, a LogEntry or any dataclass with its fields."""
    if isinstance(entry, m.LogEntry):
        return entry.model_dump(mode="json", exclude={"id", "part_id"})
    if dataclasses.is_dataclass(entry) and not isinstance(entry, type):
        fields = dataclasses.asdict(entry)
    else:
        fields = dict(entry)
    return {
        k: v.isoformat() if isinstance(v, datetime) else v
        for k, v in fields.items()
        if k not in ("id", "part_id")  # a stored entry's; the server gives new ones
    }


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class Logs(Resource[Mode]):
    """A part's log: append batches, list with filters, tail live."""

    @call
    def append(self, part_id: str, entries: Iterable[LogEntryLike]) -> int:
        """Appends a batch, all or none; returns how many entries were stored. Each entry needs
        ``level`` and ``message``; optional ``time`` (a datetime or ISO 8601, naive is UTC; left
        out or None: when the server receives the batch), ``logger_name``, ``host``, ``caller``,
        ``stack``, ``fields``."""
        body = {"entries": [_log_entry(e) for e in entries]}
        return self._t.call("POST", f"/parts/{part_id}/logs", _COUNT, json=body)

    @listing
    def list(
        self,
        part_id: str,
        *,
        filter: str = "",
        levels: Iterable[str] | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        order: str = "desc",
        limit: int | None = None,
    ) -> Iterator[m.LogEntry]:
        """Every matching entry, newest first (``order="asc"``: oldest first), fetched ``limit``
        at a time; stop iterating when you have enough. ``filter`` is case-insensitive text in
        the message or logger name; ``start`` is inclusive, ``end`` exclusive."""
        params: dict[str, Any] = {
            "filter": filter or None,
            "levels": None if levels is None else builtins.list(levels),
            "start": _iso(start),
            "end": _iso(end),
            "order": order,
            "limit": limit,
        }
        return self._t.pages(f"/parts/{part_id}/logs", m.LogEntry, params)

    @stream
    def tail(
        self, part_id: str, errors_only: bool = False, filter: str = ""
    ) -> EventStream[builtins.list[m.LogEntry]]:
        """Entries appended from now on, in batches as they arrive (``AsyncClient``: awaited, then
        ``async for``). The stream is open when this returns; close it (or use ``with``) to stop.
        ``errors_only`` keeps error, dpanic, panic and fatal entries."""
        params = {"errors_only": "true" if errors_only else None, "filter": filter or None}
        return self._t.stream(f"/parts/{part_id}/logs/tail", builtins.list[m.LogEntry], params)


def _ref(item_id: str) -> str:
    """A registry item or module id (``namespace:name``) as a path segment."""
    return quote(item_id, safe=":@")


def _file_path(module_id: str, version: str, platform: str) -> str:
    return f"/modules/{_ref(module_id)}/versions/{quote(version, safe='+')}/files/{quote(platform, safe='/')}"


def _chunks(file: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := file.read(size):
        yield chunk


class Fragments(Resource[Mode]):
    @listing
    def list(
        self,
        organization_id: str,
        *,
        show_public: bool = True,
        visibilities: Iterable[str] | None = None,
    ) -> Iterator[m.Fragment]:
        """The organization's fragments and, with ``show_public``, every organization's public ones."""
        params: dict[str, Any] = {
            "organization_id": organization_id,
            "show_public": str(show_public).lower(),
            "visibility": None if visibilities is None else builtins.list(visibilities),
        }
        return self._t.pages("/fragments", m.Fragment, params)

    @call
    def create(
        self,
        organization_id: str,
        name: str,
        *,
        config: dict[str, Any] | None = None,
        visibility: str = "private",
    ) -> m.Fragment:
        body = _given(organization_id=organization_id, name=name, config=config, visibility=visibility)
        return self._t.call("POST", "/fragments", m.Fragment, json=body)

    @call
    def get(self, fragment_id: str) -> m.Fragment:
        return self._t.call("GET", f"/fragments/{fragment_id}", m.Fragment)

    @call
    def update(
        self,
        fragment_id: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        visibility: str | None = None,
    ) -> m.Fragment:
        """The fragment as it was goes into its history."""
        body = _given(name=name, config=config, visibility=visibility)
        return self._t.call("PATCH", f"/fragments/{fragment_id}", m.Fragment, json=body)

    @call
    def delete(self, fragment_id: str) -> None:
        """Refused while a machine part's config uses the fragment."""
        return self._t.call("DELETE", f"/fragments/{fragment_id}")

    @listing
    def history(self, fragment_id: str, *, limit: int | None = None) -> Iterator[m.FragmentRevision]:
        """Newest first; each entry is the fragment as it was before that edit."""
        return self._t.pages(f"/fragments/{fragment_id}/history", m.FragmentRevision, {"limit": limit})


class Registry(Resource[Mode]):
    """Registry items: modules, ML models, training scripts, ... Item ids are ``namespace:name``
    (or ``organization-id:name``)."""

    @listing
    def list(
        self,
        organization_id: str | None = None,
        *,
        types: Iterable[str] = (),
        visibilities: Iterable[str] = (),
        platforms: Iterable[str] = (),
        statuses: Iterable[str] = (),
        search: str | None = None,
        limit: int | None = None,
    ) -> Iterator[m.RegistryItem]:
        params: dict[str, Any] = {
            "organization_id": organization_id,
            "type": builtins.list(types) or None,
            "visibility": builtins.list(visibilities) or None,
            "platform": builtins.list(platforms) or None,
            "status": builtins.list(statuses) or None,
            "search": search or None,
            "limit": limit,
        }
        return self._t.pages("/registry/items", m.RegistryItem, params)

    @call
    def create(self, organization_id: str, name: str, type: str) -> m.RegistryItem:
        body = {"organization_id": organization_id, "name": name, "type": type}
        return self._t.call("POST", "/registry/items", m.RegistryItem, json=body)

    @call
    def get(self, item_id: str) -> m.RegistryItem:
        return self._t.call("GET", f"/registry/items/{_ref(item_id)}", m.RegistryItem)

    @call
    def update(
        self,
        item_id: str,
        *,
        type: str | None = None,
        description: str | None = None,
        visibility: str | None = None,
    ) -> m.RegistryItem:
        body = _given(type=type, description=description, visibility=visibility)
        return self._t.call("PATCH", f"/registry/items/{_ref(item_id)}", m.RegistryItem, json=body)

    @call
    def delete(self, item_id: str) -> None:
        return self._t.call("DELETE", f"/registry/items/{_ref(item_id)}")

    @call
    def deprecate(self, item_id: str, message: str = "") -> m.RegistryItem:
        path = f"/registry/items/{_ref(item_id)}/deprecation"
        return self._t.call("PUT", path, m.RegistryItem, json={"message": message})

    @call
    def undeprecate(self, item_id: str) -> m.RegistryItem:
        return self._t.call("DELETE", f"/registry/items/{_ref(item_id)}/deprecation", m.RegistryItem)

    @call
    def deprecate_version(self, item_id: str, version: str, message: str = "") -> m.RegistryItem:
        path = f"/registry/items/{_ref(item_id)}/versions/{quote(version, safe='+')}/deprecation"
        return self._t.call("PUT", path, m.RegistryItem, json={"message": message})

    @call
    def undeprecate_version(self, item_id: str, version: str) -> m.RegistryItem:
        path = f"/registry/items/{_ref(item_id)}/versions/{quote(version, safe='+')}/deprecation"
        return self._t.call("DELETE", path, m.RegistryItem)


class Modules(Resource[Mode]):
    """Modules (registry items of type module) and their files, one per version and platform."""

    @listing
    def list(self, organization_id: str | None = None) -> Iterator[m.RegistryItem]:
        return self._t.pages("/modules", m.RegistryItem, {"organization_id": organization_id})

    @call
    def create(self, organization_id: str, name: str) -> m.ModuleRef:
        body = {"organization_id": organization_id, "name": name}
        return self._t.call("POST", "/modules", m.ModuleRef, json=body)

    @call
    def get(self, module_id: str) -> m.RegistryItem:
        return self._t.call("GET", f"/modules/{_ref(module_id)}", m.RegistryItem)

    @call
    def update(
        self,
        module_id: str,
        *,
        url: str | None = None,
        description: str | None = None,
        models: builtins.list[dict[str, Any]] | None = None,
        entrypoint: str | None = None,
        visibility: str | None = None,
    ) -> m.ModuleRef:
        body = _given(
            url=url, description=description, models=models, entrypoint=entrypoint, visibility=visibility
        )
        return self._t.call("PATCH", f"/modules/{_ref(module_id)}", m.ModuleRef, json=body)

    @call
    def delete(self, module_id: str) -> None:
        return self._t.call("DELETE", f"/registry/items/{_ref(module_id)}")

    @call
    def upload(
        self,
        module_id: str,
        version: str,
        platform: str,
        content: bytes | BinaryIO | Iterable[bytes],
        *,
        size: int | None = None,
    ) -> m.ModuleUpload:
        """Uploads one version's file for a platform (``linux/amd64``, ``any``, ...): bytes, a file
        opened in binary mode (sent in chunks), or chunks (then give ``size`` if known)."""
        body: bytes | Iterable[bytes]
        if isinstance(content, bytes | bytearray | memoryview):
            body, size = bytes(content), len(content)
        elif hasattr(content, "read"):
            file: Any = content
            if size is None:
                try:
                    size = os.fstat(file.fileno()).st_size - file.tell()
                except (OSError, AttributeError, ValueError):
                    size = None
            body = _chunks(file)
        else:
            body = content
        return self._t.upload(
            "PUT", _file_path(module_id, version, platform), m.ModuleUpload, body, size=size
        )

    @call
    def download(
        self, module_id: str, version: str, platform: str, file: BinaryIO, *, progress: Any = None
    ) -> int:
        """Writes the file's content into ``file`` (opened for binary writing); returns its size.
        ``progress(bytes_so_far, total_or_None)`` is called after each chunk."""
        return self._t.download(_file_path(module_id, version, platform), file, progress)


class Telemetry(Resource[Mode]):
    """The telemetry clients' keys (CIKs), for One Platform clients."""

    @call
    def root_client(self, org_id: str) -> m.TelemetryClient:
        """The organization's root client; its ``cik`` only for holders of update_organization."""
        return self._t.call("GET", f"/organizations/{org_id}/telemetry/root-client", m.TelemetryClient)

    @call
    def device_client(self, machine_id: str) -> m.TelemetryClient:
        """The machine's device client; its ``cik`` only for holders of update_robot."""
        return self._t.call("GET", f"/machines/{machine_id}/telemetry/device-client", m.TelemetryClient)


PointLike = m.Point | Mapping[str, Any] | tuple[Any, Any]
Unlimited = Literal["unlimited"]


Moment = int | datetime | str


def unix_seconds(value: Moment) -> int:
    """Unix seconds, from an int, a datetime or a string: an integer, or an ISO 8601 time such as
    ``2025-06-01T12:00:00Z`` (naive datetimes and times without a zone are UTC)."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidArgument(
                f"{value!r} is neither Unix seconds nor an ISO 8601 time", code="invalid_argument"
            ) from None
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    return value


def _seconds(value: Moment | None) -> int | None:
    return None if value is None else unix_seconds(value)


def _point(point: Any) -> dict[str, Any]:
    """A point as the API takes it: ``{"value"}`` or ``{"timestamp", "value"}``."""
    if isinstance(point, m.Point):
        return {"timestamp": point.timestamp, "value": point.value}
    if isinstance(point, Mapping):
        out = dict(point)
    else:
        timestamp, value = point
        out = {"timestamp": timestamp, "value": value}
    if out.get("timestamp") is None:
        out.pop("timestamp", None)
    else:
        out["timestamp"] = _seconds(out["timestamp"])
    return out


class Dataports(Resource[Mode]):
    """A machine's dataports (time series of its device client) and their points. A dataport is
    named by its alias or its RID; timestamps are Unix seconds, datetimes or ISO 8601 strings
    (naive, or without a zone: UTC)."""

    def _path(self, machine_id: str, alias: str) -> str:
        return f"/machines/{machine_id}/dataports/{quote(alias, safe='')}"

    @listing
    def list(self, machine_id: str, *, limit: int | None = None) -> Iterator[m.Dataport]:
        return self._t.pages(f"/machines/{machine_id}/dataports", m.Dataport, {"limit": limit})

    @call
    def create(
        self,
        machine_id: str,
        alias: str,
        format: str = "float",
        *,
        name: str = "",
        retention_count: int | None = None,
        retention_seconds: int | None = None,
    ) -> m.Dataport:
        """``format``: float, integer, string or binary. A retention of None: no limit."""
        body = _given(
            alias=alias,
            format=format,
            name=name,
            retention_count=retention_count,
            retention_seconds=retention_seconds,
        )
        return self._t.call("POST", f"/machines/{machine_id}/dataports", m.Dataport, json=body)

    @call
    def get(self, machine_id: str, alias: str) -> m.Dataport:
        return self._t.call("GET", self._path(machine_id, alias), m.Dataport)

    @call
    def update(
        self,
        machine_id: str,
        alias: str,
        *,
        name: str | None = None,
        retention_count: int | Unlimited | None = None,
        retention_seconds: int | Unlimited | None = None,
    ) -> m.Dataport:
        """None leaves a field as it is; ``"unlimited"`` lifts a retention limit."""
        body: dict[str, Any] = _given(name=name)
        for field, value in (("retention_count", retention_count), ("retention_seconds", retention_seconds)):
            if value is not None:
                body[field] = None if value == "unlimited" else value
        return self._t.call("PATCH", self._path(machine_id, alias), m.Dataport, json=body)

    @call
    def delete(self, machine_id: str, alias: str) -> None:
        return self._t.call("DELETE", self._path(machine_id, alias))

    @call
    def write(self, machine_id: str, alias: str, points: Iterable[PointLike]) -> m.PointsWritten:
        """Stores a batch of at most 10,000 points: ``{"timestamp": ..., "value": ...}`` mappings
        (no timestamp: now), ``(timestamp, value)`` pairs or Points. Values that do not fit the
        dataport's format are left out and listed in the answer's ``failures``."""
        body = {"points": [_point(p) for p in points]}
        return self._t.call("POST", self._path(machine_id, alias) + "/points", m.PointsWritten, json=body)

    @call
    def read(
        self,
        machine_id: str,
        alias: str,
        *,
        start: Moment | None = None,
        end: Moment | None = None,
        limit: int | None = None,
        order: str = "desc",
        selection: str = "all",
    ) -> builtins.list[m.Point]:
        """Points with ``start <= timestamp <= end`` (end: now), newest first unless
        ``order="asc"``, at most ``limit`` (the server's default: 100). ``selection``:
        ``givenwindow`` (the newest point of each of ``limit`` equal slices of the window) or
        ``autowindow`` (``limit`` points spread evenly)."""
        params = {
            "start": _seconds(start),
            "end": _seconds(end),
            "limit": limit,
            "order": order,
            "selection": selection,
        }
        return self._t.call(
            "GET", self._path(machine_id, alias) + "/points", builtins.list[m.Point], params=params
        )


class Api(Generic[Mode]):
    """The resource groups, bound to one transport."""

    def __init__(self, transport: Any) -> None:
        self._t = transport
        self.users: Users[Mode] = Users(transport)
        self.organizations: Organizations[Mode] = Organizations(transport)
        self.authorizations: Authorizations[Mode] = Authorizations(transport)
        self.keys: Keys[Mode] = Keys(transport)
        self.locations: Locations[Mode] = Locations(transport)
        self.machines: Machines[Mode] = Machines(transport)
        self.parts: Parts[Mode] = Parts(transport)
        self.logs: Logs[Mode] = Logs(transport)
        self.fragments: Fragments[Mode] = Fragments(transport)
        self.registry: Registry[Mode] = Registry(transport)
        self.modules: Modules[Mode] = Modules(transport)
        self.telemetry: Telemetry[Mode] = Telemetry(transport)
        self.dataports: Dataports[Mode] = Dataports(transport)
        self.deployments: Deployments[Mode] = Deployments(transport)
        self.instances: Instances[Mode] = Instances(transport)
        self.reservations: Reservations[Mode] = Reservations(transport)
        self.ci_projects: CiProjects[Mode] = CiProjects(transport)
        self.ci_jobs: CiJobs[Mode] = CiJobs(transport)
