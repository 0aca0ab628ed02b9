"""The registry, modules and the blob store in the core services (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from fleetport.blobs import Blobs
from fleetport.core.errors import Conflict, FailedPrecondition, Invalid, NotFound, PermissionDenied
from fleetport.core.fleet import Fleet
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal
from fleetport.core.registry import RegistryItem
from fleetport.store import queries as q
from tests.unit.core.helpers import Two, login

UNKNOWN = "00000000-0000-7000-8000-000000000000"


@pytest.fixture
def two(fleet: Fleet, admin: Principal) -> Two:
    """Acme (public namespace "acme", owned by ann) and Bob's (no namespace, owned by bob)."""
    for email in ("ann@example.com", "bob@example.com"):
        fleet.identity.create_user(admin, email, email.split("@")[0], "password1")
    a = fleet.organizations.create(login(fleet, "ann@example.com"), "Acme", public_namespace="acme")
    b = fleet.organizations.create(login(fleet, "bob@example.com"), "Bob's")
    return Two(login(fleet, "ann@example.com"), login(fleet, "bob@example.com"), a, b)


def _row_id(fleet: Fleet, org_id: str, name: str) -> str:
    with fleet.store.read() as conn:
        row = q.find_one(conn, "registry_items", organization_id=org_id, name=name)
    assert row is not None
    return str(row["id"])


def _counts(fleet: Fleet) -> tuple[int, int, int]:
    with fleet.store.read() as conn:
        return (
            q.count(conn, "registry_items"),
            q.count(conn, "registry_versions"),
            q.count(conn, "module_files"),
        )


def _blob_files(fleet: Fleet) -> list[Path]:
    root = fleet.blobs.root
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- the blob store -----------------------------------------------------------------------------


def test_blobs_are_content_addressed(tmp_path: Path) -> None:
    blobs = Blobs(tmp_path / "blobs")
    data = os.urandom(300_000)
    digest = blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert blobs.path(digest) == tmp_path / "blobs" / digest[:2] / digest[2:4] / digest
    assert blobs.exists(digest)
    with blobs.open(digest) as f:
        assert f.read() == data
    # the same content in pieces is the same blob, stored once
    assert blobs.put_stream(data[i : i + 65536] for i in range(0, len(data), 65536)) == (digest, len(data))
    assert blobs.put_stream([]) == (hashlib.sha256(b"").hexdigest(), 0)
    assert not any((tmp_path / "blobs" / "tmp").iterdir())  # no temporary file left behind
    # a writer left without commit leaves nothing
    with blobs.writer() as w:
        w.write(b"abandoned")
    assert not blobs.exists(hashlib.sha256(b"abandoned").hexdigest())
    assert not any((tmp_path / "blobs" / "tmp").iterdir())

    def failing() -> object:
        yield b"partial"
        raise OSError("source went away")

    with pytest.raises(OSError):
        blobs.put_stream(failing())  # type: ignore[arg-type]
    assert not blobs.exists(hashlib.sha256(b"partial").hexdigest())
    assert not any((tmp_path / "blobs" / "tmp").iterdir())

    missing = "0" * 64
    assert not blobs.exists(missing)
    with pytest.raises(NotFound):
        blobs.open(missing)
    for bad in ("../../etc/passwd", "ABC", "g" * 64, digest.upper()):
        with pytest.raises(Invalid):
            blobs.path(bad)


# --- items --------------------------------------------------------------------------------------


