"""``Identity.authenticate`` over every kind of credential (SQLite and PostgreSQL): the right
principal for a good one, Unauthenticated (never a crash) for a wrong, lapsed, deleted or hostile
one, and revocation seen at once through the credential cache."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from fleetport.core import client_keys
from fleetport.core.credentials import (
    ApiKeySecret,
    BearerToken,
    ClientCik,
    Credential,
    GrantToken,
    ProvisioningKey,
)
from fleetport.core.errors import Unauthenticated
from fleetport.core.fleet import Fleet
from fleetport.core.models import GrantSpec, utcnow
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import Expired, NewResource
from fleetport.store import tables as t


@dataclass
class World:
    session: str
    user_id: str
    key_id: str
    key_secret: str
    machine_id: str
    part_id: str
    part_secret: str
    root_rid: str
    root_cik: str
    child_rid: str
    child_cik: str
    port_rid: str
    token: str
    vendor_token: str


@pytest.fixture
def world(fleet: Fleet, admin: Principal) -> World:
    identity = fleet.identity
    org = fleet.organizations.create(admin, "Acme")
    location = fleet.locations.create(admin, org.id, "Plant")
    machine = fleet.machines.create(admin, location.id, "press")
    (part,) = fleet.machines.parts(admin, machine.id)
    part_secret = fleet.machines.create_secret(admin, part.id).secret
    user = identity.create_user(admin, "ada@example.com", "Ada", "password1")
    identity.add_authorization(admin, org.id, "user", user.id, GrantSpec("operator", "organization", org.id))
    session = identity.login("ada@example.com", "password1").token
    key = identity.create_key(admin, org.id, "k", [GrantSpec("operator", "location", location.id)])
    assert key.secret and part_secret
    root = fleet.telemetry.clients.root_client(admin, org.id)
    assert root.cik is not None
    as_root = identity.authenticate(ClientCik(root.cik))
    child = fleet.telemetry.resources.create(as_root, NewResource(type="client", name="child"))
    child_cik = fleet.telemetry.inventory.info(as_root, child).key
    assert child_cik is not None
    port = fleet.telemetry.resources.create(
        as_root, NewResource(type="dataport", format="integer"), under=child
    )
    token = fleet.telemetry.sharing.grant(as_root, child, {child: ["read"]}, ttl=3600)
    vendor = fleet.provision.register(identity.authenticate(ProvisioningKey(child_cik)), "acme")
    return World(
        session,
        user.id,
        key.id,
        key.secret,
        machine.id,
        part.id,
        part_secret,
        root.rid,
        root.cik,
        child,
        child_cik,
        port,
        token,
        vendor.token,
    )


def test_every_kind_authenticates_as_its_principal(fleet: Fleet, world: World) -> None:
    auth = fleet.identity.authenticate
    user = auth(BearerToken(world.session))
    assert (user.kind, user.via, user.user_id) == ("user", "session", world.user_id) and user.grants
    key = auth(BearerToken(world.key_secret))
    assert (key.kind, key.via, key.api_key_id) == ("api_key", "api_key", world.key_id)
    assert auth(ApiKeySecret(world.key_id, world.key_secret)).api_key_id == world.key_id
    part = auth(BearerToken(world.part_secret))
    assert (part.kind, part.via, part.part_id) == ("part", "part_secret", world.part_id)
    root = auth(ClientCik(world.root_cik))
    assert (root.kind, root.via, root.client_rid, root.token_permissions) == (
        "client",
        "cik",
        world.root_rid,
        None,
    )
    assert auth(ClientCik(world.root_cik, client_id=world.child_rid)).client_rid == world.child_rid
    assert auth(ClientCik(world.root_cik, resource_id=world.port_rid)).client_rid == world.child_rid
    token = auth(GrantToken(world.token))
    assert (token.via, token.client_rid) == ("grant_token", world.child_rid)
    assert token.token_permissions == {world.child_rid: frozenset({"read"})}
    by_cik = auth(ProvisioningKey(world.child_cik))
    by_token = auth(ProvisioningKey(world.vendor_token))
    assert (by_cik.via, by_cik.client_rid) == ("cik", world.child_rid)
    assert (by_token.via, by_token.client_rid) == ("vendor_token", world.child_rid)


def test_wrong_credentials_are_refused(fleet: Fleet, world: World) -> None:
    unknown = "0123456789abcdef" * 2 + "01234567"
    for credential in (
        BearerToken("fpk_not-a-key"),
        BearerToken("fps_not-a-session"),
        BearerToken("fpp_not-a-part-secret"),
        ApiKeySecret("another-id", world.key_secret),
        ApiKeySecret(world.key_id, "fpk_wrong"),
        ApiKeySecret(world.user_id, world.session),  # a session is no API key
        ClientCik(unknown),
        ClientCik(world.child_cik, client_id=world.root_rid),  # an ancestor, not a descendant
        ClientCik(world.root_cik, client_id=world.port_rid),  # not a client
        ClientCik(world.root_cik, resource_id=world.root_rid),  # a root client has no owner
        ClientCik(world.root_cik, client_id=unknown),
        GrantToken(unknown),
        GrantToken(world.root_cik),  # a key is no token
        ClientCik(world.token),  # nor a token a key
        ClientCik(world.vendor_token),  # a vendor token is no CIK over RPC
        ProvisioningKey(unknown),
        ProvisioningKey(world.token),
    ):
        with pytest.raises(Unauthenticated):
            fleet.identity.authenticate(credential)


def test_lapsed_credentials_are_refused(fleet: Fleet, admin: Principal, world: World) -> None:
    auth = fleet.identity.authenticate
    for credential in (
        BearerToken(world.session),
        ClientCik(world.child_cik),
        GrantToken(world.token),
        ProvisioningKey(world.vendor_token),
    ):
        auth(credential)  # cached now: what lapses is checked at each use all the same
    with fleet.store.write() as tx:
        tx.execute(update(t.sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(Unauthenticated, match="expired"):
        auth(BearerToken(world.session))
    as_root = auth(ClientCik(world.root_cik))
    later = client_keys.now() + 7200
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(client_keys, "now", lambda: later)
        with pytest.raises(Expired):
            auth(GrantToken(world.token))
    fleet.telemetry.sharing.deactivate(as_root, "client", world.child_cik)
    with pytest.raises(Expired):
        auth(ClientCik(world.child_cik))
    with pytest.raises(Unauthenticated, match="deactivated"):
        auth(ProvisioningKey(world.child_cik))
    with pytest.raises(Unauthenticated, match="vendor's client was deactivated"):
        auth(ProvisioningKey(world.vendor_token))


def test_a_key_awaiting_activation_manages_provisioning_but_calls_no_procedure(
    fleet: Fleet, world: World
) -> None:
    as_root = fleet.identity.authenticate(ClientCik(world.root_cik))
    with fleet.store.write() as conn:
        waiting = fleet.telemetry.clients.regenerate_key(conn, world.child_rid, status="notactivated")
    with pytest.raises(Unauthenticated, match="not been activated"):
        fleet.identity.authenticate(ClientCik(waiting))
    assert fleet.identity.authenticate(ProvisioningKey(waiting)).client_rid == world.child_rid
    fleet.telemetry.sharing.activate(as_root, "client", waiting)
    assert fleet.identity.authenticate(ClientCik(waiting)).client_rid == world.child_rid


def test_deleted_credentials_are_refused_at_once(fleet: Fleet, admin: Principal, world: World) -> None:
    """Each credential is authenticated (and so cached) first; its deletion is seen at once."""
    auth = fleet.identity.authenticate
    every: list[Credential] = [
        BearerToken(world.session),
        BearerToken(world.key_secret),
        ApiKeySecret(world.key_id, world.key_secret),
        BearerToken(world.part_secret),
        ClientCik(world.child_cik),
        ClientCik(world.root_cik, client_id=world.child_rid),
        GrantToken(world.token),
        ProvisioningKey(world.vendor_token),
        ProvisioningKey(world.child_cik),
    ]
    for credential in every:
        auth(credential)
    as_root = auth(ClientCik(world.root_cik))
    fleet.identity.logout(auth(BearerToken(world.session)), world.session)
    fleet.identity.delete_key(admin, world.key_id)
    fleet.machines.delete(admin, world.machine_id)
    fleet.telemetry.sharing.revoke(as_root, "token", world.token)
    fleet.provision.unregister(auth(ProvisioningKey(world.child_cik)), "acme")
    with pytest.raises(Unauthenticated):
        auth(ProvisioningKey(world.vendor_token))
    revoked = fleet.telemetry.sharing.revoke(as_root, "client", world.child_cik)  # a new key for the child
    assert revoked is not None and auth(ClientCik(revoked)).client_rid == world.child_rid
    for credential in every:
        if credential != ClientCik(world.root_cik, client_id=world.child_rid):
            with pytest.raises(Unauthenticated):
                auth(credential)
    fleet.telemetry.resources.drop(as_root, world.child_rid)
    for credential in (ClientCik(world.root_cik, client_id=world.child_rid), ClientCik(revoked)):
        with pytest.raises(Unauthenticated):
            auth(credential)


HOSTILE = [
    "",
    "\x00",
    "fps_\x00",
    "fpp_\x00" * 10,
    "\ud800",
    "fpk_\udfff",
    "0" * 39 + "\ud800",
    "0" * 39 + "\x00",
    "é" * 40,
    "A" * 40,  # upper case hexadecimal is no key
    "0" * 1_000_000,
    "fps_" + "a" * 1_000_000,
]


def test_hostile_text_is_refused_cleanly(fleet: Fleet, world: World) -> None:
    for text in HOSTILE:
        for credential in (
            BearerToken(text),
            ApiKeySecret(text, text),
            ApiKeySecret(world.key_id, text),
            ApiKeySecret(text, world.key_secret),
            ClientCik(text),
            ClientCik(world.root_cik, client_id=text),
            ClientCik(world.root_cik, resource_id=text),
            GrantToken(text),
            ProvisioningKey(text),
        ):
            with pytest.raises(Unauthenticated):
                fleet.identity.authenticate(credential)


def test_only_identity_checks_credentials() -> None:
    """No core module but identity and its helper looks a credential up or takes one: services
    take the Principal identity made. (Telemetry reads a client by its key where a procedure names
    a client by its key, as activate, deactivate and revoke do, and a token where revoke names it.)"""
    core = Path(__file__).resolve().parents[3] / "src" / "fleetport" / "core"
    authenticating = {"identity.py", "client_keys.py"}
    lookups = re.compile(r"\b(session_user|api_key_by_secret|part_by_secret|vendor_by_token)\(")
    codes = re.compile(r"\b(by_cik|token_by_hash)\(")
    credential_types = re.compile(
        r"^\s*(from fleetport\.core\.credentials import|from fleetport\.core import .*\bcredentials\b)", re.M
    )
    checked = 0
    for path in sorted(core.rglob("*.py")):
        if path.name in authenticating:
            continue
        text = path.read_text()
        checked += 1
        assert not lookups.search(text), f"{path} looks a credential up"
        if path.name != "sharing.py" or path.parent.name != "telemetry":
            assert not codes.search(text), f"{path} looks a One Platform key up"
        if path.name not in ("calls.py", "credentials.py"):  # Call carries a request's credential
            assert not credential_types.search(text), f"{path} takes a credential"
        assert "def authenticate" not in text, f"{path} authenticates"
    assert checked > 20
