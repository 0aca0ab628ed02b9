"""People and credentials: users, login sessions, API keys, authorizations, and turning any
credential (see ``core.credentials``) into a Principal: ``Identity.authenticate`` is the one place
a credential is checked (One Platform keys are looked up by its helper ``core.client_keys``)."""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fleetport.bus import Bus, Codec, Undecodable
from fleetport.core import access, client_keys, validate
from fleetport.core.calls import long_running
from fleetport.core.credentials import (
    ApiKeySecret,
    BearerToken,
    ClientCik,
    Credential,
    GrantToken,
    ProvisioningKey,
)
from fleetport.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Taken, Unauthenticated
from fleetport.core.ids import hash_secret, new_id, new_secret
from fleetport.core.models import (
    ApiKey,
    Authorization,
    GrantSpec,
    ResourcePermissions,
    Session,
    User,
    as_utc,
    utcnow,
)
from fleetport.core.pages import Listing, Page, PageRequest
from fleetport.core.permissions import ALL_PERMISSIONS, Grant, Principal, validate_grant
from fleetport.store import Row, Store, Tx
from fleetport.store import queries as q

SESSION_PREFIX = "fps_"
KEY_PREFIX = "fpk_"
PART_SECRET_PREFIX = "fpp_"
MIN_KEY_LENGTH = 32

USERS = Listing("users")
KEYS = Listing("keys")
AUTHORIZATIONS = Listing("authorizations")

_hasher = PasswordHasher()


@dataclass
class Bootstrap:
    created: bool
    email: str
    password: str | None = None
    api_key: str | None = None
    api_key_id: str | None = None


_UNKNOWN = {
    "part": "part secret is not valid",
    "user": "session token is not valid; log in again",
    "api_key": "API key is not valid (deleted, rotated or mistyped)",
}


class CredentialCache:
    """Recently seen credentials (what each stands for: a subject and the grants it holds, a
    telemetry client), so that most requests authenticate without a database round trip.

    An entry is used only while no transaction has changed credentials or grants since it was read
    (``Store.credentials_generation``, which goes up on this process's commits and, through the
    bus's ``credentials`` topic, on other processes' commits), which makes revocation immediate,
    and for at most ``ttl`` seconds, which bounds how long another process can take to notice when
    the bus between them is down. ``ttl=0`` turns the cache off. What can lapse without a write
    (a session's or a token's expiry) is checked at each use, not here.
    """

    def __init__(self, store: Store, ttl: float, max_entries: int = 10_000) -> None:
        self.store = store
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[int, float, object]] = {}

    def get(self, key: str) -> object | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        generation, expires, found = entry
        if generation != self.store.credentials_generation or time.monotonic() > expires:
            self._entries.pop(key, None)
            return None
        return found

    def put(self, key: str, found: object, generation: int) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (generation, time.monotonic() + self.ttl, found)


@dataclass(frozen=True)
class _Subject:
    """What a bearer token was found to be: its kind and its subject's rows joined with grants."""

    kind: Literal["part", "user", "api_key"]
    rows: list[Row]


CREDENTIALS_TOPIC = "credentials"  # a committed transaction changed credentials or grants


@dataclass(frozen=True)
class CredentialsChanged:
    """The event on ``CREDENTIALS_TOPIC``: it carries nothing but the fact."""


def _decode_credentials_changed(data: object) -> CredentialsChanged:
    if data != {}:
        raise Undecodable("a credentials change carries an empty object")
    return CredentialsChanged()


CREDENTIALS_CODEC = Codec(CREDENTIALS_TOPIC, lambda _: {}, _decode_credentials_changed)


