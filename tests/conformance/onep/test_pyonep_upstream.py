"""The upstream pyonep client, unmodified, next to fleetport.onep: the same scenario against a real
server must give the same results, and every method must put the same request on the wire.

pyonep is not a dependency: its source is taken from ``FLEETPORT_PYONEP_SRC`` (a checkout of
github.com/exosite-labs/pyonep with ``pyonep/onep.py``, or a bare git repository of it, from which
``git archive HEAD pyonep`` exports the package). pyonep needs ``requests``. The module is skipped only
when one of the two is missing.
"""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import fleetport.onep
from fleetport.onep.exceptions import OneException
from tests.conformance.onep.client import (
    INFINITE,
    PROVISION_CALLS,
    RPC_CALLS,
    Captured,
    CaptureServer,
    capture_server,
    client_for,
    open_root,
)
from tests.conftest import RunningServer

pytest.importorskip("requests", reason="pyonep needs the requests package, which is not installed")


def _source() -> Path:
    configured = os.environ.get("FLEETPORT_PYONEP_SRC")
    if not configured or not Path(configured).exists():
        pytest.skip(
            f"pyonep source not found (FLEETPORT_PYONEP_SRC={configured!r}): set FLEETPORT_PYONEP_SRC to a "
            "checkout or a bare git repository of github.com/exosite-labs/pyonep"
        )
    return Path(configured)


