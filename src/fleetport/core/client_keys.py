"""One Platform keys, for ``Identity.authenticate``: a client's key (CIK), a token from ``grant``
and the provisioning API's key (a vendor token or a CIK). Nothing else calls these.

A lookup finds what a key stands for (``KeyHolder``), which identity may keep in its credential
cache; what can lapse without a write (a token's time to live) and what differs by the way the
key was presented (a provisioning key works before its client is activated, a CIK does not) is
checked at every use by ``principal``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fleetport.core.credentials import ClientCik, GrantToken, ProvisioningKey
from fleetport.core.errors import Unauthenticated
from fleetport.core.permissions import Principal, Via
from fleetport.core.telemetry.model import Expired, client_principal, is_rid, now
from fleetport.core.telemetry.tree import reaches
from fleetport.store import Tx
from fleetport.store import provision as sp
from fleetport.store import telemetry as st

OnePlatformKey = ClientCik | GrantToken | ProvisioningKey


@dataclass(frozen=True)
class KeyHolder:
    """What a key stands for: the client it acts as and what may still refuse it."""

    client_rid: str
    status: str  # the client's: activated, notactivated or expired
    via: Via
    expires_at: int | None = None  # tokens with a time to live
    permissions: dict[str, frozenset[str]] | None = None  # tokens: procedures by sub-tree


def check_shape(credential: OnePlatformKey) -> str:
    """The key's text, refused unless it is 40 lowercase hexadecimal characters (every key and
    token is): nothing else is looked up."""
    if isinstance(credential, ClientCik):
        text, refusal = credential.cik, "the key is not 40 hexadecimal characters"
    elif isinstance(credential, GrantToken):
        text, refusal = credential.token, "a token is 40 hexadecimal characters"
    else:
        text, refusal = credential.key, "a key is 40 lowercase hexadecimal characters"
    if not is_rid(text):
        raise Unauthenticated(refusal)
    return text


def find(conn: Tx, credential: OnePlatformKey, key: str, digest: str) -> KeyHolder | None:
    """What the key (its text and SHA-256 digest) stands for, or None for no such key."""
    if isinstance(credential, GrantToken):
        token = st.token_by_hash(conn, digest)  # tokens are kept by digest only
        if token is None:
            return None
        permissions = {rid: frozenset(names) for rid, names in dict(token["permissions"]).items()}
        return KeyHolder(
            str(token["client_rid"]), "activated", "grant_token", token["expires_at"], permissions
        )
    if isinstance(credential, ProvisioningKey):
        vendor = sp.vendor_by_token(conn, key)
        if vendor is not None:
            client = st.get(conn, vendor["client_rid"])
            status = "expired" if client is None else str(client["status"])
            return KeyHolder(str(vendor["client_rid"]), status, "vendor_token")
    row = st.by_cik(conn, key)
    if row is None:
        return None
    return KeyHolder(str(row["rid"]), str(row["status"]), "cik")


def unknown(credential: OnePlatformKey) -> Unauthenticated:
    if isinstance(credential, GrantToken):
        return Unauthenticated("no such token")
    if isinstance(credential, ProvisioningKey):
        return Unauthenticated("no client and no vendor has this key")
    return Unauthenticated("no client has this key")


def principal(conn_for_acting: Tx | None, credential: OnePlatformKey, holder: KeyHolder) -> Principal:
    """The caller a found key authenticates, or the reason it is refused now. A CIK with a
    ``client_id`` or ``resource_id`` needs ``conn_for_acting`` to walk the tree."""
    if isinstance(credential, GrantToken):
        if holder.expires_at is not None and holder.expires_at <= now():
            raise Expired("the token's time to live has passed")
        client = holder.client_rid
        found = client_principal(client, display=f"token for client {client}", permissions=holder.permissions)
        return replace(found, via="grant_token")
    if holder.status == "expired":
        if holder.via == "vendor_token":
            raise Unauthenticated("the key of the vendor's client was deactivated")
        raise Expired("this key was deactivated")
    if isinstance(credential, ProvisioningKey):  # a provisioned device's key manages and downloads
        return replace(client_principal(holder.client_rid), via=holder.via)
    if holder.status == "notactivated":  # a provisioned device's key, until it is activated
        raise Unauthenticated("this key has not been activated")
    acting = holder.client_rid
    if credential.client_id is not None or credential.resource_id is not None:
        assert conn_for_acting is not None
        acting = _acting(conn_for_acting, acting, credential.client_id, credential.resource_id)
    return replace(client_principal(acting), via="cik")


def needs_tree(credential: OnePlatformKey) -> bool:
    """Whether ``principal`` walks the resource tree for this credential."""
    return isinstance(credential, ClientCik) and (
        credential.client_id is not None or credential.resource_id is not None
    )


def _acting(conn: Tx, client: str, client_id: str | None, resource_id: str | None) -> str:
    """With ``client_id`` the key acts as that descendant client; with ``resource_id`` as the
    owner of that descendant resource."""
    target = client_id if client_id is not None else resource_id
    if not is_rid(target) or not reaches(conn, client, str(target)):
        raise Unauthenticated("the key's client is no ancestor of that resource")
    resource = st.get(conn, str(target))
    assert resource is not None
    if client_id is not None:
        if resource["type"] != "client":
            raise Unauthenticated("client_id names no client")
        return str(resource["rid"])
    if resource["parent_rid"] is None:
        raise Unauthenticated("a root client has no owner")
    return str(resource["parent_rid"])