def test_item_ids_and_visibility(fleet: Fleet, two: Two) -> None:
    cam = fleet.registry.create_item(two.ann, two.a.id, "cam", "module")
    nav = fleet.registry.create_item(two.bob, two.b.id, "nav-model_2", "ml_model")
    assert cam.id == "acme:cam" and cam.public_namespace == "acme"
    assert nav.id == f"{two.b.id}:nav-model_2" and nav.public_namespace is None
    assert (cam.visibility, cam.status, cam.versions, cam.deprecated) == (
        "private",
        "in_development",
        [],
        False,
    )

    # every id form finds the item
    cam_uuid = _row_id(fleet, two.a.id, "cam")
    for ref in ("acme:cam", f"{two.a.id}:cam", cam_uuid, cam_uuid.upper()):
        assert fleet.registry.get_item(two.ann, ref).id == "acme:cam"
    for ref in (
        "acme:nav-model_2",
        "acme:Cam",
        "nobody:cam",
        f"{UNKNOWN}:cam",
        UNKNOWN,
        "cam",
        ":cam",
        "acme:",
    ):
        with pytest.raises(NotFound):
            fleet.registry.get_item(two.ann, ref)

    # private items: their organization only; public and unlisted ones: anyone signed in
    with pytest.raises(PermissionDenied):
        fleet.registry.get_item(two.bob, "acme:cam")

    def listed(p: Principal, org_id: str | None) -> set[str]:
        return {i.id for i in fleet.registry.list_items(p, org_id, PageRequest()).items}

    assert listed(two.bob, two.b.id) == {nav.id}
    assert listed(two.bob, None) == {nav.id}
    fleet.registry.update_item(
        two.ann, "acme:cam", type="module", description="A camera", visibility="public_unlisted"
    )
    assert fleet.registry.get_item(two.bob, "acme:cam").description == "A camera"
    assert listed(two.bob, two.b.id) == {nav.id}  # unlisted: not in others' listings
    assert listed(two.ann, two.a.id) == {"acme:cam"}
    updated = fleet.registry.update_item(
        two.ann, cam_uuid, type="module", description="A camera", visibility="public"
    )
    assert updated.public and updated.updated_at >= updated.created_at
    assert listed(two.bob, two.b.id) == {nav.id, "acme:cam"}
    assert listed(two.bob, None) == {nav.id, "acme:cam"}
    assert listed(two.ann, two.a.id) == {"acme:cam"}  # bob's model is private

    # reading is not changing
    with pytest.raises(PermissionDenied):
        fleet.registry.update_item(
            two.bob, "acme:cam", type="module", description="mine", visibility="public"
        )
    with pytest.raises(PermissionDenied):
        fleet.registry.delete_item(two.bob, "acme:cam")
    with pytest.raises(PermissionDenied):
        fleet.registry.deprecate_item(two.bob, "acme:cam", "gone")
    with pytest.raises(PermissionDenied):
        fleet.registry.create_item(two.bob, two.a.id, "intruder", "module")
    with pytest.raises(PermissionDenied):
        fleet.registry.list_items(two.bob, two.a.id, PageRequest())
    assert fleet.registry.get_item(two.ann, "acme:cam").description == "A camera"

    # names are unique in an organization, not across organizations
    with pytest.raises(Conflict):
        fleet.registry.create_item(two.ann, two.a.id, "cam", "ml_model")
    assert fleet.registry.create_item(two.bob, two.b.id, "cam", "module").id == f"{two.b.id}:cam"

    fleet.registry.delete_item(two.ann, "acme:cam")
    with pytest.raises(NotFound):
        fleet.registry.get_item(two.ann, cam_uuid)
    assert fleet.registry.create_item(two.ann, two.a.id, "cam", "archive").type == "archive"


def test_namespace_set_later_renames_the_id(fleet: Fleet, two: Two) -> None:
    item = fleet.registry.create_item(two.bob, two.b.id, "tool", "project")
    assert item.id == f"{two.b.id}:tool"
    fleet.organizations.update(two.bob, two.b.id, public_namespace="bobs")
    assert fleet.registry.get_item(two.bob, f"{two.b.id}:tool").id == "bobs:tool"
    assert fleet.registry.get_item(two.bob, "bobs:tool").type == "project"


