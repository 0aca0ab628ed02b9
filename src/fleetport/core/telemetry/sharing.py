"""Codes that let others in: share codes (share, activate, deactivate, revoke), client keys
(activate, deactivate, revoke) and tokens (grant, revoke)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from fleetport.core.errors import Invalid, NotFound, PermissionDenied, Unauthenticated
from fleetport.core.ids import hash_secret
from fleetport.core.permissions import Principal
from fleetport.core.telemetry.model import (
    MAX_TOKEN_TTL,
    META_MAX,
    TOKEN_PERMISSIONS,
    Ref,
    ShareInvalid,
    check_text,
    is_rid,
    now,
)
from fleetport.core.telemetry.tree import Tree
from fleetport.store import Row, Store, Tx
from fleetport.store import telemetry as st


class Sharing:
    """Shares, client keys and tokens."""

    def __init__(self, store: Store, tree: Tree) -> None:
        self.store = store
        self.tree = tree

    def share(self, p: Principal, ref: Ref, *, meta: str | None = None, code: str | None = None) -> str:
        """A share code for a resource in the caller's tree; with ``code``, updates that share's meta."""
        meta_text = check_text(meta if meta is not None else "", "meta", META_MAX)
        with self.store.write() as conn:
            client, row = self.tree.resource(conn, p, ref, "share")
            if code is not None:
                existing = st.share(conn, code) if isinstance(code, str) else None
                if existing is None or existing["rid"] != row["rid"]:
                    raise NotFound("no share of this resource has this code")
                if meta is not None:
                    st.update_share(conn, code, {"meta": meta_text})
                return code
            new_code = secrets.token_hex(20)
            st.insert_share(
                conn,
                {
                    "code": new_code,
                    "rid": row["rid"],
                    "owner_rid": client,
                    "meta": meta_text,
                    "created_at": now(),
                },
            )
            st.use(conn, client, "share", now())
            return new_code

    def activate(self, p: Principal, codetype: str, code: str, *, under: Ref | None = None) -> None:
        """``client``: activates a key of a client the caller owns (made not activated by
        provisioning); ``share``: the caller (or ``under``) may read the shared resource from now on."""
        with self.store.write() as conn:
            client = self.tree.owner(conn, p, under, "activate")
            if codetype == "client":
                row = st.by_cik(conn, code) if is_rid(code) else None
                row = None if row is None else st.lock(conn, [str(row["rid"])]).get(str(row["rid"]))
                if row is None or row["cik"] != code or row["status"] != "notactivated":
                    raise ShareInvalid("no client awaits activation with this key")
                if row["parent_rid"] != client:
                    raise Unauthenticated("the calling client does not own this client")
                if not st.activate_client(conn, row["rid"], now()):  # activated meanwhile
                    raise ShareInvalid("no client awaits activation with this key")
            elif codetype == "share":
                share = st.share(conn, code, lock=True) if isinstance(code, str) else None
                if share is None or share["activator_rid"] is not None:
                    raise ShareInvalid("no share awaits activation with this code")
                if share["owner_rid"] == client:
                    raise ShareInvalid("a share is activated by another client than its owner")
                st.update_share(conn, code, {"activator_rid": client, "activated_at": now()})
            else:
                raise Invalid("codetype is client or share")

    def deactivate(self, p: Principal, codetype: str, code: str, *, under: Ref | None = None) -> None:
        """``client``: the key stops working (the client expires); ``share``: the caller's
        activation of the share ends."""
        with self.store.write() as conn:
            client = self.tree.owner(conn, p, under, "deactivate")
            if codetype == "client":
                row = self._descendant_by_key(conn, client, code)
                st.update_resource(conn, row["rid"], {"status": "expired", "modified_at": now()})
            elif codetype == "share":
                share = st.share(conn, code, lock=True) if isinstance(code, str) else None
                if share is None or share["activator_rid"] != client:
                    raise ShareInvalid("the calling client has not activated this share")
                st.update_share(conn, code, {"activator_rid": None, "activated_at": None})
            else:
                raise Invalid("codetype is client or share")

    def _descendant_by_key(self, conn: Tx, client: str, code: str) -> Row:
        """The client whose key is ``code``, which must be in the sub-tree of ``client``'s children."""
        row = st.by_cik(conn, code) if is_rid(code) else None
        if row is None:
            raise ShareInvalid("no client has this key")
        if row["parent_rid"] is None or not self.tree.reaches(conn, client, str(row["parent_rid"])):
            raise Unauthenticated("the calling client does not own this client")
        return row

    def revoke(self, p: Principal, codetype: str, code: str) -> str | None:
        """``client``: gives the client of that key a new key (returned); ``share``: deletes the
        share; ``token``: deletes the token (given itself, or by the id ``listing`` shows)."""
        with self.store.write() as conn:
            client, _ = self.tree.own(conn, p, "revoke")
            if codetype == "client":
                row = self._descendant_by_key(conn, client, code)
                new_key = secrets.token_hex(20)
                st.update_resource(conn, row["rid"], {"cik": new_key, "modified_at": now()})
                return new_key
            if codetype == "share":
                share = st.share(conn, code) if isinstance(code, str) else None
                if share is None:
                    raise ShareInvalid("no share has this code")
                if not self.tree.reaches(conn, client, str(share["owner_rid"])):
                    raise Unauthenticated("the calling client did not make this share")
                st.delete_share(conn, code)
                return None
            if codetype == "token":
                token = (
                    (st.token_by_hash(conn, hash_secret(code)) or st.token_by_id(conn, code))
                    if is_rid(code)
                    else None
                )
                if token is None:
                    raise ShareInvalid("no token has this code")
                if not self.tree.reaches(conn, client, str(token["client_rid"])):
                    raise Unauthenticated("the token acts as a client outside the caller's tree")
                st.delete_token(conn, token["id"])
                return None
            raise Invalid("codetype is client, share or token")

    def grant(
        self, p: Principal, ref: Ref, permissions: Mapping[str, Sequence[str]], *, ttl: int | None = None
    ) -> str:
        """A token that acts as client ``ref`` (in the caller's tree) with ``permissions``: the
        procedures allowed on each sub-tree (by RID, or by alias of that client). ``ttl`` in seconds."""
        if not isinstance(permissions, Mapping) or not permissions:
            raise Invalid("permissions map resources to lists of procedures")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= MAX_TOKEN_TTL
        ):
            raise Invalid(f"ttl is a number of seconds between 1 and {MAX_TOKEN_TTL}")
        with self.store.write() as conn:
            _, row = self.tree.resource(conn, p, ref, "grant")
            if row["type"] != "client":
                raise Invalid("a token acts as a client")
            client = str(row["rid"])
            granted: dict[str, list[str]] = {}
            for key, actions in permissions.items():
                target = (
                    key
                    if is_rid(key)
                    else st.alias_target(conn, client, key)
                    if isinstance(key, str)
                    else None
                )
                if target is None or not self.tree.reaches(conn, client, target):
                    raise PermissionDenied(f"{key!r} is not in the token client's tree")
                if not isinstance(actions, list) or not all(a in TOKEN_PERMISSIONS for a in actions):
                    raise Invalid(
                        f"permissions are lists of procedures: {', '.join(sorted(TOKEN_PERMISSIONS))}"
                    )
                if p.token_permissions is not None:
                    for action in actions:
                        self.tree.permit(conn, p, action, target)
                granted[target] = sorted(set(actions))
            token = secrets.token_hex(20)  # shown once, here; the database keeps its SHA-256
            at = now()
            st.insert_token(
                conn,
                {
                    "id": secrets.token_hex(20),
                    "token_hash": hash_secret(token),
                    "client_rid": client,
                    "permissions": granted,
                    "expires_at": None if ttl is None else at + ttl,
                    "created_at": at,
                },
            )
            return token