def _package_parent(source: Path, scratch: Path) -> Path:
    """A directory holding the ``pyonep`` package: the checkout itself, or an export of a git repository."""
    if (source / "pyonep" / "onep.py").is_file():
        return source
    if (source / ".git").is_dir():
        source = source / ".git"
    archive = subprocess.run(
        ["git", f"--git-dir={source}", "archive", "--format=tar", "HEAD", "pyonep"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(scratch, filter="data")
    assert (scratch / "pyonep" / "onep.py").is_file(), f"no pyonep/onep.py in {source}"
    return scratch


@pytest.fixture(scope="module")
def pyonep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    parent = str(_package_parent(_source(), tmp_path_factory.mktemp("pyonep")))
    sys.path.insert(0, parent)
    try:
        module = importlib.import_module("pyonep")
        assert Path(module.__file__ or "").is_relative_to(parent)
        yield module
    finally:
        sys.path.remove(parent)
        for name in [n for n in sys.modules if n == "pyonep" or n.startswith("pyonep.")]:
            del sys.modules[name]


def upstream_for(pyonep: ModuleType, url: str, **options: Any) -> Any:
    host, port = url.removeprefix("http://").split(":")
    return pyonep.OnepV1(host=host, port=port, https=False, **options)


# -- the same scenario through both clients, against a real server


def scenario(o: Any, cik: str) -> list[Any]:
    """Everything the scenario returns, in order; a raised error is recorded as (class name, message)."""
    out: list[Any] = []

    def attempt(call: Callable[[], Any]) -> None:
        try:
            out.append(call())
        except Exception as exc:
            out.append((type(exc).__name__, str(exc)))

    ok, rid = o.createDataport(cik, {"format": "integer", "retention": INFINITE, "name": "n"})
    out.append((ok, rid))
    ok, text = o.createDataport(cik, {"format": "string", "retention": INFINITE})
    out.append((ok, text))
    out.append(o.map(cik, rid, "n"))
    out.append(o.map(cik, text, "étiquette"))
    out.append(o.map(cik, text, "étiquette"))  # taken
    out.append(o.write(cik, {"alias": "n"}, 7))
    out.append(o.write(cik, {"alias": "étiquette"}, "你好 ✓"))
    out.append(o.read(cik, {"alias": "n"}, {}))
    out.append(o.read(cik, {"alias": "étiquette"}, {}))
    out.append(o.recordbatch(cik, {"alias": "n"}, [[1421906170, 1], [1421906172, "nope"], [1421906173, 3]]))
    out.append(o.read(cik, rid, {"starttime": 1421906000, "endtime": 1421907000, "limit": 10, "sort": "asc"}))
    out.append(o.record(cik, rid, [[5, 5], [6, "x"]]))
    out.append(o.info(cik, rid, {"description": True, "basic": True, "storage": True}))
    out.append(o.info(cik, {"alias": ""}, {"aliases": True}))
    for listing in (
        o.listing(cik, ["client", "dataport"], {}, {"alias": ""}),
        o.listing(cik, ["dataport"], {"owned": True}),
    ):  # in no particular order
        out.append((listing[0], {k: frozenset(v) for k, v in listing[1].items()}))
    ok, lists = o.listing(cik, ["client", "dataport"])
    out.append((ok, [frozenset(rids) for rids in lists]))
    out.append(o.lookup(cik, "alias", "étiquette"))
    out.append(o.lookup(cik, "alias", "nothing"))
    out.append(o.write(cik, {"alias": "n"}, 8, defer=True))
    out.append(o.read(cik, {"alias": "n"}, {"limit": 2}, defer=True))
    out.append(o.recordbatch(cik, {"alias": "n"}, [[100, 1], [101, "bad"]], defer=True))
    out.append(o.flush(cik, {"alias": "n"}, {"newerthan": 99, "olderthan": 101}, defer=True))
    out.append(o.read(cik, {"alias": "n"}, {"starttime": 0, "endtime": 200, "limit": 5}, defer=True))
    out.append(o.has_deferred(cik))
    out.append(o.send_deferred(cik))
    out.append(o.has_deferred(cik))
    attempt(lambda: o.send_deferred(cik))
    out.append(o.update(cik, rid, {"name": "renamed"}))
    out.append(o.unmap(cik, "n"))
    out.append(o.drop(cik, rid))
    out.append(o.info(cik, rid))
    attempt(lambda: o.info("0" * 40, {"alias": ""}))
    attempt(lambda: o.read({"token": "t" * 40}, {"alias": "n"}, {}))
    return out


def normalized(value: Any, names: dict[str, str], now: float) -> Any:
    """RIDs become rid0, rid1... in order of appearance, and Unix times of the last minute "now"."""
    if isinstance(value, str) and len(value) == 40 and all(c in "0123456789abcdef" for c in value):
        return names.setdefault(value, f"rid{len(names)}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value - now) < 60:
        return "now"
    if isinstance(value, list | tuple | frozenset):
        return type(value)(normalized(v, names, now) for v in value)
    if isinstance(value, dict):
        return {normalized(k, names, now): normalized(v, names, now) for k, v in value.items()}
    return value


def test_same_results_as_fleetport_onep(pyonep: ModuleType, server: RunningServer) -> None:
    upstream_root, our_root = open_root(server), open_root(server)
    theirs = scenario(upstream_for(pyonep, server.url), upstream_root.cik)
    ours = scenario(client_for(server.url), our_root.cik)
    now = time.time()
    assert normalized(ours, {our_root.rid: "root"}, now) == normalized(
        theirs, {upstream_root.rid: "root"}, now
    )
    # and the results are what they should be, not only equal
    assert ours[0][0] is True and ours[2] == (True, "ok") and ours[4] == (False, "invalid")
    assert ours[8][0] is True and ours[8][1][0][1] == "你好 ✓"
    assert ours[9] == (False, [[1421906172, "invalid"]])
    assert ours[10] == (True, [[1421906170, 1], [1421906173, 3]])
    assert ours[11] == (False, "invalid")
    assert ours[19:25] == [True, True, True, True, True, True]
    batch = ours[25]
    assert [call["id"] for call, _, _ in batch] == [19, 20, 21, 22, 23]
    assert [call["procedure"] for call, _, _ in batch] == ["write", "read", "recordbatch", "flush", "read"]
    assert batch[0][1:] == (True, "ok") and batch[1][1] is True and batch[1][2][0][1] == 8
    assert [reply[1:] for reply in batch[2:]] == [(False, [[101, "invalid"]]), (True, "ok"), (True, [])]
    assert ours[26:28] == [False, ("JsonRPCRequestException", "No deferred requests to send.")]
    assert ours[-2] == ("OnePlatformException", "{'code': 401, 'message': 'Invalid', 'context': 'auth'}")


def test_upstream_exceptions_mirror_ours(pyonep: ModuleType) -> None:
    upstream = importlib.import_module("pyonep.exceptions")
    for name in (
        "OnePlatformException",
        "JsonRPCRequestException",
        "JsonRPCResponseException",
        "JsonStringException",
        "ProvisionException",
    ):
        assert issubclass(getattr(upstream, name), upstream.OneException)
        assert issubclass(getattr(fleetport.onep.exceptions, name), OneException)
    assert set(pyonep.__dict__) >= {"OnepV1", "DeferredRequests", "Provision"}


# -- the same bytes on the wire, through a capture server


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with capture_server() as running:
        yield running


CIK = "c0ffee00" * 5


def test_every_procedure_sends_the_same_bytes(pyonep: ModuleType, capture: CaptureServer) -> None:
    theirs, ours = upstream_for(pyonep, capture.url), client_for(capture.url)
    for method, args, _, _ in RPC_CALLS:
        for client in (theirs, ours):
            assert getattr(client, method)(CIK, *args) == (True, "ok")
        upstream_request, our_request = capture.requests[-2:]
        assert our_request.body == upstream_request.body, method
        for client in (theirs, ours):
            client.connect_as("a" * 40)
            assert getattr(client, method)(CIK, *args, defer=True) is True
            assert getattr(client, method)({"token": "t" * 40}, *args, defer=True) is True
            [(_, ok, result)] = client.send_deferred(CIK)
            assert (ok, result) == (True, "ok")
            client.send_deferred({"token": "t" * 40})
            client.connect_as(None)
        assert capture.requests[-4].body == capture.requests[-2].body, method
        assert capture.requests[-3].body == capture.requests[-1].body, method


def _wire(request: Captured) -> tuple[Any, ...]:
    return (
        request.method,
        request.target,
        request.body,
        request.header("X-Exosite-CIK"),
        request.header("X-Exosite-Token"),
        request.header("Content-Type"),
        request.header("Content-Length"),
    )


@pytest.mark.parametrize("manage_by_cik", [True, False])
def test_every_provision_method_sends_the_same_request(
    pyonep: ModuleType, capture: CaptureServer, manage_by_cik: bool
) -> None:
    theirs = pyonep.Provision("127.0.0.1", str(capture.port), manage_by_cik=manage_by_cik)
    ours = fleetport.onep.Provision("127.0.0.1", str(capture.port), manage_by_cik=manage_by_cik)
    for method, args, *_ in PROVISION_CALLS:
        upstream_answer = getattr(theirs, method)(*args)
        our_answer = getattr(ours, method)(*args)
        assert _wire(capture.requests[-1]) == _wire(capture.requests[-2]), method
        assert (our_answer.status(), our_answer.body, our_answer.isok) == (
            upstream_answer.status(),
            upstream_answer.body,
            upstream_answer.isok,
        )