def test_bad_items_are_refused_and_nothing_is_written(fleet: Fleet, two: Two) -> None:
    before = _counts(fleet)
    for name in ("", "has space", "-dash-first", "a:b", "a/b", "x" * 201, "tab\tname"):
        with pytest.raises(Invalid):
            fleet.registry.create_item(two.ann, two.a.id, name, "module")
    for kind in ("", "Module", "plugin"):
        with pytest.raises(Invalid, match="type"):
            fleet.registry.create_item(two.ann, two.a.id, "ok", kind)
    with pytest.raises(NotFound):
        fleet.registry.create_item(two.ann, UNKNOWN, "ok", "module")
    assert _counts(fleet) == before

    fleet.registry.create_item(two.ann, two.a.id, "ok", "ml_model")
    for kwargs in (
        {"type": "nope", "description": "", "visibility": "public"},
        {"type": "ml_model", "description": "", "visibility": "everyone"},
        {"type": "ml_model", "description": "x" * 10_001, "visibility": "public"},
        {"type": "ml_model", "description": "nul\x00", "visibility": "public"},
    ):
        with pytest.raises(Invalid):
            fleet.registry.update_item(two.ann, "acme:ok", **kwargs)
    item = fleet.registry.get_item(two.ann, "acme:ok")
    assert (item.type, item.description, item.visibility) == ("ml_model", "", "private")

    for kwargs in (
        {"types": ["widget"]},
        {"visibilities": ["hidden"]},
        {"platforms": ["windows"]},
        {"statuses": ["done"]},
        {"search_term": "x" * 201},
    ):
        with pytest.raises(Invalid):
            fleet.registry.list_items(two.ann, two.a.id, PageRequest(), **kwargs)  # type: ignore[arg-type]
    for page in ({"limit": -1}, {"limit": 1001}, {"cursor": "garbage"}):
        with pytest.raises(Invalid):
            fleet.registry.list_items(two.ann, two.a.id, PageRequest(**page))  # type: ignore[arg-type]


def test_list_filters_and_paging(fleet: Fleet, two: Two) -> None:
    reg = fleet.registry
    for name, kind, description in (
        ("lidar", "module", "Drivers for LIDAR units"),
        ("camera", "module", "USB cameras"),
        ("detector", "ml_model", "Finds people in CAMERA frames"),
        ("trainer", "ml_training", "100% of the training_script"),
        ("map", "slam_map", ""),
    ):
        reg.create_item(two.ann, two.a.id, name, kind)
        if description:
            reg.update_item(two.ann, f"acme:{name}", type=kind, description=description, visibility="private")
    reg.upload_module_file(two.ann, "acme:lidar", version="1.0.0", platform="linux/arm64", content=b"l-arm")
    reg.upload_module_file(two.ann, "acme:lidar", version="1.0.0", platform="linux/amd64", content=b"l-amd")
    reg.upload_module_file(two.ann, "acme:camera", version="0.1.0", platform="any", content=b"c-any")
    other = reg.create_item(two.bob, two.b.id, "bob-cam", "module")
    reg.update_item(two.bob, other.id, type="module", description="Bob's camera", visibility="public")
    reg.upload_module_file(two.bob, other.id, version="2.0.0", platform="linux/arm64", content=b"b-arm")

    def names(**filters: object) -> list[str]:
        return [i.name for i in reg.list_items(two.ann, two.a.id, PageRequest(), **filters).items]  # type: ignore[arg-type]

    assert names() == ["lidar", "camera", "detector", "trainer", "map", "bob-cam"]
    assert names(types=["module"]) == ["lidar", "camera", "bob-cam"]
    assert names(types=["ml_model", "slam_map"]) == ["detector", "map"]
    assert names(platforms=["linux/arm64"]) == ["lidar", "bob-cam"]
    assert names(platforms=["any", "linux/amd64"]) == ["lidar", "camera"]
    assert names(statuses=["published"]) == ["lidar", "camera", "bob-cam"]
    assert names(statuses=["in_development"]) == ["detector", "trainer", "map"]
    assert names(visibilities=["public"]) == ["bob-cam"]
    assert names(search_term="camera") == ["camera", "detector", "bob-cam"]  # name or description, any case
    assert names(search_term="CAM", types=["module"], platforms=["linux/arm64"]) == ["bob-cam"]
    assert names(search_term="100%") == ["trainer"]  # LIKE wildcards are taken literally
    assert names(search_term="_") == ["trainer"]
    assert names(search_term="nothing like it") == []
    assert [i.name for i in reg.list_items(two.bob, None, PageRequest(), types=["module"]).items] == [
        "bob-cam"
    ]

    seen, cursor, pages = [], None, 0
    while True:
        page = reg.list_items(two.ann, two.a.id, PageRequest(2, cursor))
        seen += [i.name for i in page.items]
        pages += 1
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == names() and pages == 3
    page = reg.list_items(two.ann, two.a.id, PageRequest(6))
    assert len(page.items) == 6 and page.next_cursor is None

    modules = reg.list_modules(two.ann, two.a.id)
    assert [m.id for m in modules] == ["acme:lidar", "acme:camera", other.id]
    lidar = modules[0]
    assert [(f.version, f.platform) for v in lidar.versions for f in v.files] == [
        ("1.0.0", "linux/amd64"),
        ("1.0.0", "linux/arm64"),
    ]