class Identity:
    def __init__(
        self,
        store: Store,
        session_ttl_seconds: int,
        credential_cache_seconds: float = 5.0,
        bus: Bus | None = None,
    ) -> None:
        self.store = store
        self.session_ttl = timedelta(seconds=session_ttl_seconds)
        self._cache = CredentialCache(store, credential_cache_seconds)
        if bus is not None:
            self._share_credential_changes(bus)

    def _share_credential_changes(self, bus: Bus) -> None:
        """Each credential change committed here is published; one heard from another process (or
        the bus coming back after missing some) makes this process forget what it cached."""
        bus.define(CREDENTIALS_CODEC)
        store = self.store
        store.on_credentials_changed(lambda: bus.publish(CREDENTIALS_TOPIC, CredentialsChanged()))
        bus.watch(CREDENTIALS_TOPIC, lambda _: store.credentials_changed_elsewhere())
        bus.when_reconnected(lambda _: store.credentials_changed_elsewhere())

    # --- authentication -------------------------------------------------------------------

    def authenticate(self, credential: Credential) -> Principal:
        """The caller a credential stands for: the one place any credential is checked."""
        if isinstance(credential, BearerToken):
            return self._bearer(credential.token)
        if isinstance(credential, ApiKeySecret):
            return self._key_and_secret(credential.key_id, credential.secret)
        if isinstance(credential, ClientCik | GrantToken | ProvisioningKey):
            return self._one_platform(credential)
        raise TypeError(f"not a credential: {type(credential).__name__}")

    def _bearer(self, token: str) -> Principal:
        if not token:
            raise Unauthenticated("no credentials: send 'Authorization: Bearer <API key or session token>'")
        kind = _bearer_kind(token)
        if not _URL_SAFE.fullmatch(token):  # every secret handed out is URL-safe text
            raise Unauthenticated(_UNKNOWN[kind])
        digest = hash_secret(token)
        found = self._cache.get(digest)
        if not isinstance(found, _Subject):
            found = self._lookup(kind, digest)
        rows = found.rows
        if not rows:
            raise Unauthenticated(_UNKNOWN[kind])
        first = rows[0]
        if kind == "part":
            return Principal(
                kind="part",
                id=first["id"],
                display=f"part {first['id']}",
                part_id=first["id"],
                via="part_secret",
            )
        if kind == "user":
            if as_utc(first["session_expires_at"]) <= utcnow():
                raise Unauthenticated("session has expired; log in again")
            return _principal("user", rows, first["email"], user_id=first["id"])
        # a key acts with its own authorizations only, never as the user who made it
        return _principal("api_key", rows, first["name"], api_key_id=first["id"])

    def _lookup(self, kind: Literal["part", "user", "api_key"], digest: str) -> _Subject:
        generation = self.store.credentials_generation
        with self.store.read() as conn:
            if kind == "part":
                part = q.part_by_secret(conn, digest)
                found = _Subject("part", [part] if part else [])
            elif kind == "user":
                found = _Subject("user", q.session_user(conn, digest))
            else:
                found = _Subject("api_key", q.api_key_by_secret(conn, digest))
        if found.rows:  # unknown tokens are not remembered: a flood of them cannot fill the cache
            self._cache.put(digest, found, generation)
        return found

    def _key_and_secret(self, key_id: str, secret: str) -> Principal:
        """Key id plus secret, as the gRPC Authenticate call presents them."""
        if not key_id or not secret:
            raise Unauthenticated("an API key id and its secret are both required")
        principal = self._bearer(secret)
        if principal.api_key_id != key_id:
            raise Unauthenticated("API key id and key do not match")
        return principal

    def _one_platform(self, credential: client_keys.OnePlatformKey) -> Principal:
        """A One Platform client key, token from grant or provisioning key."""
        key = client_keys.check_shape(credential)
        digest = hash_secret(key)
        cache_key = f"{type(credential).__name__}:{digest}"
        holder = self._cache.get(cache_key)
        conn_needed = client_keys.needs_tree(credential)
        if isinstance(holder, client_keys.KeyHolder) and not conn_needed:
            return client_keys.principal(None, credential, holder)
        generation = self.store.credentials_generation
        with self.store.read() as conn:
            if not isinstance(holder, client_keys.KeyHolder):
                holder = client_keys.find(conn, credential, key, digest)
                if holder is None:
                    raise client_keys.unknown(credential)
                self._cache.put(cache_key, holder, generation)
            return client_keys.principal(conn, credential, holder)

    # --- users and sessions ---------------------------------------------------------------

    @long_running
    def create_user(
        self, p: Principal, email: str, name: str, password: str | None, is_admin: bool = False
    ) -> User:
        access.require_admin(p, "creating users")
        with self.store.write(conflict=f"a user with email {email} already exists") as conn:
            return self._insert_user(conn, email, name, password, is_admin)

    def _insert_user(self, conn: Tx, email: str, name: str, password: str | None, is_admin: bool) -> User:
        email = validate.email(email)
        if q.find_one(conn, "users", email=email) is not None:
            raise Conflict(f"a user with email {email} already exists")
        row = {
            "id": new_id(),
            "email": email,
            "name": validate.name(name, "user name") if name else "",
            "password_hash": _hasher.hash(validate.password(password)) if password is not None else None,
            "is_admin": is_admin,
            "created_at": utcnow(),
        }
        q.insert_row(conn, "users", **row)
        return User.from_row(row)

    def get_user(self, p: Principal, user_id: str) -> User:
        if user_id == "me":
            if p.user_id is None:
                raise NotFound("this credential belongs to no user")
            user_id = p.user_id
        if not p.is_admin and user_id != p.user_id:
            raise PermissionDenied("only administrators read other users")
        with self.store.read() as conn:
            row = q.get(conn, "users", validate.entity_id(user_id, "user"))
        if row is None:
            raise NotFound(f"user {user_id} not found")
        return User.from_row(row)

    def find_user_by_email(self, email: str) -> User | None:
        with self.store.read() as conn:
            row = q.find_one(conn, "users", email=validate.email(email))
        return User.from_row(row) if row else None

    def user_by_email(self, p: Principal, email: str) -> User:
        """The user with the email address (any signed-in caller may ask: roles and invites name
        users by it)."""
        found = self.find_user_by_email(email)
        if found is None:
            raise NotFound(f"no user has the email {email}")
        return found

    def list_users(self, p: Principal, page: PageRequest) -> Page[User]:
        access.require_admin(p, "listing users")
        window = USERS.open(page)
        with self.store.read() as conn:
            rows = q.page(conn, "users", limit=window.limit, after=window.after_text())
        return USERS.page(rows, window, User.from_row)

    def delete_user(self, p: Principal, user_id: str) -> None:
        access.require_admin(p, "deleting users")
        with self.store.write() as conn:
            user_id = validate.entity_id(user_id, "user")
            if user_id == p.user_id:
                raise Conflict("you cannot delete the user you are logged in as")
            q.delete_rows(conn, "authorizations", subject_type="user", subject_id=user_id)
            if q.delete_rows(conn, "users", id=user_id) == 0:
                raise NotFound(f"user {user_id} not found")

    @long_running
    def set_password(self, p: Principal, user_id: str, password: str) -> None:
        if not p.is_admin and p.user_id != user_id:
            raise PermissionDenied("only administrators change other users' passwords")
        with self.store.write() as conn:
            hashed = _hasher.hash(validate.password(password))
            if q.update_row(conn, "users", validate.entity_id(user_id, "user"), password_hash=hashed) == 0:
                raise NotFound(f"user {user_id} not found")
            q.delete_rows(conn, "sessions", user_id=user_id)

    @long_running
    def login(self, email: str, password: str) -> Session:
        failure = Unauthenticated("email or password is wrong")
        with self.store.read() as conn:
            row = q.find_one(conn, "users", email=(email or "").strip().lower())
        if row is None or not row["password_hash"]:
            raise failure
        try:
            _hasher.verify(row["password_hash"], password)
        except (VerificationError, InvalidHashError):
            raise failure from None
        token = new_secret(SESSION_PREFIX)
        now = utcnow()
        expires = now + self.session_ttl
        with self.store.write() as conn:
            q.insert_row(
                conn,
                "sessions",
                id=new_id(),
                token_hash=hash_secret(token),
                user_id=row["id"],
                created_at=now,
                expires_at=expires,
            )
            if _hasher.check_needs_rehash(row["password_hash"]):
                q.update_row(conn, "users", row["id"], password_hash=_hasher.hash(password))
        return Session(token=token, expires_at=expires, user=User.from_row(row))

    def logout(self, p: Principal, token: str) -> None:
        if p.kind != "user":
            raise Invalid("only login sessions log out; delete or rotate an API key instead")
        with self.store.write() as conn:
            q.delete_rows(conn, "sessions", token_hash=hash_secret(token))

    def revoke(self, p: Principal, sha256: str) -> None:
        """Revokes the session or API key whose token has this SHA-256 (64 hex digits): a user's
        own session, a key by itself or by those who manage its organization's keys, or any by an
        administrator. Tokens the caller may not revoke are reported as unknown."""
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise Invalid("name the token by its SHA-256: 64 hexadecimal digits")
        digest = sha256.lower()
        unknown = NotFound("no token of yours has this SHA-256")
        with self.store.write() as conn:
            session = q.find_one(conn, "sessions", token_hash=digest)
            if session is not None:
                if not p.is_admin and p.user_id != session["user_id"]:
                    raise unknown
                q.delete_rows(conn, "sessions", id=session["id"])
                return
            key = q.find_one(conn, "api_keys", secret_hash=digest)
            if key is None:
                raise unknown
            managed = key["organization_id"] is not None and p.scope(
                conn, "manage_api_keys"
            ).covers_organization(key["organization_id"])
            if not (p.is_admin or p.api_key_id == key["id"] or managed):
                raise unknown
            q.delete_rows(conn, "authorizations", subject_type="api_key", subject_id=key["id"])
            q.delete_rows(conn, "api_keys", id=key["id"])

    def purge(self, p: Principal) -> int:
        """Revokes every token of the caller: a user's login sessions (the one presented too), or
        the API key presented; how many it revoked. A user's organizations' API keys stay: they act
        with their own authorizations, not as the user."""
        with self.store.write() as conn:
            if p.kind == "user" and p.user_id:
                return q.delete_rows(conn, "sessions", user_id=p.user_id)
            if p.kind == "api_key" and p.api_key_id:
                q.delete_rows(conn, "authorizations", subject_type="api_key", subject_id=p.api_key_id)
                return q.delete_rows(conn, "api_keys", id=p.api_key_id)
        raise Invalid("only users and API keys hold tokens to purge")

    # --- API keys -------------------------------------------------------------------------

    def create_key(self, p: Principal, organization_id: str, name: str, grants: list[GrantSpec]) -> ApiKey:
        if not grants:
            raise Invalid("an API key needs at least one authorization")
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_api_keys", organization_id)
            return self._insert_key(conn, p, org["id"], name, grants)

    def _insert_key(self, conn: Tx, p: Principal, org_id: str, name: str, grants: list[GrantSpec]) -> ApiKey:
        key_id, secret, now = new_id(), new_secret(KEY_PREFIX), utcnow()
        row = {
            "id": key_id,
            "name": validate.name(name, "key name"),
            "secret_hash": hash_secret(secret),
            "organization_id": org_id,
            "created_by": p.user_id,
            "is_admin": False,
            "created_at": now,
        }
        q.insert_row(conn, "api_keys", **row)
        auths = [self._grant(conn, p, org_id, "api_key", key_id, g) for g in grants]
        key = ApiKey.from_row(row, auths)
        key.secret = secret
        return key

    def list_keys(self, p: Principal, organization_id: str, page: PageRequest) -> Page[ApiKey]:
        window = KEYS.open(page)
        with self.store.read() as conn:
            org = access.organization(conn, p, "manage_api_keys", organization_id)
            rows = q.page(
                conn, "api_keys", limit=window.limit, after=window.after_text(), organization_id=org["id"]
            )
            keys = KEYS.page(rows, window, lambda r: ApiKey.from_row(r, []))
            by_key: dict[str, list[Authorization]] = {k.id: k.authorizations for k in keys.items}
            for a in q.authorizations_of(conn, "api_key", by_key):
                by_key[a["subject_id"]].append(Authorization.from_row(a))
        return keys

    def list_all_keys(self, p: Principal, organization_id: str) -> builtins.list[ApiKey]:
        """Every key ``list_keys`` would page through, with its authorizations, in one read."""
        with self.store.read() as conn:
            org = access.organization(conn, p, "manage_api_keys", organization_id)
            keys = [ApiKey.from_row(r, []) for r in q.find(conn, "api_keys", organization_id=org["id"])]
            by_key = {k.id: k.authorizations for k in keys}
            for a in q.find(conn, "authorizations", organization_id=org["id"], subject_type="api_key"):
                if a["subject_id"] in by_key:
                    by_key[a["subject_id"]].append(Authorization.from_row(a))
        return keys

    def _key_row(self, conn: Tx, p: Principal, key_id: str) -> dict:  # type: ignore[type-arg]
        row = q.get(conn, "api_keys", validate.entity_id(key_id, "API key"))
        if row is None:
            raise NotFound(f"API key {key_id} not found")
        if row["organization_id"] is None:
            access.require_admin(p, "administrator keys")
        elif p.api_key_id != row["id"]:
            access.organization(conn, p, "manage_api_keys", row["organization_id"])
        return dict(row)

    def get_key(self, p: Principal, key_id: str) -> ApiKey:
        with self.store.read() as conn:
            row = self._key_row(conn, p, key_id)
            auths = [Authorization.from_row(a) for a in q.authorizations_of(conn, "api_key", [row["id"]])]
        return ApiKey.from_row(row, auths)

    def delete_key(self, p: Principal, key_id: str) -> None:
        with self.store.write() as conn:
            row = self._key_row(conn, p, key_id)
            q.delete_rows(conn, "authorizations", subject_type="api_key", subject_id=row["id"])
            q.delete_rows(conn, "api_keys", id=row["id"])

    def rotate_key(self, p: Principal, key_id: str) -> ApiKey:
        """A new secret for the same key id; the old secret stops working at once."""
        with self.store.write() as conn:
            row = self._key_row(conn, p, key_id)
            secret = new_secret(KEY_PREFIX)
            q.update_row(conn, "api_keys", row["id"], secret_hash=hash_secret(secret))
            auths = [Authorization.from_row(a) for a in q.authorizations_of(conn, "api_key", [row["id"]])]
        key = ApiKey.from_row(row, auths)
        key.secret = secret
        return key

    def clone_key(self, p: Principal, key_id: str, name: str | None = None) -> ApiKey:
        """A new key holding the same authorizations as an existing one."""
        with self.store.write() as conn:
            row = self._key_row(conn, p, key_id)
            if row["organization_id"] is None:
                raise Invalid("administrator keys cannot be cloned")
            grants = [
                GrantSpec(a["role"], a["resource_type"], a["resource_id"])
                for a in q.authorizations_of(conn, "api_key", [row["id"]])
            ]
            return self._insert_key(conn, p, row["organization_id"], name or f"{row['name']} (copy)", grants)

    # --- authorizations -------------------------------------------------------------------

    def _grant(
        self, conn: Tx, p: Principal, org_id: str, subject_type: str, subject_id: str, g: GrantSpec
    ) -> Authorization:
        _check_organization(org_id, g)
        validate_grant(g.role, g.resource_type)
        resource_id = validate.entity_id(g.resource_id, g.resource_type)
        if access.resource_organization(conn, g.resource_type, resource_id) != org_id:
            raise Invalid(f"{g.resource_type} {resource_id} does not belong to organization {org_id}")
        # the subject locked, so that the same grant made twice at once is inserted once
        q.lock_rows(conn, "users" if subject_type == "user" else "api_keys", [subject_id])
        existing = q.find_one(
            conn,
            "authorizations",
            subject_type=subject_type,
            subject_id=subject_id,
            role=g.role,
            resource_type=g.resource_type,
            resource_id=resource_id,
        )
        if existing is not None:
            return Authorization.from_row(existing)
        row = {
            "id": new_id(),
            "subject_type": subject_type,
            "subject_id": subject_id,
            "role": g.role,
            "resource_type": g.resource_type,
            "resource_id": resource_id,
            "organization_id": org_id,
            "created_at": utcnow(),
        }
        q.insert_row(conn, "authorizations", **row)
        return Authorization.from_row(row)

    def add_authorization(
        self, p: Principal, organization_id: str, subject_type: str, subject_id: str, grant: GrantSpec
    ) -> Authorization:
        if subject_type not in ("user", "api_key"):
            raise Invalid("subject_type must be 'user' or 'api_key'")
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", organization_id)
            table: q.Record = "users" if subject_type == "user" else "api_keys"
            subject = q.get(conn, table, validate.entity_id(subject_id, subject_type))
            if subject is None:
                raise NotFound(f"{subject_type} {subject_id} not found")
            if subject_type == "api_key" and subject["organization_id"] != org["id"]:
                raise Invalid(f"API key {subject_id} belongs to another organization")
            return self._grant(conn, p, org["id"], subject_type, subject["id"], grant)

    def remove_authorization(self, p: Principal, organization_id: str, authorization_id: str) -> None:
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", organization_id)
            auth_id = validate.entity_id(authorization_id, "authorization")
            if q.delete_rows(conn, "authorizations", id=auth_id, organization_id=org["id"]) == 0:
                raise NotFound(f"authorization {authorization_id} not found in organization {org['id']}")

    def _subject_type(self, conn: Tx, subject_id: str) -> str:
        subject_id = validate.entity_id(subject_id, "user or API key")
        if q.get(conn, "users", subject_id) is not None:
            return "user"
        if q.get(conn, "api_keys", subject_id) is not None:
            return "api_key"
        raise NotFound(f"no user or API key has id {subject_id}")

    def grant_to(
        self, p: Principal, organization_id: str, subject_id: str, grant: GrantSpec
    ) -> Authorization:
        """Like add_authorization, for a subject known only by id (a user's or an API key's)."""
        with self.store.read() as conn:
            subject_type = self._subject_type(conn, subject_id)
        return self.add_authorization(p, organization_id, subject_type, subject_id, grant)

    def revoke_from(self, p: Principal, organization_id: str, subject_id: str, grant: GrantSpec) -> None:
        """Removes the subject's authorization matching ``grant``."""
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", organization_id)
            self._revoke(conn, org["id"], subject_id, grant)

    def _revoke(self, conn: Tx, org_id: str, subject_id: str, grant: GrantSpec) -> None:
        _check_organization(org_id, grant)
        subject_type = self._subject_type(conn, subject_id)
        removed = q.delete_rows(
            conn,
            "authorizations",
            organization_id=org_id,
            subject_type=subject_type,
            subject_id=subject_id.lower(),
            role=grant.role,
            resource_type=grant.resource_type,
            resource_id=grant.resource_id.lower(),
        )
        if not removed:
            raise NotFound(
                f"{subject_type} {subject_id} holds no {grant.role} role"
                f" on {grant.resource_type} {grant.resource_id}"
            )

    def change_grant(
        self,
        p: Principal,
        organization_id: str,
        old_subject_id: str,
        old: GrantSpec,
        new_subject_id: str,
        new: GrantSpec,
    ) -> Authorization:
        """Replaces one authorization by another, in one transaction."""
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", organization_id)
            _check_organization(org["id"], new)
            self._revoke(conn, org["id"], old_subject_id, old)
            subject_type = self._subject_type(conn, new_subject_id)
            return self._grant(conn, p, org["id"], subject_type, new_subject_id.lower(), new)

    def keys_for_robot(self, p: Principal, machine_id: str) -> builtins.list[ApiKey]:
        """The API keys whose authorizations reach the machine."""
        with self.store.read() as conn:
            machine = access.machine(conn, p, "read_robot", machine_id)
            access.organization(conn, p, "manage_api_keys", machine["organization_id"])
            chain = {a["id"] for a in q.location_ancestors(conn, machine["location_id"])}
            reach = {machine["id"], machine["organization_id"], *chain}
            keys = q.find(conn, "api_keys", organization_id=machine["organization_id"])
            grants = q.authorizations_of(conn, "api_key", [k["id"] for k in keys])
        by_key: dict[str, builtins.list[Authorization]] = {}
        for a in grants:
            by_key.setdefault(a["subject_id"], []).append(Authorization.from_row(a))
        return [
            ApiKey.from_row(k, by_key[k["id"]])
            for k in keys
            if any(a.resource_id in reach for a in by_key.get(k["id"], []))
        ]

    def list_authorizations(
        self, p: Principal, organization_id: str, page: PageRequest
    ) -> Page[Authorization]:
        window = AUTHORIZATIONS.open(page)
        with self.store.read() as conn:
            org = access.organization(conn, p, "read_organization", organization_id)
            rows = q.page(
                conn,
                "authorizations",
                limit=window.limit,
                after=window.after_text(),
                organization_id=org["id"],
            )
        return AUTHORIZATIONS.page(rows, window, Authorization.from_row)

    def list_all_authorizations(
        self, p: Principal, organization_id: str, *, resource_ids: Collection[str] = ()
    ) -> builtins.list[Authorization]:
        """Every authorization ``list_authorizations`` would page through, in one statement; with
        ``resource_ids``, only those on these resources."""
        with self.store.read() as conn:
            org = access.organization(conn, p, "read_organization", organization_id)
            if resource_ids:
                rows = q.find(
                    conn, "authorizations", organization_id=org["id"], resource_id=set(resource_ids)
                )
            else:
                rows = q.find(conn, "authorizations", organization_id=org["id"])
        return [Authorization.from_row(r) for r in rows]

    def check_permissions(
        self,
        p: Principal,
        resource_type: str,
        resource_id: str,
        permissions: list[str],
        *,
        unknown_denied: bool = False,
    ) -> list[str]:
        """Which of the given permissions the caller holds on the resource. Unknown permission
        names are an error, or simply not granted with ``unknown_denied``."""
        unknown = sorted(set(permissions) - ALL_PERMISSIONS)
        if unknown and not unknown_denied:
            raise Invalid(f"unknown permissions: {', '.join(unknown)}")
        access.check_resource_type(resource_type)
        known = [perm for perm in permissions if perm in ALL_PERMISSIONS]
        if not known:
            return []
        with self.store.read() as conn:
            return _held(conn, p, resource_type, access.resource(conn, resource_type, resource_id), known)

    def permissions_held(
        self, p: Principal, asked: builtins.list[ResourcePermissions]
    ) -> builtins.list[ResourcePermissions]:
        """For each resource asked about, which of the given permissions the caller holds on it, in
        one read of a statement per resource type (and per permission, for the caller's reach).
        Unknown permission names are not held, and nothing is held on a resource that does not
        exist; an unknown resource type is an error, and so is asking about nothing."""
        if not asked:
            raise Invalid("nothing to check: name at least one resource and the permissions asked about")
        for item in asked:
            access.check_resource_type(item.resource_type)
        known = [[perm for perm in item.permissions if perm in ALL_PERMISSIONS] for item in asked]
        with self.store.read() as conn:
            rows = access.resources(
                conn,
                [
                    (item.resource_type, item.resource_id)
                    for item, perms in zip(asked, known, strict=True)
                    if perms
                ],
            )
            held = []
            for item, perms in zip(asked, known, strict=True):
                row = rows.get((item.resource_type, item.resource_id.lower()))
                granted = _held(conn, p, item.resource_type, row, perms) if row is not None else []
                held.append(ResourcePermissions(item.resource_type, item.resource_id, granted))
        return held

    # --- first start ----------------------------------------------------------------------

    def bootstrap(self, email: str, password: str | None, api_key: str | None) -> Bootstrap:
        """Create the first administrator and an administrator key, once (a server starting at the
        same moment on the same database that made them first wins)."""
        try:
            return self._bootstrap(email, password, api_key)
        except Taken:  # made first by a server starting at the same moment
            return Bootstrap(created=False, email=email)

    def _bootstrap(self, email: str, password: str | None, api_key: str | None) -> Bootstrap:
        with self.store.write() as conn:
            if q.count(conn, "users", is_admin=True) > 0:
                return Bootstrap(created=False, email=email)
            if api_key is not None and (len(api_key) < MIN_KEY_LENGTH or not _url_safe(api_key)):
                raise Invalid(
                    f"FLEETPORT_ADMIN_API_KEY must be at least {MIN_KEY_LENGTH} URL-safe characters"
                )
            password = password or new_secret()[:20]
            user = self._insert_user(conn, email, "Administrator", password, True)
            secret = api_key or new_secret(KEY_PREFIX)
            key_id = new_id()
            q.insert_row(
                conn,
                "api_keys",
                id=key_id,
                name="bootstrap admin key",
                secret_hash=hash_secret(secret),
                organization_id=None,
                created_by=user.id,
                is_admin=True,
                created_at=utcnow(),
            )
        return Bootstrap(created=True, email=user.email, password=password, api_key=secret, api_key_id=key_id)


