"""The native API's operations, written once. Under ``Client`` each method returns its result;
under ``AsyncClient`` the same method returns an awaitable, and listings an async iterator."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fleetport.client import models as m

GrantLike = m.Grant | Mapping[str, str]


def _grants(grants: Iterable[GrantLike]) -> builtins.list[dict[str, str]]:
    out = []
    for g in grants:
        d = g.model_dump() if isinstance(g, m.Grant) else dict(g)
        out.append({"role": d["role"], "resource_type": d["resource_type"], "resource_id": d["resource_id"]})
    return out


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class Resource:
    def __init__(self, transport: Any) -> None:
        self._t = transport


class Users(Resource):
    def list(self, *, limit: int | None = None) -> Iterator[m.User]:
        return self._t.pages("/users", m.User, {"limit": limit})

    def create(
        self, email: str, password: str | None = None, *, name: str = "", is_admin: bool = False
    ) -> m.User:
        body = {"email": email, "name": name, "password": password, "is_admin": is_admin}
        return self._t.call("POST", "/users", m.User, json=body)

    def get(self, user_id: str = "me") -> m.User:
        return self._t.call("GET", f"/users/{user_id}", m.User)

    def delete(self, user_id: str) -> None:
        return self._t.call("DELETE", f"/users/{user_id}")

    def set_password(self, user_id: str, password: str) -> None:
        return self._t.call("PUT", f"/users/{user_id}/password", json={"password": password})


class Organizations(Resource):
    def list(self, *, limit: int | None = None) -> Iterator[m.Organization]:
        return self._t.pages("/organizations", m.Organization, {"limit": limit})

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

    def get(self, org_id: str) -> m.Organization:
        return self._t.call("GET", f"/organizations/{org_id}", m.Organization)

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

    def delete(self, org_id: str) -> None:
        return self._t.call("DELETE", f"/organizations/{org_id}")

    def members(self, org_id: str) -> Iterator[m.Member]:
        return self._t.pages(f"/organizations/{org_id}/members", m.Member)

    def remove_member(self, org_id: str, user_id: str) -> None:
        return self._t.call("DELETE", f"/organizations/{org_id}/members/{user_id}")

    def invites(self, org_id: str) -> Iterator[m.Invite]:
        return self._t.pages(f"/organizations/{org_id}/invites", m.Invite)

    def invite(self, org_id: str, email: str, authorizations: Iterable[GrantLike]) -> m.Invite:
        body = {"email": email, "authorizations": _grants(authorizations)}
        return self._t.call("POST", f"/organizations/{org_id}/invites", m.Invite, json=body)

    def update_invite(
        self, org_id: str, invite_id: str, *, add: Iterable[GrantLike] = (), remove: Iterable[GrantLike] = ()
    ) -> m.Invite:
        body = {"add": _grants(add), "remove": _grants(remove)}
        return self._t.call("PATCH", f"/organizations/{org_id}/invites/{invite_id}", m.Invite, json=body)

    def resend_invite(self, org_id: str, invite_id: str) -> m.Invite:
        return self._t.call("POST", f"/organizations/{org_id}/invites/{invite_id}/resend", m.Invite)

    def delete_invite(self, org_id: str, invite_id: str) -> None:
        return self._t.call("DELETE", f"/organizations/{org_id}/invites/{invite_id}")

    def accept_invite(self, invite_id: str) -> builtins.list[m.Authorization]:
        return self._t.call("POST", f"/invites/{invite_id}/accept", builtins.list[m.Authorization])


class Authorizations(Resource):
    def list(self, org_id: str) -> Iterator[m.Authorization]:
        return self._t.pages(f"/organizations/{org_id}/authorizations", m.Authorization)

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

    def remove(self, org_id: str, authorization_id: str) -> None:
        return self._t.call("DELETE", f"/organizations/{org_id}/authorizations/{authorization_id}")

    def check(self, resource_type: str, resource_id: str, permissions: Iterable[str]) -> m.PermissionCheck:
        body = {"resource_type": resource_type, "resource_id": resource_id, "permissions": list(permissions)}
        return self._t.call("POST", "/permissions/check", m.PermissionCheck, json=body)


class Keys(Resource):
    def list(self, org_id: str) -> Iterator[m.ApiKey]:
        return self._t.pages(f"/organizations/{org_id}/keys", m.ApiKey)

    def create(self, org_id: str, name: str, authorizations: Iterable[GrantLike]) -> m.ApiKey:
        """The returned key's ``secret`` is shown only here."""
        body = {"name": name, "authorizations": _grants(authorizations)}
        return self._t.call("POST", f"/organizations/{org_id}/keys", m.ApiKey, json=body)

    def get(self, key_id: str) -> m.ApiKey:
        return self._t.call("GET", f"/keys/{key_id}", m.ApiKey)

    def delete(self, key_id: str) -> None:
        return self._t.call("DELETE", f"/keys/{key_id}")

    def rotate(self, key_id: str) -> m.ApiKey:
        return self._t.call("POST", f"/keys/{key_id}/rotate", m.ApiKey)

    def clone(self, key_id: str, name: str | None = None) -> m.ApiKey:
        return self._t.call("POST", f"/keys/{key_id}/clone", m.ApiKey, json=_given(name=name))