def test_deprecations(fleet: Fleet, two: Two) -> None:
    reg = fleet.registry
    module_id, _ = reg.create_module(two.ann, two.a.id, "old")
    for version in ("1.0.0", "1.1.0"):
        reg.upload_module_file(two.ann, module_id, version=version, platform="any", content=version.encode())

    item = reg.deprecate_item(two.ann, module_id, "use acme:new")
    assert (item.deprecated, item.deprecation_message) == (True, "use acme:new")
    assert reg.get_item(two.ann, module_id).deprecated
    item = reg.undeprecate_item(two.ann, module_id)
    assert (item.deprecated, item.deprecation_message) == (False, "")

    item = reg.deprecate_version(two.ann, module_id, "1.0.0", "has a bug")
    versions = {v.version: v for v in item.versions}
    assert (versions["1.0.0"].deprecated, versions["1.0.0"].deprecation_message) == (True, "has a bug")
    assert not versions["1.1.0"].deprecated and not item.deprecated
    item = reg.undeprecate_version(two.ann, module_id, "1.0.0")
    assert not any(v.deprecated for v in item.versions)

    with pytest.raises(NotFound, match=r"2\.0\.0"):
        reg.deprecate_version(two.ann, module_id, "2.0.0", "x")
    with pytest.raises(NotFound):
        reg.undeprecate_version(two.ann, module_id, "2.0.0")
    with pytest.raises(Invalid):
        reg.deprecate_version(two.ann, module_id, "latest", "x")
    with pytest.raises(NotFound):
        reg.deprecate_item(two.ann, "acme:missing", "x")
    with pytest.raises(PermissionDenied):
        reg.deprecate_version(two.bob, module_id, "1.0.0", "x")
    with pytest.raises(Invalid):
        reg.deprecate_item(two.ann, module_id, "x" * 10_001)
    assert not reg.get_item(two.ann, module_id).deprecated


# --- modules ------------------------------------------------------------------------------------


def test_module_upload_and_download(fleet: Fleet, two: Two) -> None:
    reg = fleet.registry
    module_id, url = reg.create_module(two.ann, two.a.id, "camera-driver")
    assert (module_id, url) == ("acme:camera-driver", "/api/v1/modules/acme:camera-driver")
    models = [{"api": "rdk:component:camera", "model": "acme:cams:fast", "description": "fast"}]
    assert (
        reg.update_module(
            two.ann,
            module_id,
            url="https://github.com/acme/camera-driver",
            description="Cameras",
            models=models,
            entrypoint="bin/run",
            visibility="public",
        )
        == url
    )

    content = os.urandom(1_500_000)
    download = reg.upload_module_file(
        two.ann, module_id, version="1.2.0", platform="linux/amd64", content=content
    )
    assert download == "/api/v1/modules/acme:camera-driver/versions/1.2.0/files/linux/amd64"
    file, size = reg.open_module_file(two.bob, module_id, "1.2.0", "linux/amd64")  # public: anyone reads
    with file:
        assert size == len(content) and file.read() == content

    module = reg.get_module(two.ann, f"{two.a.id}:camera-driver")
    assert (module.status, module.url, module.entrypoint, module.models) == (
        "published",
        "https://github.com/acme/camera-driver",
        "bin/run",
        models,
    )
    (version,) = module.versions
    (record,) = version.files
    assert (record.version, record.platform, record.size) == ("1.2.0", "linux/amd64", len(content))
    assert record.blob == hashlib.sha256(content).hexdigest() and record.uploaded_by == "ann@example.com"

    # a re-upload of the same version and platform replaces the file; other platforms add files
    replacement = os.urandom(1000)
    reg.upload_module_file(two.ann, module_id, version="1.2.0", platform="linux/amd64", content=replacement)
    reg.upload_module_file(two.ann, module_id, version="1.2.0", platform="any", content=b"portable")
    for version_name in ("1.10.0", "1.2.1-rc.1", "0.9.0", "1.2.1"):
        reg.upload_module_file(
            two.ann, module_id, version=version_name, platform="darwin/arm64", content=b"v"
        )
    file, size = reg.open_module_file(two.ann, module_id, "1.2.0", "linux/amd64")
    with file:
        assert (file.read(), size) == (replacement, 1000)
    module = reg.get_module(two.ann, module_id)
    assert [v.version for v in module.versions] == ["0.9.0", "1.2.0", "1.2.1-rc.1", "1.2.1", "1.10.0"]
    assert [f.platform for f in module.versions[1].files] == ["any", "linux/amd64"]
    assert _counts(fleet)[1:] == (5, 6)

    with pytest.raises(NotFound):
        reg.open_module_file(two.ann, module_id, "9.9.9", "linux/amd64")
    with pytest.raises(NotFound):
        reg.open_module_file(two.ann, module_id, "1.2.0", "linux/arm64")
    with pytest.raises(NotFound):
        reg.open_module_file(two.ann, "acme:nothing", "1.2.0", "any")
    with pytest.raises(Invalid):
        reg.open_module_file(two.ann, module_id, "1.2", "any")

    # a module may be deleted; its content stays in the blob store (other records may share it)
    reg.delete_item(two.ann, module_id)
    assert _counts(fleet) == (0, 0, 0)
    assert fleet.blobs.exists(hashlib.sha256(content).hexdigest())
    with pytest.raises(NotFound):
        reg.get_module(two.ann, module_id)


