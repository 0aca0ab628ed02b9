"""The registry: items an organization publishes (modules, ML models, training scripts, ...), their
versions, and the files of module versions, kept in the blob store.

An item is named within its organization. Its id is ``namespace:name`` when the organization has
a public namespace and ``<organization id>:name`` otherwise; every id form, and the item's row
UUID, finds it. An item is private (its organization's members read it), public (anyone signed
in reads it, and it shows in everyone's listings) or public_unlisted (anyone signed in reads it by
id; it shows only in its organization's listings). Changes need update_organization on the item's
organization.

Types (``ITEM_TYPES``): module, ml_model, ml_training, slam_map, archive, project. Statuses:
in_development (new), published (a module with an uploaded file). A module version is a semantic
version ("1.2.3", optionally with a pre-release "-rc.1" and build "+abc" part); a module file is
one version's build for one platform ("linux/amd64", "linux/arm64", "darwin/arm64", ... or "any").
"""

from __future__ import annotations

import builtins
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from fleetport.blobs import Blobs
from fleetport.core import access, validate
from fleetport.core.calls import long_running
from fleetport.core.errors import Conflict, FailedPrecondition, Invalid, NotFound
from fleetport.core.ids import is_uuid, new_id
from fleetport.core.models import Row, as_utc, utcnow
from fleetport.core.pages import Listing, Page, PageRequest, row_id
from fleetport.core.permissions import Principal, deny
from fleetport.store import Store, Tx
from fleetport.store import catalog as c
from fleetport.store import queries as q