def principal_of(conn: Tx, user_id: str | None, api_key_id: str | None) -> Principal | None:
    """The user (or else the API key) as it acts now, with no credential presented: for work it
    asked for earlier and that runs later (a reservation started when its deployment frees). None
    when it no longer exists."""
    if user_id is not None:
        rows = q.user_with_grants(conn, user_id)
        return _principal("user", rows, rows[0]["email"], user_id=user_id) if rows else None
    if api_key_id is not None:
        rows = q.api_key_with_grants(conn, api_key_id)
        return _principal("api_key", rows, rows[0]["name"], api_key_id=api_key_id) if rows else None
    return None


def _principal(
    kind: Literal["user", "api_key"],
    rows: list[Row],
    display: str,
    *,
    user_id: str | None = None,
    api_key_id: str | None = None,
) -> Principal:
    """A principal from a subject's rows joined with its grants (see store.queries)."""
    grants = tuple(
        Grant(r["role"], r["resource_type"], r["resource_id"], r["grant_org"]) for r in rows if r["role"]
    )
    return Principal(
        kind=kind,
        via="session" if kind == "user" else "api_key",
        id=rows[0]["id"],
        display=display,
        is_admin=bool(rows[0]["is_admin"]),
        grants=grants,
        user_id=user_id,
        api_key_id=api_key_id,
    )


def _held(conn: Tx, p: Principal, resource_type: str, row: Row, permissions: list[str]) -> list[str]:
    """The permissions, of those given (known ones, in their order), that the caller holds on the
    resource's row."""
    return [perm for perm in permissions if access.covers(p.scope(conn, perm), resource_type, row)]


def _bearer_kind(token: str) -> Literal["part", "user", "api_key"]:
    if token.startswith(PART_SECRET_PREFIX):
        return "part"
    if token.startswith(SESSION_PREFIX):
        return "user"
    return "api_key"


_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _url_safe(value: str) -> bool:
    return _URL_SAFE.fullmatch(value) is not None


def _check_organization(org_id: str, grant: GrantSpec) -> None:
    """A key's authorizations, and a role and the one it changes into, stay in one organization."""
    if grant.organization_id is not None and grant.organization_id.lower() != org_id:
        raise Invalid(
            f"an authorization in organization {org_id} cannot name organization {grant.organization_id}:"
            " every authorization of a key, and a role and the one it changes into, name the same"
            " organization"
        )