def test_bad_uploads_write_nothing(fleet: Fleet, two: Two) -> None:
    reg = fleet.registry
    module_id, _ = reg.create_module(two.ann, two.a.id, "driver")
    reg.create_item(two.ann, two.a.id, "weights", "ml_model")
    before, blobs = _counts(fleet), _blob_files(fleet)
    content = b"never stored"
    for kwargs, error in (
        ({"version": "1.0", "platform": "linux/amd64"}, Invalid),
        ({"version": "v1.0.0", "platform": "linux/amd64"}, Invalid),
        ({"version": "01.0.0", "platform": "linux/amd64"}, Invalid),
        ({"version": "1.0.0", "platform": "linux"}, Invalid),
        ({"version": "1.0.0", "platform": "Linux/AMD64"}, Invalid),
        ({"version": "1.0.0", "platform": "linux/amd64/v8"}, Invalid),
        ({"version": "1.0.0", "platform": ""}, Invalid),
    ):
        with pytest.raises(error):
            reg.upload_module_file(two.ann, module_id, content=content, **kwargs)
    with pytest.raises(PermissionDenied):
        reg.upload_module_file(two.bob, module_id, version="1.0.0", platform="any", content=content)
    with pytest.raises(NotFound):
        reg.upload_module_file(two.ann, "acme:missing", version="1.0.0", platform="any", content=content)
    with pytest.raises(NotFound, match="not a module"):
        reg.upload_module_file(two.ann, "acme:weights", version="1.0.0", platform="any", content=content)
    assert _counts(fleet) == before and _blob_files(fleet) == blobs
    assert not fleet.blobs.exists(hashlib.sha256(content).hexdigest())

    with pytest.raises(FailedPrecondition):  # content that never reached the blob store
        reg.add_module_file(two.ann, module_id, version="1.0.0", platform="any", blob="0" * 64, size=1)
    assert _counts(fleet) == before

    # module settings are checked before anything changes
    for kwargs in (
        {"url": "ftp://example.com/x"},
        {"url": "not a url"},
        {"models": [{"api": "rdk:component:camera"}]},
        {"models": ["rdk:component:camera"]},
        {"models": [{"api": "", "model": "x"}]},
        {"entrypoint": "run\nnow"},
        {"visibility": "secret"},
    ):
        args = {
            "url": "",
            "description": "",
            "models": [],
            "entrypoint": "",
            "visibility": "private",
            **kwargs,
        }
        with pytest.raises(Invalid):
            reg.update_module(two.ann, module_id, **args)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="not a module"):
        reg.get_module(two.ann, "acme:weights")
    module: RegistryItem = reg.get_module(two.ann, module_id)
    assert (module.url, module.models, module.status, module.versions) == ("", [], "in_development", [])

    # the type of an item with versions does not change
    reg.upload_module_file(two.ann, module_id, version="1.0.0", platform="any", content=b"ok")
    with pytest.raises(FailedPrecondition):
        reg.update_item(two.ann, module_id, type="archive", description="", visibility="private")
    assert reg.get_item(two.ann, module_id).type == "module"
