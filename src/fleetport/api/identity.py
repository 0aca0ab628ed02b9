"""Login, users, API keys, authorizations and permission checks."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep, bearer_token
from fleetport.client import models as m

router = APIRouter()


@router.post("/auth/login", response_model=m.Session, tags=["auth"])
def login(body: s.LoginIn, fleet: FleetDep) -> object:
    """Exchange an email and password for a session token, used as a Bearer token."""
    return fleet.identity.login(body.email, body.password)


@router.post("/auth/logout", tags=["auth"], status_code=204, response_model=None)
def logout(fleet: FleetDep, _: Caller, token: str = Depends(bearer_token)) -> None:
    fleet.identity.logout(token)


@router.get("/auth/whoami", response_model=m.WhoAmI, tags=["auth"])
def whoami(caller: Caller) -> object:
    return caller


@router.get("/users", response_model=m.Page[m.User], tags=["users"])
def list_users(fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return fleet.identity.list_users(caller, paging.limit, paging.cursor)


@router.post("/users", response_model=m.User, status_code=201, tags=["users"])
def create_user(body: s.UserIn, fleet: FleetDep, caller: Caller) -> object:
    return fleet.identity.create_user(caller, body.email, body.name, body.password, body.is_admin)


@router.get("/users/{user_id}", response_model=m.User, tags=["users"])
def get_user(user_id: str, fleet: FleetDep, caller: Caller) -> object:
    """``me`` names the caller's own user."""
    return fleet.identity.get_user(caller, user_id)


@router.delete("/users/{user_id}", tags=["users"], status_code=204, response_model=None)
def delete_user(user_id: str, fleet: FleetDep, caller: Caller) -> None:
    fleet.identity.delete_user(caller, user_id)


@router.put("/users/{user_id}/password", tags=["users"], status_code=204, response_model=None)
def set_password(user_id: str, body: s.PasswordIn, fleet: FleetDep, caller: Caller) -> None:
    """Sets a new password and ends the user's sessions."""
    fleet.identity.set_password(caller, user_id, body.password)


@router.get("/organizations/{org_id}/keys", response_model=m.Page[m.ApiKey], tags=["keys"])
def list_keys(org_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return fleet.identity.list_keys(caller, org_id, paging.limit, paging.cursor)


@router.post("/organizations/{org_id}/keys", response_model=m.ApiKey, status_code=201, tags=["keys"])
def create_key(org_id: str, body: s.KeyIn, fleet: FleetDep, caller: Caller) -> object:
    """The answer holds the key's secret; it is not shown again."""
    return fleet.identity.create_key(caller, org_id, body.name, [g.spec() for g in body.authorizations])


@router.get("/keys/{key_id}", response_model=m.ApiKey, tags=["keys"])
def get_key(key_id: str, fleet: FleetDep, caller: Caller) -> object:
    return fleet.identity.get_key(caller, key_id)


@router.delete("/keys/{key_id}", tags=["keys"], status_code=204, response_model=None)
def delete_key(key_id: str, fleet: FleetDep, caller: Caller) -> None:
    fleet.identity.delete_key(caller, key_id)


@router.post("/keys/{key_id}/rotate", response_model=m.ApiKey, tags=["keys"])
def rotate_key(key_id: str, fleet: FleetDep, caller: Caller) -> object:
    """A new secret for the key; the old one stops working at once."""
    return fleet.identity.rotate_key(caller, key_id)


@router.post("/keys/{key_id}/clone", response_model=m.ApiKey, status_code=201, tags=["keys"])
def clone_key(key_id: str, fleet: FleetDep, caller: Caller, body: s.KeyCloneIn | None = None) -> object:
    """A new key with the same authorizations."""
    return fleet.identity.clone_key(caller, key_id, body.name if body else None)


@router.get(
    "/organizations/{org_id}/authorizations", response_model=m.Page[m.Authorization], tags=["authorizations"]
)
def list_authorizations(org_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return fleet.identity.list_authorizations(caller, org_id, paging.limit, paging.cursor)


@router.post(
    "/organizations/{org_id}/authorizations",
    response_model=m.Authorization,
    status_code=201,
    tags=["authorizations"],
)
def add_authorization(org_id: str, body: s.AuthorizationIn, fleet: FleetDep, caller: Caller) -> object:
    return fleet.identity.add_authorization(caller, org_id, body.subject_type, body.subject_id, body.spec())


@router.delete(
    "/organizations/{org_id}/authorizations/{authorization_id}",
    tags=["authorizations"],
    status_code=204,
    response_model=None,
)
def remove_authorization(org_id: str, authorization_id: str, fleet: FleetDep, caller: Caller) -> None:
    fleet.identity.remove_authorization(caller, org_id, authorization_id)


@router.post("/permissions/check", response_model=m.PermissionCheck, tags=["authorizations"])
def check_permissions(body: s.PermissionCheckIn, fleet: FleetDep, caller: Caller) -> object:
    """Which of the listed permissions the caller holds on the resource."""
    granted = fleet.identity.check_permissions(caller, body.resource_type, body.resource_id, body.permissions)
    return {"granted": granted}