ITEM_TYPES: tuple[str, ...] = ("module", "ml_model", "ml_training", "slam_map", "archive", "project")
VISIBILITIES: tuple[str, ...] = ("private", "public", "public_unlisted")
STATUSES: tuple[str, ...] = ("in_development", "published")
ITEMS = Listing("registry-items", default=100, maximum=1000)
READ_BATCH = ITEMS.maximum  # rows a whole listing reads per statement
DESCRIPTION_MAX = 10_000
MESSAGE_MAX = 10_000
SEARCH_MAX = 200
MODELS_MAX = 1000
MODULES_API = "/api/v1/modules"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_VERSION = re.compile(
    r"^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_PLATFORM = re.compile(r"^(?:any|[a-z0-9_]{1,31}/[a-z0-9_]{1,31})$")
_REF_MAX = 300


@dataclass
class ModuleFile:
    version: str
    platform: str
    size: int
    blob: str  # sha256 of the content in the blob store
    uploaded_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> ModuleFile:
        return cls(
            r["version"], r["platform"], int(r["size"]), r["blob"], r["uploaded_by"], as_utc(r["created_at"])
        )


@dataclass
class RegistryVersion:
    version: str
    deprecated: bool
    deprecation_message: str
    files: list[ModuleFile]
    created_at: datetime


@dataclass
class RegistryItem:
    id: str  # "namespace:name" when the organization has a public namespace, else "<org-id>:name"
    organization_id: str
    public_namespace: str | None
    name: str
    type: str
    visibility: str
    description: str
    url: str
    status: str
    entrypoint: str
    models: list[dict[str, Any]]
    deprecated: bool
    deprecation_message: str
    versions: list[RegistryVersion]
    created_at: datetime
    updated_at: datetime
    total_robot_usage: int = 0
    total_organization_usage: int = 0

    @property
    def public(self) -> bool:
        return self.visibility == "public"


# --- checks on values ---------------------------------------------------------------------------


def item_id_of(row: Row) -> str:
    return f"{row['public_namespace'] or row['organization_id']}:{row['name']}"


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise Invalid(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def check_type(value: str) -> str:
    return _one_of(value, ITEM_TYPES, "registry item type")


def check_visibility(value: str) -> str:
    return _one_of(value, VISIBILITIES, "visibility")


def check_status(value: str) -> str:
    return _one_of(value, STATUSES, "status")


def check_name(value: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or len(value) > validate.NAME_MAX:
        raise Invalid(
            f"registry item name {value!r} is invalid: use 1-{validate.NAME_MAX} letters, digits, "
            "dashes and underscores, starting with a letter or digit"
        )
    return value


def check_version(value: str) -> str:
    if not isinstance(value, str) or len(value) > 64 or not _VERSION.match(value):
        raise Invalid(f"version {value!r} is not a semantic version like 1.2.3 (or 1.2.3-rc.1)")
    return value


def check_platform(value: str) -> str:
    if not isinstance(value, str) or not _PLATFORM.match(value):
        raise Invalid(
            f"platform {value!r} is invalid: use os/architecture like linux/amd64, linux/arm64, "
            "darwin/arm64, or any"
        )
    return value


def _text(value: str, what: str, limit: int, *, lines: bool = True) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string")
    if len(value) > limit:
        raise Invalid(f"{what} is {len(value)} characters; the limit is {limit}")
    allowed = "\n\r\t" if lines else ""
    if any(ord(ch) < 32 and ch not in allowed for ch in value):
        raise Invalid(f"{what} must not contain control characters")
    return value


def _url(value: str) -> str:
    _text(value, "url", 2048, lines=False)
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Invalid(f"url {value!r} is not an http or https URL")
    return value


def _models(value: Sequence[Any]) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple):
        raise Invalid("models must be a list of objects with an api and a model")
    if len(value) > MODELS_MAX:
        raise Invalid(f"a module lists at most {MODELS_MAX} models, got {len(value)}")
    models = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise Invalid(f"models[{i}] must be an object with an api and a model")
        for key in ("api", "model"):
            text = entry.get(key)
            if not isinstance(text, str) or not text.strip() or len(text) > 512:
                raise Invalid(f'models[{i}].{key} must be a non-empty string like "rdk:component:camera"')
        models.append(dict(entry))
    validate.json_object({"models": models}, "models")
    return models


def _version_key(version: str) -> tuple[int, int, int, int, str]:
    m = _VERSION.match(version)
    if m is None:  # stored versions were checked; keep any other at the end
        return (1 << 30, 0, 0, 0, version)
    pre = m.group(4)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre or "")


def _strings(values: Iterable[str], check: Any) -> builtins.list[str]:
    if isinstance(values, str):
        values = [values]
    return [check(v) for v in values]


@dataclass(frozen=True)
class _ItemFilter:
    """What a registry listing narrows its items to, checked."""

    types: builtins.list[str]
    visibilities: builtins.list[str]
    platforms: builtins.list[str]
    statuses: builtins.list[str]
    search: str

    @classmethod
    def of(
        cls,
        types: Collection[str],
        visibilities: Collection[str],
        platforms: Collection[str],
        statuses: Collection[str],
        search_term: str,
    ) -> _ItemFilter:
        return cls(
            _strings(types, check_type),
            _strings(visibilities, check_visibility),
            _strings(platforms, check_platform),
            _strings(statuses, check_status),
            _text(search_term or "", "search_term", SEARCH_MAX, lines=False).strip(),
        )


class Registry:
    def __init__(self, store: Store, blobs: Blobs) -> None:
        self.store = store
        self.blobs = blobs

    # --- loading and checking ----------------------------------------------------------------

    def _find(self, conn: Tx, item_id: str) -> Row:
        row: Row | None = None
        if isinstance(item_id, str) and len(item_id) <= _REF_MAX and item_id.isprintable():
            if is_uuid(item_id) and ":" not in item_id:
                row = c.registry_item(conn, item_id.lower())
            elif ":" in item_id:
                owner, name = item_id.split(":", 1)
                if is_uuid(owner):
                    row = c.registry_item_named(conn, name, organization_id=owner.lower())
                elif owner:
                    row = c.registry_item_named(conn, name, namespace=owner)
        if row is None:
            raise NotFound(
                f"registry item {item_id!r} not found (name items as namespace:name, "
                "organization-id:name or by their UUID)"
            )
        return row

    def _readable(self, conn: Tx, p: Principal, item_id: str) -> Row:
        row = self._find(conn, item_id)
        if row["visibility"] in ("public", "public_unlisted"):
            return row
        if not p.scope(conn, "read_organization").covers_organization(row["organization_id"]):
            raise deny("read_organization", f"the organization of registry item {item_id}")
        return row

    def _writable(self, conn: Tx, p: Principal, item_id: str) -> Row:
        row = self._readable(conn, p, item_id)
        if not p.scope(conn, "update_organization").covers_organization(row["organization_id"]):
            raise deny("update_organization", f"the organization of registry item {item_id}")
        return row

    def _writable_locked(self, conn: Tx, p: Principal, item_id: str) -> Row:
        """``_writable``, the item locked and read once it is: its type and its versions are read
        and then changed (``store.locks``)."""
        q.lock_rows(conn, "registry_items", [self._writable(conn, p, item_id)["id"]])
        return self._writable(conn, p, item_id)

    @staticmethod
    def _module(row: Row, module_id: str) -> Row:
        if row["type"] != "module":
            raise NotFound(f"{module_id} is a registry item of type {row['type']}, not a module")
        return row

    def _build(self, conn: Tx, rows: Sequence[Row]) -> builtins.list[RegistryItem]:
        ids = [r["id"] for r in rows]
        files: dict[tuple[str, str], builtins.list[ModuleFile]] = defaultdict(list)
        for f in c.module_files(conn, ids):
            files[(f["item_id"], f["version"])].append(ModuleFile.from_row(f))
        versions: dict[str, builtins.list[RegistryVersion]] = defaultdict(list)
        for v in c.registry_versions(conn, ids):
            versions[v["item_id"]].append(
                RegistryVersion(
                    v["version"],
                    bool(v["deprecated"]),
                    v["deprecation_message"],
                    files.get((v["item_id"], v["version"]), []),
                    as_utc(v["created_at"]),
                )
            )
        items = []
        for r in rows:
            item_versions = sorted(versions.get(r["id"], []), key=lambda v: _version_key(v.version))
            items.append(
                RegistryItem(
                    id=item_id_of(r),
                    organization_id=r["organization_id"],
                    public_namespace=r["public_namespace"],
                    name=r["name"],
                    type=r["type"],
                    visibility=r["visibility"],
                    description=r["description"],
                    url=r["url"],
                    status=r["status"],
                    entrypoint=r["entrypoint"],
                    models=builtins.list(r["models"] or []),
                    deprecated=bool(r["deprecated"]),
                    deprecation_message=r["deprecation_message"],
                    versions=item_versions,
                    created_at=as_utc(r["created_at"]),
                    updated_at=as_utc(r["updated_at"]),
                )
            )
        return items

    def _reload(self, conn: Tx, item_uuid: str) -> RegistryItem:
        row = c.registry_item(conn, item_uuid)
        assert row is not None
        return self._build(conn, [row])[0]

    # --- items -------------------------------------------------------------------------------

    def create_item(self, p: Principal, organization_id: str, name: str, type: str) -> RegistryItem:
        """A new private item, in development. Conflict if the organization has one of that name."""
        name, type = check_name(name), check_type(type)
        now = utcnow()
        org_id = validate.entity_id(organization_id, "organization")
        taken = f"organization {org_id} already has a registry item named {name!r}"
        with self.store.write(conflict=taken) as conn:  # or created meanwhile by another request
            org = access.organization(conn, p, "update_organization", org_id)
            if c.registry_item_named(conn, name, organization_id=org["id"]) is not None:
                raise Conflict(taken)
            row = {
                "id": new_id(),
                "organization_id": org["id"],
                "name": name,
                "type": type,
                "visibility": "private",
                "description": "",
                "url": "",
                "status": "in_development",
                "entrypoint": "",
                "models": [],
                "deprecated": False,
                "deprecation_message": "",
                "created_at": now,
                "updated_at": now,
            }
            q.insert_row(conn, "registry_items", **row)
            return self._build(conn, [{**row, "public_namespace": org["public_namespace"]}])[0]

    def get_item(self, p: Principal, item_id: str) -> RegistryItem:
        with self.store.read() as conn:
            return self._build(conn, [self._readable(conn, p, item_id)])[0]

    def update_item(
        self, p: Principal, item_id: str, *, type: str, description: str, visibility: str
    ) -> RegistryItem:
        changes = {
            "type": check_type(type),
            "description": _text(description, "description", DESCRIPTION_MAX),
            "visibility": check_visibility(visibility),
        }
        with self.store.write() as conn:
            row = self._writable_locked(conn, p, item_id)
            if changes["type"] != row["type"] and q.count(conn, "registry_versions", item_id=row["id"]):
                raise FailedPrecondition(
                    f"registry item {item_id} has versions: its type ({row['type']}) cannot change"
                )
            q.update_row(conn, "registry_items", row["id"], updated_at=utcnow(), **changes)
            return self._reload(conn, row["id"])

    def list_items(
        self,
        p: Principal,
        organization_id: str | None,
        page: PageRequest,
        *,
        types: Collection[str] = (),
        visibilities: Collection[str] = (),
        platforms: Collection[str] = (),
        statuses: Collection[str] = (),
        search_term: str = "",
    ) -> Page[RegistryItem]:
        """The organization's items (without one: the items of every organization the caller
        reads) and public items of every organization, in creation order. Filters combine with
        AND, the values of one filter with OR; ``platforms`` match items with a module file for one
        of them; ``search_term`` matches name or description, ignoring case."""
        wanted = _ItemFilter.of(types, visibilities, platforms, statuses, search_term)
        window = ITEMS.open(page)
        with self.store.read() as conn:
            rows = self._item_rows(conn, p, organization_id, wanted, window.after_text(), window.limit)
            rows, next_cursor = ITEMS.cut(rows, window, row_id)
            items = self._build(conn, rows)
        return Page(items, next_cursor)

    def list_all_items(
        self,
        p: Principal,
        organization_id: str | None,
        *,
        types: Collection[str] = (),
        visibilities: Collection[str] = (),
        platforms: Collection[str] = (),
        statuses: Collection[str] = (),
        search_term: str = "",
        cursor: str | None = None,
    ) -> builtins.list[RegistryItem]:
        """Every item ``list_items`` would page through from ``cursor`` on, in one read."""
        wanted = _ItemFilter.of(types, visibilities, platforms, statuses, search_term)
        after = ITEMS.open(PageRequest(cursor=cursor)).after_text()
        batch = READ_BATCH
        with self.store.read() as conn:
            found: builtins.list[Row] = []
            while True:
                rows = self._item_rows(conn, p, organization_id, wanted, after, batch)
                found += rows[:batch]
                if len(rows) <= batch:
                    return self._build(conn, found)
                after = str(rows[batch - 1]["id"])

    def _item_rows(
        self,
        conn: Tx,
        p: Principal,
        organization_id: str | None,
        wanted: _ItemFilter,
        after: str | None,
        limit: int,
    ) -> Sequence[Row]:
        """The matching item rows after ``after``: ``limit`` of them and one more if more follow."""
        org_ids: Collection[str] | None
        if organization_id:
            org_ids = [access.organization(conn, p, "read_organization", organization_id)["id"]]
        else:
            scope = p.scope(conn, "read_organization")
            org_ids = None if scope.everything else scope.organizations
        rows = c.registry_items_page(
            conn,
            limit=limit,
            after=after,
            organization_ids=org_ids,
            types=wanted.types,
            visibilities=wanted.visibilities,
            statuses=wanted.statuses,
            platforms=wanted.platforms,
            search=wanted.search,
        )
        return rows

    def delete_item(self, p: Principal, item_id: str) -> None:
        """Deletes the item, its versions and the records of its files. (The files' content stays
        in the blob store, which other records may share.)"""
        with self.store.write() as conn:
            row = self._writable(conn, p, item_id)
            q.delete_rows(conn, "module_files", item_id=row["id"])
            q.delete_rows(conn, "registry_versions", item_id=row["id"])
            q.delete_rows(conn, "registry_items", id=row["id"])

    def _set_item_deprecation(
        self, p: Principal, item_id: str, deprecated: bool, message: str
    ) -> RegistryItem:
        message = _text(message or "", "deprecation message", MESSAGE_MAX)
        with self.store.write() as conn:
            row = self._writable(conn, p, item_id)
            q.update_row(
                conn,
                "registry_items",
                row["id"],
                deprecated=deprecated,
                deprecation_message=message,
                updated_at=utcnow(),
            )
            return self._reload(conn, row["id"])

    def deprecate_item(self, p: Principal, item_id: str, message: str = "") -> RegistryItem:
        return self._set_item_deprecation(p, item_id, True, message)

    def undeprecate_item(self, p: Principal, item_id: str) -> RegistryItem:
        return self._set_item_deprecation(p, item_id, False, "")

    def _set_version_deprecation(
        self, p: Principal, item_id: str, version: str, deprecated: bool, message: str
    ) -> RegistryItem:
        version = check_version(version)
        message = _text(message or "", "deprecation message", MESSAGE_MAX)
        with self.store.write() as conn:
            row = self._writable(conn, p, item_id)
            changed = q.update_where(
                conn,
                "registry_versions",
                {"item_id": row["id"], "version": version},
                deprecated=deprecated,
                deprecation_message=message,
            )
            if not changed:
                raise NotFound(f"registry item {item_id} has no version {version}")
            q.update_row(conn, "registry_items", row["id"], updated_at=utcnow())
            return self._reload(conn, row["id"])

    def deprecate_version(self, p: Principal, item_id: str, version: str, message: str = "") -> RegistryItem:
        return self._set_version_deprecation(p, item_id, version, True, message)

    def undeprecate_version(self, p: Principal, item_id: str, version: str) -> RegistryItem:
        return self._set_version_deprecation(p, item_id, version, False, "")

    # --- modules -----------------------------------------------------------------------------

    @staticmethod
    def module_url(module_id: str) -> str:
        """The module's address in the native API."""
        return f"{MODULES_API}/{module_id}"

    @staticmethod
    def module_file_url(module_id: str, version: str, platform: str) -> str:
        """Where the native API serves (GET) and takes (PUT) one file of a module version."""
        return f"{MODULES_API}/{module_id}/versions/{version}/files/{platform}"

    def create_module(self, p: Principal, organization_id: str, name: str) -> tuple[str, str]:
        """A new registry item of type module; returns its id and its native API address."""
        item = self.create_item(p, organization_id, name, "module")
        return item.id, self.module_url(item.id)

    def update_module(
        self,
        p: Principal,
        module_id: str,
        *,
        url: str,
        description: str,
        models: builtins.list[dict[str, Any]],
        entrypoint: str,
        visibility: str,
    ) -> str:
        """Sets the module's source URL, description, models, entrypoint and visibility; returns
        its native API address."""
        changes = {
            "url": _url(url),
            "description": _text(description, "description", DESCRIPTION_MAX),
            "models": _models(models),
            "entrypoint": _text(entrypoint, "entrypoint", 1024, lines=False),
            "visibility": check_visibility(visibility),
        }
        with self.store.write() as conn:
            row = self._module(self._writable(conn, p, module_id), module_id)
            q.update_row(conn, "registry_items", row["id"], updated_at=utcnow(), **changes)
            return self.module_url(item_id_of(row))

    def get_module(self, p: Principal, module_id: str) -> RegistryItem:
        with self.store.read() as conn:
            return self._build(conn, [self._module(self._readable(conn, p, module_id), module_id)])[0]

    def list_modules(self, p: Principal, organization_id: str | None) -> builtins.list[RegistryItem]:
        """The organization's modules and every organization's public modules."""
        modules: builtins.list[RegistryItem] = []
        cursor = None
        while True:
            page = self.list_items(p, organization_id, PageRequest(ITEMS.maximum, cursor), types=("module",))
            modules += page.items
            cursor = page.next_cursor
            if not cursor:
                return modules

    def check_upload(self, p: Principal, module_id: str, *, version: str, platform: str) -> None:
        """Raises what ``upload_module_file`` would raise for these arguments, before any content
        is sent: servers call it before they receive a large body."""
        check_version(version)
        check_platform(platform)
        with self.store.read() as conn:
            self._module(self._writable(conn, p, module_id), module_id)

    @long_running
    def upload_module_file(
        self, p: Principal, module_id: str, *, version: str, platform: str, content: bytes
    ) -> str:
        """Stores one version's file for one platform (replacing an earlier upload of the same
        version and platform), creates the version if it is new and marks the module published.
        Returns the file's download address."""
        if not isinstance(content, bytes | bytearray | memoryview):
            raise Invalid("module file content must be bytes")
        self.check_upload(p, module_id, version=version, platform=platform)
        digest = self.blobs.put(bytes(content))
        return self.add_module_file(
            p, module_id, version=version, platform=platform, blob=digest, size=len(content)
        )

    def add_module_file(
        self, p: Principal, module_id: str, *, version: str, platform: str, blob: str, size: int
    ) -> str:
        """Like ``upload_module_file`` for content already in the blob store (a server that
        streamed a request body there)."""
        version, platform = check_version(version), check_platform(platform)
        if not self.blobs.exists(blob):
            raise FailedPrecondition(f"blob {blob} is not in the blob store: upload the content first")
        if not isinstance(size, int) or size < 0:
            raise Invalid(f"size must be a non-negative integer, got {size!r}")
        now = utcnow()
        # the same version uploaded at the same moment
        raced = f"another upload of {module_id} {version} was recorded at the same time: try again"
        with self.store.write(conflict=raced) as conn:
            row = self._module(self._writable_locked(conn, p, module_id), module_id)
            if q.find_one(conn, "registry_versions", item_id=row["id"], version=version) is None:
                q.insert_row(
                    conn,
                    "registry_versions",
                    id=new_id(),
                    item_id=row["id"],
                    version=version,
                    deprecated=False,
                    deprecation_message="",
                    created_at=now,
                )
            file = {"blob": blob, "size": size, "uploaded_by": p.display, "created_at": now}
            where = {"item_id": row["id"], "version": version, "platform": platform}
            if not q.update_where(conn, "module_files", where, **file):
                q.insert_row(conn, "module_files", id=new_id(), **where, **file)
            q.update_row(conn, "registry_items", row["id"], status="published", updated_at=now)
            return self.module_file_url(item_id_of(row), version, platform)

    def open_module_file(
        self, p: Principal, module_id: str, version: str, platform: str
    ) -> tuple[BinaryIO, int]:
        """The content of one version's file for one platform, opened for reading (the caller
        closes it), and its size."""
        version, platform = check_version(version), check_platform(platform)
        with self.store.read() as conn:
            row = self._module(self._readable(conn, p, module_id), module_id)
            file = q.find_one(conn, "module_files", item_id=row["id"], version=version, platform=platform)
        if file is None:
            raise NotFound(f"module {module_id} has no file for version {version} and platform {platform}")
        try:
            return self.blobs.open(file["blob"]), int(file["size"])
        except NotFound:
            raise NotFound(
                f"the content of module {module_id} {version} {platform} is missing from the blob store"
            ) from None