class Locations(Resource):
    def list(self, *, organization_id: str | None = None, limit: int | None = None) -> Iterator[m.Location]:
        return self._t.pages("/locations", m.Location, {"organization_id": organization_id, "limit": limit})

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

    def get(self, location_id: str) -> m.Location:
        return self._t.call("GET", f"/locations/{location_id}", m.Location)

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

    def delete(self, location_id: str) -> None:
        return self._t.call("DELETE", f"/locations/{location_id}")

    def share(self, location_id: str, organization_id: str) -> None:
        return self._t.call(
            "POST", f"/locations/{location_id}/shares", json={"organization_id": organization_id}
        )

    def unshare(self, location_id: str, organization_id: str) -> None:
        return self._t.call("DELETE", f"/locations/{location_id}/shares/{organization_id}")

    def secrets(self, location_id: str) -> builtins.list[m.Secret]:
        return self._t.call("GET", f"/locations/{location_id}/secrets", builtins.list[m.Secret])

    def create_secret(self, location_id: str) -> m.Secret:
        return self._t.call("POST", f"/locations/{location_id}/secrets", m.Secret)

    def delete_secret(self, location_id: str, secret_id: str) -> None:
        return self._t.call("DELETE", f"/locations/{location_id}/secrets/{secret_id}")


class Machines(Resource):
    def list(
        self,
        *,
        location_id: str | None = None,
        organization_id: str | None = None,
        rentable: bool | None = None,
        limit: int | None = None,
    ) -> Iterator[m.Machine]:
        params = {
            "location_id": location_id,
            "organization_id": organization_id,
            "limit": limit,
            "rentable": None if rentable is None else str(rentable).lower(),
        }
        return self._t.pages("/machines", m.Machine, params)

    def create(
        self, location_id: str, name: str, *, metadata: dict[str, Any] | None = None, rentable: bool = False
    ) -> m.Machine:
        body = _given(location_id=location_id, name=name, metadata=metadata, rentable=rentable)
        return self._t.call("POST", "/machines", m.Machine, json=body)

    def get(self, machine_id: str) -> m.Machine:
        return self._t.call("GET", f"/machines/{machine_id}", m.Machine)

    def update(
        self,
        machine_id: str,
        *,
        name: str | None = None,
        location_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        rentable: bool | None = None,
    ) -> m.Machine:
        body = _given(name=name, location_id=location_id, metadata=metadata, rentable=rentable)
        return self._t.call("PATCH", f"/machines/{machine_id}", m.Machine, json=body)

    def delete(self, machine_id: str) -> None:
        return self._t.call("DELETE", f"/machines/{machine_id}")

    def parts(self, machine_id: str) -> builtins.list[m.Part]:
        return self._t.call("GET", f"/machines/{machine_id}/parts", builtins.list[m.Part])


class Parts(Resource):
    def create(self, machine_id: str, name: str) -> m.Part:
        return self._t.call("POST", f"/machines/{machine_id}/parts", m.Part, json={"name": name})

    def get(self, part_id: str) -> m.Part:
        return self._t.call("GET", f"/parts/{part_id}", m.Part)

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

    def delete(self, part_id: str) -> None:
        return self._t.call("DELETE", f"/parts/{part_id}")

    def restart(self, part_id: str) -> m.Part:
        return self._t.call("POST", f"/parts/{part_id}/restart", m.Part)

    def get_config(self, part_id: str) -> m.PartConfig:
        return self._t.call("GET", f"/parts/{part_id}/config", m.PartConfig)

    def set_config(self, part_id: str, config: dict[str, Any]) -> m.Part:
        return self._t.call("PUT", f"/parts/{part_id}/config", m.Part, json={"config": config})

    def config_history(self, part_id: str, *, limit: int | None = None) -> Iterator[m.ConfigRevision]:
        """Newest first; each entry is the config as it was before that edit."""
        return self._t.pages(f"/parts/{part_id}/config/history", m.ConfigRevision, {"limit": limit})

    def secrets(self, part_id: str) -> builtins.list[m.Secret]:
        return self._t.call("GET", f"/parts/{part_id}/secrets", builtins.list[m.Secret])

    def create_secret(self, part_id: str) -> m.Secret:
        return self._t.call("POST", f"/parts/{part_id}/secrets", m.Secret)

    def delete_secret(self, part_id: str, secret_id: str) -> None:
        return self._t.call("DELETE", f"/parts/{part_id}/secrets/{secret_id}")


class Api:
    """The resource groups, bound to one transport."""

    def __init__(self, transport: Any) -> None:
        self._t = transport
        self.users = Users(transport)
        self.organizations = Organizations(transport)
        self.authorizations = Authorizations(transport)
        self.keys = Keys(transport)
        self.locations = Locations(transport)
        self.machines = Machines(transport)
        self.parts = Parts(transport)
