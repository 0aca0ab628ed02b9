"""Login, users, API keys, authorizations and permission checks."""

from __future__ import annotations

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep, run_core
from fleetport.api.routing import api_router
from fleetport.client import models as m
from fleetport.core.credentials import BearerToken
from fleetport.core.permissions import Principal

router = api_router()


@router.post("/auth/login", response_model=m.Session, tags=["auth"])
async def login(body: s.LoginIn, fleet: FleetDep) -> object:
    """Exchange an email and password for a session token, used as a Bearer token."""
    return await run_core(fleet, lambda: fleet.identity.login(body.email, body.password), long=True)


@router.post("/auth/logout", tags=["auth"], status_code=204, response_model=None)
async def logout(fleet: FleetDep, caller: Caller) -> None:
    """Ends the session whose token authenticates this request."""
    session = caller.credential
    assert isinstance(session, BearerToken)  # the native API's one credential
    await caller(fleet.identity.logout, session.token)


@router.get("/auth/whoami", response_model=m.WhoAmI, tags=["auth"])
async def whoami(caller: Caller) -> object:
    return await caller(_itself)


def _itself(principal: Principal) -> Principal:
    return principal


@router.get("/users", response_model=m.Page[m.User], tags=["users"])
async def list_users(fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return await caller(fleet.identity.list_users, paging)


@router.post("/users", response_model=m.User, status_code=201, tags=["users"])
async def create_user(body: s.UserIn, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.identity.create_user, body.email, body.name, body.password, body.is_admin)


@router.get("/users/{user_id}", response_model=m.User, tags=["users"])
async def get_user(user_id: str, fleet: FleetDep, caller: Caller) -> object:
    """``me`` names the caller's own user."""
    return await caller(fleet.identity.get_user, user_id)


@router.delete("/users/{user_id}", tags=["users"], status_code=204, response_model=None)
async def delete_user(user_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.identity.delete_user, user_id)


@router.put("/users/{user_id}/password", tags=["users"], status_code=204, response_model=None)
async def set_password(user_id: str, body: s.PasswordIn, fleet: FleetDep, caller: Caller) -> None:
    """Sets a new password and ends the user's sessions."""
    await caller(fleet.identity.set_password, user_id, body.password)


@router.get("/organizations/{org_id}/keys", response_model=m.Page[m.ApiKey], tags=["keys"])
async def list_keys(org_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return await caller(fleet.identity.list_keys, org_id, paging)


@router.post("/organizations/{org_id}/keys", response_model=m.ApiKey, status_code=201, tags=["keys"])
async def create_key(org_id: str, body: s.KeyIn, fleet: FleetDep, caller: Caller) -> object:
    """The answer holds the key's secret; it is not shown again."""
    return await caller(fleet.identity.create_key, org_id, body.name, [g.spec() for g in body.authorizations])


@router.get("/keys/{key_id}", response_model=m.ApiKey, tags=["keys"])
async def get_key(key_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.identity.get_key, key_id)


@router.delete("/keys/{key_id}", tags=["keys"], status_code=204, response_model=None)
async def delete_key(key_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.identity.delete_key, key_id)


@router.post("/keys/{key_id}/rotate", response_model=m.ApiKey, tags=["keys"])
async def rotate_key(key_id: str, fleet: FleetDep, caller: Caller) -> object:
    """A new secret for the key; the old one stops working at once."""
    return await caller(fleet.identity.rotate_key, key_id)


@router.post("/keys/{key_id}/clone", response_model=m.ApiKey, status_code=201, tags=["keys"])
async def clone_key(key_id: str, fleet: FleetDep, caller: Caller, body: s.KeyCloneIn | None = None) -> object:
    """A new key with the same authorizations."""
    return await caller(fleet.identity.clone_key, key_id, body.name if body else None)


@router.get(
    "/organizations/{org_id}/authorizations", response_model=m.Page[m.Authorization], tags=["authorizations"]
)
async def list_authorizations(org_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return await caller(fleet.identity.list_authorizations, org_id, paging)


@router.post(
    "/organizations/{org_id}/authorizations",
    response_model=m.Authorization,
    status_code=201,
    tags=["authorizations"],
)
async def add_authorization(org_id: str, body: s.AuthorizationIn, fleet: FleetDep, caller: Caller) -> object:
    return await caller(
        fleet.identity.add_authorization, org_id, body.subject_type, body.subject_id, body.spec()
    )


@router.delete(
    "/organizations/{org_id}/authorizations/{authorization_id}",
    tags=["authorizations"],
    status_code=204,
    response_model=None,
)
async def remove_authorization(org_id: str, authorization_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.identity.remove_authorization, org_id, authorization_id)


@router.post("/permissions/check", response_model=m.PermissionCheck, tags=["authorizations"])
async def check_permissions(body: s.PermissionCheckIn, fleet: FleetDep, caller: Caller) -> object:
    """Which of the listed permissions the caller holds on the resource."""
    granted = await caller(
        fleet.identity.check_permissions, body.resource_type, body.resource_id, body.permissions
    )
    return {"granted": granted}
