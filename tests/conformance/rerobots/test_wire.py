"""The rerobots wire under hostile and concurrent requests: malformed and oversized bodies, wrong
types, NUL and lone surrogates, huge numbers, unknown paths, concurrent launches on one deployment
and forwarding ports running out; never a 500 (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conformance.rerobots.conftest import PUBLIC_KEY, World


def http(world: World, who: str = "owner") -> httpx.Client:
    headers = {"Authorization": f"Bearer {world.tokens[who]}"}
    return httpx.Client(base_url=world.server.url + "/rerobots", headers=headers, timeout=30)


def refused(response: httpx.Response, status: int, text: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert text in body["error_message"] and body["result_message"] == body["error_message"]


def test_hostile_requests_get_clear_errors(world: World) -> None:
    wd = world.deployment_id
    with http(world) as c:
        refused(c.post(f"/new/{wd}", content=b"{not json"), 400, "not valid JSON")
        refused(c.post(f"/new/{wd}", content=b"[1, 2]"), 400, "JSON object")
        refused(c.post(f"/new/{wd}", content=b'{"sshkey": 5}'), 400, "sshkey")
        refused(c.post(f"/new/{wd}", content=b'{"sshkey": "ssh-rsa \\u0000"}'), 400)
        refused(c.post(f"/new/{wd}", content=b'{"sshkey": "\\ud800"}'), 400)
        refused(c.post(f"/new/{wd}", content=b'{"expire_d": 1e400}'), 400)
        refused(c.post(f"/new/{wd}", content=b'{"expire_d": 99999999999999999999999}'), 400, "duration")
        refused(c.post(f"/new/{wd}", content=b'{"reserve": "yes"}'), 400, "reserve")
        refused(c.post(f"/new/{wd}", content=b'{"eurl": "file:///etc/passwd"}'), 400, "event URL")
        refused(c.post("/new/%00", content=b"{}"), 404)
        refused(c.post("/new/" + "x" * 3000, content=b"{}"), 404)
        refused(c.post(f"/new/{wd}", content=b"{" + b'"a": "' + b"x" * (70 << 10) + b'"}'), 413, "limit")
        refused(c.get("/deployments", params={"max_per_page": "-1"}), 400, "max_per_page")
        refused(c.get("/deployments", params={"max_per_page": "5000"}), 400)
        refused(c.get("/deployments", params={"max_per_page": "2", "page": "9" * 25}), 400, "page")
        refused(c.get("/deployments", params={"maxlen": "lots"}), 400, "maxlen")
        refused(c.get("/deployments", params={"types": "a b"}), 400)
        refused(c.get("/deployments", params={"q": "\x00"}), 400)
        refused(c.get("/instances", params={"page": "0", "max_per_page": "1"}), 400, "page")
        refused(c.get("/instance/\ud800".encode("utf-8", "surrogatepass").decode("latin-1")), 404)
        refused(c.post(f"/deployment/{wd}/rule", json={"cap": ["x"]}), 400)
        refused(c.post(f"/deployment/{wd}/rule", json={"cap": "CAP_INSTANTIATE", "user": "\x00"}), 400)
        refused(c.post("/revoke/" + "g" * 64), 400, "SHA-256")
        refused(c.post("/ci/new", json={"repo_url": 3}), 400)
        refused(c.get("/nowhere"), 404, "no rerobots endpoint")
        refused(c.delete("/workspaces"), 405)
        iid = c.post(
            f"/new/{wd}", content=b'{"reserve": false, "sshkey": "%s"}' % PUBLIC_KEY.encode()
        ).json()["id"]
        refused(c.post(f"/firewall/{iid}", content=b'{"action": "ACCEPT", "src": "10.0.0.0/99"}'), 400)
        refused(c.post(f"/firewall/{iid}", content=b'{"action": "LAUGH"}'), 400, "ACCEPT")
        refused(c.post(f"/firewall/{iid}", content=b'{"action": "DROP", "src": 7}'), 400)
        refused(c.post(f"/addon/teleport/{iid}"), 400, "unknown add-on")
        refused(c.post(f"/addon/drive/{iid}/tx", content=b"{"), 400)


def test_concurrent_launches_on_one_deployment_give_one_instance(world: World) -> None:
    def launch(_: int) -> int:
        with http(world) as c:
            return c.post(f"/new/{world.deployment_id}", content=b'{"reserve": false}').status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(launch, range(8)))
    assert sorted(statuses) == [200] + [503] * 7
    assert len(world.owner.get_instances()) == 1


def test_forwarding_ports_run_out_with_a_clear_error(world: World) -> None:
    """The server hands out ten ports (21000-21009)."""
    launched = []
    for _ in range(10):
        wd = world.deployment("rover")
        launched.append(world.owner.request_instance(wd, sshkey=PUBLIC_KEY)["id"])
    with http(world) as c:
        refused(c.post(f"/new/{world.deployment('rover')}", content=b"{}"), 409, "no forwarding port is free")
    for iid in launched:
        world.owner.terminate_instance(iid)


@pytest.mark.parametrize("who", ["operator", "ruled_in", "other"])
def test_others_do_not_reach_an_instance(world: World, who: str) -> None:
    iid = world.owner.request_instance(world.deployment_id, sshkey=PUBLIC_KEY)["id"]
    with http(world, who) as c:
        for response in (c.get(f"/instance/{iid}"), c.post(f"/terminate/{iid}"), c.get(f"/firewall/{iid}")):
            refused(response, 404, "instance not found")
    world.owner.terminate_instance(iid)
