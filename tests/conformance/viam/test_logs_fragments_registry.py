"""Part logs (paged and tailed), fragments, the registry and modules through the real AppClient."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from viam.app.app_client import AppClient, Fragment
from viam.proto.app import (
    GetFragmentHistoryRequest,
    GetRobotPartLogsRequest,
    Model,
    ModuleFileInfo,
    RegistryItemStatus,
    Visibility,
)
from viam.proto.app.packages import PackageType

from tests.conformance.viam.conftest import Viam, call
from tests.conformance.viam.test_fleet_methods import status_of


def _part(viam: Viam) -> tuple[str, str]:
    loc = call(viam, "create_location", viam.org.id, "Logs lab")
    robot_id = call(viam, "new_robot", "logger", loc.id)
    (main,) = call(viam, "get_robot_parts", robot_id)
    return robot_id, main.id


def _entries(n: int, start: datetime, level: str = "info", prefix: str = "line") -> list[dict[str, object]]:
    return [
        {
            "time": start + timedelta(milliseconds=i),
            "level": level,
            "message": f"{prefix} {i}",
            "logger_name": "rdk.test",
            "caller": {"File": "main.go", "Line": i + 1},
            "fields": [{"i": i}],
        }
        for i in range(n)
    ]


def test_part_logs_paging_and_filters(viam: Viam) -> None:
    _, part_id = _part(viam)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with viam.native(viam.key.secret or "") as fp:
        assert fp.logs.append(part_id, _entries(230, t0)) == 230
        assert fp.logs.append(part_id, _entries(20, t0 + timedelta(seconds=1), "error", "boom")) == 20

    default = call(viam, "get_robot_part_logs", part_id)
    assert len(default) == 100  # the client's default, over several pages
    assert default[0].message == "boom 19" and default[-1].message == "line 150"  # newest first
    every = call(viam, "get_robot_part_logs", part_id, num_log_entries=0)
    assert len(every) == 250 and len({(e.message, e.time) for e in every}) == 250
    errors_ = call(viam, "get_robot_part_logs", part_id, log_levels=["error"], num_log_entries=0)
    assert [e.message for e in errors_] == [f"boom {i}" for i in reversed(range(20))]
    found = call(viam, "get_robot_part_logs", part_id, filter="LINE 22", num_log_entries=0)
    assert sorted(e.message for e in found) == ["line 22"] + [f"line {i}" for i in range(220, 230)]
    assert found[0].caller["File"] == "main.go" and found[0].level == "info"
    assert status_of(viam, "get_robot_part_logs", part_id, log_levels=["loud"]) == Status.INVALID_ARGUMENT
    assert status_of(viam, "get_robot_part_logs", "01a1fb47-ff20-7964-9ad3-6a224f4b1444") == Status.NOT_FOUND
    assert call(viam, "get_robot_part_logs", _part(viam)[1], num_log_entries=0) == []  # ends, no loop


def test_tail_receives_every_new_entry_in_order(viam: Viam) -> None:
    _, part_id = _part(viam)
    t0 = datetime.now(UTC)
    written: list[str] = []

    def writer() -> None:
        with viam.native(viam.key.secret or "") as fp:
            for batch in range(10):
                entries = _entries(5, t0 + timedelta(seconds=batch), "info", f"b{batch}")
                entries[-1]["level"] = "error"
                fp.logs.append(part_id, entries)
                written.extend(str(e["message"]) for e in entries)
                time.sleep(0.02)

    async def collect(app: AppClient, errors_only: bool, want: int) -> list[str]:
        # the client opens the stream when iteration starts
        stream = await app.tail_robot_part_logs(part_id, errors_only=errors_only)
        got: list[str] = []
        try:
            async for batch in stream:
                assert batch, "a tail never yields an empty batch"
                got += [e.message for e in batch]
                if len(got) >= want:
                    return got
        finally:
            await stream._stream.aclose()  # type: ignore[attr-defined]  # how the client ends a tail
        return got

    async def scenario(app: AppClient) -> tuple[list[str], list[str]]:
        everything = asyncio.create_task(collect(app, False, 50))
        only_errors = asyncio.create_task(collect(app, True, 10))
        await asyncio.sleep(0.5)  # both streams reach the server before the first write
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            return await asyncio.wait_for(asyncio.gather(everything, only_errors), 20)
        finally:
            await asyncio.to_thread(thread.join)

    got, errs = viam.run(scenario)
    assert got == written
    assert errs == [m for m in written if m.endswith(" 4")]


def test_fragments(viam: Viam) -> None:
    config = {"components": [{"name": "cam", "type": "camera"}]}
    frag = call(viam, "create_fragment", viam.org.id, "camera kit", config)
    assert (frag.name, frag.fragment, frag.organization_owner, frag.public) == (
        "camera kit",
        config,
        viam.org.id,
        False,
    )
    assert call(viam, "get_fragment", frag.id).fragment == config
    updated = call(
        viam,
        "update_fragment",
        frag.id,
        "camera kit v2",
        {"components": []},
        visibility=Fragment.Visibility.PUBLIC,
    )
    assert (updated.name, updated.fragment, updated.visibility) == (
        "camera kit v2",
        {"components": []},
        Fragment.Visibility.PUBLIC,
    )
    assert frag.id in [f.id for f in call(viam, "list_fragments", viam.org.id)]
    history = call(viam, "get_fragment_history", frag.id)
    assert [h.old.name for h in history] == ["camera kit"] and history[0].old.fragment == config

    _, part_id = _part(viam)
    call(viam, "update_robot_part", part_id, "logger-main", {"fragments": [frag.id]})
    used = call(viam, "get_fragment", frag.id)
    assert (used.robot_part_count, used.organization_count) == (1, 1)
    assert status_of(viam, "delete_fragment", frag.id) == Status.FAILED_PRECONDITION
    call(viam, "update_robot_part", part_id, "logger-main", {"fragments": []})
    call(viam, "delete_fragment", frag.id)
    assert status_of(viam, "get_fragment", frag.id) == Status.NOT_FOUND


def test_registry_items(viam: Viam) -> None:
    call(viam, "create_registry_item", viam.org.id, "detector", PackageType.PACKAGE_TYPE_ML_MODEL)
    item_id = f"{viam.org.id}:detector"
    item = call(viam, "get_registry_item", item_id)
    assert (item.name, item.type, item.organization_id) == (
        "detector",
        PackageType.PACKAGE_TYPE_ML_MODEL,
        viam.org.id,
    )
    assert (
        status_of(viam, "create_registry_item", viam.org.id, "detector", PackageType.PACKAGE_TYPE_ML_MODEL)
        == Status.ALREADY_EXISTS
    )
    call(
        viam,
        "update_registry_item",
        item_id,
        PackageType.PACKAGE_TYPE_ML_MODEL,
        "finds things",
        Visibility.VISIBILITY_PUBLIC,
    )
    assert call(viam, "get_registry_item", item_id).description == "finds things"
    found = call(
        viam,
        "list_registry_items",
        viam.org.id,
        [PackageType.PACKAGE_TYPE_ML_MODEL],
        [Visibility.VISIBILITY_PUBLIC],
        [],
        [RegistryItemStatus.REGISTRY_ITEM_STATUS_IN_DEVELOPMENT],
        search_term="things",
    )
    assert [i.item_id for i in found] == [item_id]
    call(viam, "delete_registry_item", item_id)
    assert status_of(viam, "get_registry_item", item_id) == Status.NOT_FOUND


def test_modules(viam: Viam) -> None:
    module_id, url = call(viam, "create_module", viam.org.id, "hoverboard")
    assert module_id == f"{viam.org.id}:hoverboard" and url
    model = Model(api="rdk:component:base", model="acme:hoverboard:wheeled")
    call(viam, "update_module", module_id, "https://example.com/docs", "A base.", [model], "exec")
    content = bytes(range(256)) * 4000
    file_url = call(
        viam,
        "upload_module_file",
        ModuleFileInfo(module_id=module_id, version="1.0.0", platform="linux/amd64"),
        content,
    )
    assert file_url
    module = call(viam, "get_module", module_id)
    assert (module.description, module.entrypoint, [m.model for m in module.models]) == (
        "A base.",
        "exec",
        ["acme:hoverboard:wheeled"],
    )
    assert [(v.version, [f.platform for f in v.files]) for v in module.versions] == [
        ("1.0.0", ["linux/amd64"])
    ]
    assert module_id in [m.module_id for m in call(viam, "list_modules", viam.org.id)]
    with viam.native(viam.key.secret or "") as fp:  # the same file, downloaded through the native API
        received = io.BytesIO()
        assert fp.modules.download(module_id, "1.0.0", "linux/amd64", received) == len(content)
        assert received.getvalue() == content
    with pytest.raises(GRPCError) as caught:
        call(
            viam,
            "upload_module_file",
            ModuleFileInfo(module_id=module_id, version="not a version", platform="linux/amd64"),
            b"x",
        )
    assert caught.value.status == Status.INVALID_ARGUMENT


def test_page_tokens_on_the_wire(viam: Viam) -> None:
    """next_page_token is "" on the last page; a logs limit over the most a page holds is capped,
    not refused; a token from another listing, or garbage, is INVALID_ARGUMENT."""
    _, part_id = _part(viam)
    with viam.native(viam.key.secret or "") as fp:
        assert fp.logs.append(part_id, _entries(3, datetime(2026, 1, 1, tzinfo=UTC))) == 3
    frag = call(viam, "create_fragment", viam.org.id, "paged", {"n": 0})
    for n in (1, 2):
        call(viam, "update_fragment", frag.id, f"paged {n}", {"n": n})

    async def scenario(app: AppClient) -> tuple[Any, Any, Any, list[GRPCError]]:
        stub, metadata = app._app_client, app._metadata
        logs = await stub.GetRobotPartLogs(GetRobotPartLogsRequest(id=part_id, limit=2), metadata=metadata)
        capped = await stub.GetRobotPartLogs(
            GetRobotPartLogsRequest(id=part_id, limit=1_000_000), metadata=metadata
        )
        history = await stub.GetFragmentHistory(
            GetFragmentHistoryRequest(id=frag.id, page_limit=1), metadata=metadata
        )
        refused = []
        for token in ("garbage", "\x00", "A" * 5000, history.next_page_token):
            with pytest.raises(GRPCError) as caught:
                await stub.GetRobotPartLogs(
                    GetRobotPartLogsRequest(id=part_id, page_token=token), metadata=metadata
                )
            refused.append(caught.value)
        return logs, capped, history, refused

    logs, capped, history, refused = viam.run(scenario)
    assert len(logs.logs) == 2 and logs.next_page_token
    assert len(capped.logs) == 3 and capped.next_page_token == ""
    assert len(history.history) == 1 and history.next_page_token
    assert [e.status for e in refused] == [Status.INVALID_ARGUMENT] * 4
    assert "fragment-history, not of logs" in (refused[-1].message or "")
