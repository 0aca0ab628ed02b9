"""Hostile input at the edge of every API: one real server on each database, driven side by side
so that what one database accepts can be compared with what the other does."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import ADMIN_KEY, RunningServer, serving

JSON_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}

# Text the databases could hold differently, or that stresses the wire: NUL, lone surrogates
# (valid JSON escapes, not Unicode), very long text, characters beyond the BMP, right-to-left
# marks and text, byte-order marks, control characters.
HOSTILE_TEXT_EXAMPLES = (
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\udbff\udc00",  # a surrogate pair written as two escapes: the one character U+10FC00
    "x" * 100_000,
    "\U0001d518\U0001d52b\U0001d526 \U0001f600",  # beyond the BMP
    "مرحبا\u202eabc\u202c",
    "\u200f\ufeff",
    "tab\there\nnew",
    "",
)
hostile_text = st.one_of(
    st.sampled_from(HOSTILE_TEXT_EXAMPLES),
    st.text(st.characters(exclude_categories=()), max_size=24),  # surrogates included
)
# Numbers where integers go: past either end of 64 bits, huge, negative, fractional, non-finite
# (as JSON floats), and the extremes that do fit.
HOSTILE_NUMBER_EXAMPLES = (2**63, -(2**63) - 1, 2**63 - 1, -(2**63), 10**30, -1, 0, 1.5, 1e300, 2**64)
hostile_number = st.one_of(
    st.sampled_from(HOSTILE_NUMBER_EXAMPLES),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)


def segment(v: str) -> str:
    """``v`` percent-encoded for a path segment or a query value (a lone surrogate as the bytes a
    lenient encoder writes; a pair of surrogates as the one character they make, as in JSON)."""
    paired = v.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return quote(paired.encode("utf-8", "surrogatepass"), safe="")


T = TypeVar("T", bound=Callable[..., Any])
FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def fuzz(argument: str, strategy: st.SearchStrategy[Any], always: Iterable[Any]) -> Callable[[T], T]:
    """A test run with ``argument`` drawn from ``strategy`` (a few examples: the servers are real),
    and with each of ``always``."""

    def decorate(test: T) -> T:
        run = given(**{argument: strategy})(test)
        for value in always:
            run = example(**{argument: value})(run)
        return FUZZ(run)  # type: ignore[no-any-return]

    return decorate


fuzz_text = fuzz("v", hostile_text, HOSTILE_TEXT_EXAMPLES[:6] + HOSTILE_TEXT_EXAMPLES[7:8])
fuzz_numbers = fuzz("n", hostile_number, HOSTILE_NUMBER_EXAMPLES)


def dumps(value: Any) -> bytes:
    """JSON as a client sends it: lone surrogates escaped, which is valid JSON."""
    return json.dumps(value).encode()


@dataclass
class Side:
    """One server and the resources made on it for the probes."""

    database: str
    server: RunningServer
    http: httpx.Client
    ids: dict[str, str] = field(default_factory=dict)

    def native(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        """One native API request as the administrator; asserts it was no fault and, if refused, was
        refused in the native error shape."""
        query = "&".join(f"{name}={segment(str(value))}" for name, value in params.items())
        answer = self.http.request(
            method,
            "/api/v1" + path + (f"?{query}" if query else ""),
            content=None if body is None else dumps(body),
            headers=JSON_HEADERS,
        )
        assert_no_fault(answer)
        if answer.status_code >= 400:
            error = answer.json()["error"]
            assert error["code"] and error["message"], answer.text
            assert error["request_id"] == answer.headers["x-request-id"]
        return answer

    def rpc(self, calls: list[dict[str, Any]], auth: dict[str, Any] | None = None) -> Any:
        """One One Platform envelope, as the organization's root client unless told otherwise."""
        envelope = {"auth": auth or {"cik": self.ids["cik"]}, "calls": calls}
        answer = self.http.post("/onep:v1/rpc/process", content=dumps(envelope), headers=JSON_HEADERS)
        assert answer.status_code == 200, answer.text
        replies = json.loads(answer.content)  # the stdlib reads back escaped surrogates too
        if isinstance(replies, list):
            for reply in replies:
                assert reply["status"] != "fail" or reply.get("error", {}).get("code") != 500, reply
        return replies


def assert_no_fault(answer: httpx.Response) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.text[:500])


@pytest.fixture(scope="package")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Side]]:
    """A server on SQLite and one on PostgreSQL, each with an organization, a location, a machine
    and its part, string and integer dataports and the organization's root client."""
    with contextlib.ExitStack() as stack:
        found = []
        for database in ("sqlite", "postgres"):
            server = stack.enter_context(serving(database, tmp_path_factory.mktemp(f"hostile-{database}")))
            http = stack.enter_context(httpx.Client(base_url=server.url, timeout=30))
            side = Side(database, server, http)
            _populate(side)
            found.append(side)
        yield found
        for side in found:  # nothing failed unexpectedly
            assert "Traceback" not in side.server.log_text(), side.server.log_text()[-5000:]


def _populate(side: Side) -> None:
    ids = side.ids
    ids["org"] = side.native("POST", "/organizations", {"name": "hostile"}).json()["id"]
    ids["location"] = side.native("POST", "/locations", {"organization_id": ids["org"], "name": "l"}).json()[
        "id"
    ]
    ids["machine"] = side.native("POST", "/machines", {"location_id": ids["location"], "name": "m"}).json()[
        "id"
    ]
    ids["part"] = side.native("GET", f"/machines/{ids['machine']}/parts").json()["items"][0]["id"]
    for alias, fmt in (("text", "string"), ("count", "integer")):
        side.native("POST", f"/machines/{ids['machine']}/dataports", {"alias": alias, "format": fmt})
    root = side.native("GET", f"/organizations/{ids['org']}/telemetry/root-client").json()
    ids["cik"], ids["rid"] = root["cik"], root["rid"]
    owner = [{"role": "owner", "resource_type": "organization", "resource_id": ids["org"]}]
    key = side.native("POST", f"/organizations/{ids['org']}/keys", {"name": "k", "authorizations": owner})
    ids["key_id"], ids["key"] = key.json()["id"], key.json()["secret"]


def same_on_both(sides: list[Side], outcome: Any) -> None:
    """``outcome(side)`` (status and what was read back) is the same on both databases."""
    results = [outcome(side) for side in sides]
    first, second = results
    if isinstance(first, dict) and isinstance(second, dict):
        differ = {
            k: (first.get(k), second.get(k)) for k in {*first, *second} if first.get(k) != second.get(k)
        }
        assert not differ, f"sqlite and postgres differ: {differ}"
    assert first == second, f"sqlite and postgres differ: {_short(first)} != {_short(second)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 400 else f"{text[:400]}... ({len(text)} characters)"
